//! `use_media_proxy()` and an engaged dialog's rewrites: ask the relay, rewrite the SDP.
//!
//! The message is scanned once ([`Scanned::of`]); what the rest needs of the scan is kept as
//! owned facts, so `engage_media_proxy()` can scan, engage the dialog (which changes the host
//! message) and then relay with the same scan.

use std::ops::Range;

use super::control::update;
use super::{ice_choice, ice_priority, kind_of, report, update_request, Ctx, Edit};
use super::{Message, ScriptError};
use crate::config::Config;
use crate::control::{MessageType, UpdateRequest};
use crate::sdp::{self, RewriteOptions};
use crate::sip::{self, Method};

const FN: &str = "use_media_proxy";

/// What the script functions read from one scan of a message.
pub struct Scanned {
    /// The message has a Call-ID (the relay needs one).
    pub has_call_id: bool,
    /// The `update` this message asks for, streams still empty (its dialog id from the
    /// context given to [`Scanned::of`]).
    pub req: UpdateRequest,
    pub kind: MessageType,
    /// A reply's status, 0 for a request.
    pub status: u16,
    /// The CSeq method is INVITE.
    pub invite: bool,
    /// Where the SDP body lies in the message buffer.
    pub body: Option<Range<usize>>,
}

impl Scanned {
    /// Scans the message's bytes.
    pub fn of(m: &dyn Message, cfg: &Config, ctx: &Ctx) -> Result<Scanned, ScriptError> {
        Scanned::scan(m, cfg, ctx, false)
    }

    /// Scans the message's bytes, refusing anything but an initial INVITE before reading
    /// more of it (AVPs, the asymmetric list) than that takes.
    pub fn of_initial_invite(m: &dyn Message, cfg: &Config) -> Result<Scanned, ScriptError> {
        Scanned::scan(m, cfg, &Ctx::default(), true)
    }

    fn scan(
        m: &dyn Message,
        cfg: &Config,
        ctx: &Ctx,
        initial_invite_only: bool,
    ) -> Result<Scanned, ScriptError> {
        let sip = sip::SipMsg::scan(m.buf()).map_err(ScriptError::Malformed)?;
        let initial_invite = sip.method() == Some(Method::Invite) && sip.to_tag().is_none();
        if initial_invite_only && !initial_invite {
            return Err(ScriptError::NotInitialInvite);
        }
        let (kind, status) = kind_of(&sip);
        Ok(Scanned {
            has_call_id: sip.call_id().is_some(),
            req: update_request(m, cfg, &sip, ctx),
            kind,
            status,
            invite: sip
                .cseq()
                .is_some_and(|(_, meth)| meth.eq_ignore_ascii_case(b"INVITE")),
            body: sip.sdp_body().map(|(off, body)| off..off + body.len()),
        })
    }
}

/// `use_media_proxy()`: ask the relay, rewrite the SDP. 1 when the message was changed or had
/// nothing to relay, -2 without SDP, -1 otherwise.
pub fn use_media_proxy(m: &mut dyn Message, cfg: &Config, ctx: &Ctx) -> i32 {
    let r = check(m, cfg).and_then(|()| {
        let scanned = Scanned::of(&*m, cfg, ctx)?;
        relay(m, cfg, ctx, scanned)
    });
    report(&*m, FN, r)
}

/// What refuses a message before it is scanned.
pub(super) fn check(m: &mut dyn Message, cfg: &Config) -> Result<(), ScriptError> {
    if cfg.disable {
        return Err(ScriptError::Disabled);
    }
    if let Some(why) = m.frozen() {
        return Err(ScriptError::Frozen(why));
    }
    if m.sdp_rewritten() {
        return Err(ScriptError::AlreadyRewritten);
    }
    if !m.prepare_edits() {
        return Err(ScriptError::Headers);
    }
    Ok(())
}

/// After [`check`]: asks the relay for the scanned message and applies the rewrite.
pub(super) fn relay(
    m: &mut dyn Message,
    cfg: &Config,
    ctx: &Ctx,
    scanned: Scanned,
) -> Result<i32, ScriptError> {
    if !scanned.has_call_id {
        return Err(ScriptError::NoCallId);
    }
    let call_id = scanned.req.call_id.clone();
    let edits = plan(&*m, cfg, ctx, scanned)?;
    if edits.is_empty() {
        return Ok(1);
    }
    m.apply(&edits)
        .map_err(|error| ScriptError::Apply { call_id, error })?;
    m.mark_sdp_rewritten();
    Ok(1)
}

/// Everything up to the edits: ask the relay, plan. The edits' offsets are the message's.
fn plan(
    m: &dyn Message,
    cfg: &Config,
    ctx: &Ctx,
    scanned: Scanned,
) -> Result<Vec<Edit>, ScriptError> {
    let Scanned {
        mut req,
        kind,
        status,
        invite,
        body,
        ..
    } = scanned;
    if body.is_some() && m.foreign_sdp_changes() {
        return Err(ScriptError::ForeignSdp);
    }
    let relay_error = |call_id: &str, error| ScriptError::Relay {
        call_id: call_id.to_string(),
        error,
    };
    let Some(range) = body else {
        // a 200 OK to an INVITE without SDP still tells the relay the call was answered
        if kind == MessageType::Reply && status == 200 && invite {
            update(cfg, &req).map_err(|e| relay_error(&req.call_id, e))?;
            return Ok(Vec::new());
        }
        return Err(ScriptError::NoSdp);
    };
    let body_off = range.start;
    let body = m.buf().get(range).unwrap_or_default();
    let parsed = sdp::Sdp::parse(body).map_err(|error| ScriptError::BadSdp {
        call_id: req.call_id.clone(),
        error,
    })?;
    let sdp = parsed.sdp;
    if kind == MessageType::Request && sdp.has_remote_candidates() {
        // an ICE re-offer naming the selected candidates is left as it is (as the original),
        // and so is its answer (see `ice_reoffer`)
        crate::ice_reoffer::table().remember(&req.call_id, req.cseq);
        return Err(ScriptError::IceReoffer { answer: false });
    }
    if kind == MessageType::Reply && crate::ice_reoffer::table().take(&req.call_id, req.cseq) {
        return Err(ScriptError::IceReoffer { answer: true });
    }
    req.media = sdp.relay_streams();
    if req.media.is_empty() {
        return Ok(Vec::new());
    }
    let answer = update(cfg, &req).map_err(|e| relay_error(&req.call_id, e))?;
    let ice = ctx.ice.unwrap_or_else(|| ice_choice(m, cfg));
    let opts = RewriteOptions {
        ice_candidate: ice_priority(ice),
    };
    let mut edits = sdp
        .plan(&answer, &opts)
        .map_err(|error| ScriptError::Rewrite {
            call_id: req.call_id.clone(),
            error,
        })?;
    for e in &mut edits {
        e.offset += body_off;
    }
    Ok(edits)
}
