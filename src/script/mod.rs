//! What the script functions do, independent of the proxy that hosts them.
//!
//! A host layer (OpenSIPS, the SER family) gives a [`Message`]: the bytes of the SIP message,
//! where it came from, its AVPs, a logger, and a way to turn byte edits into its own message
//! changes (lumps). Everything else — scanning, the relay conversation, the SDP rewrite, the NAT
//! tests — is here, once, for every host.
//!
//! One room per function: [`engage`](mod@engage) (`engage_media_proxy`), [`use_`] (`use_media_proxy` and
//! an engaged dialog's rewrites), [`end`] (`end_media_session`), [`nat`] (`client_nat_test`,
//! `fix_contact`); [`control`] is the control connection they share (and the management
//! commands), `asym` the asymmetric-client lists. Each function's body returns a
//! `Result<_, ScriptError>`; [`report`] is the one place that turns an error into its log line
//! and the documented return code.
//!
//! Return codes follow OpenSIPS: >0 true, <0 false; `use_media_proxy` returns 1 when the
//! message was changed (or had nothing to relay), -1 on error, -2 when there is no SDP.
//!
//! Names: `m` is the host's message ([`Message`]), `sip` the scan of its bytes
//! ([`crate::sip::SipMsg`]).

use std::fmt;
use std::net::IpAddr;

use crate::config::{Config, IceCandidate};
use crate::control::{MessageType, UpdateRequest};
use crate::sdp::IcePriority;
use crate::sip::{self, Kind};

mod asym;
pub mod control;
pub mod end;
pub mod engage;
mod error;
pub mod nat;
pub mod record;
pub mod use_;

pub(crate) use control::copy;
pub use control::{
    drain_relay, end_sessions_by_call_id, relay_command, remove_session, session_ended,
    set_client_stats, set_session_end_hook, update, ClientStats, SessionEndHook,
};
pub use end::end_media_session;
pub use engage::{can_engage, engage, Engage};
pub use error::{report, ScriptError};
pub use nat::{client_nat_test, fix_contact};
pub use record::{start_recording, stop_recording};
pub use use_::use_media_proxy;

/// One byte edit, from the SDP rewrite to the host's lumps: delete `delete` bytes at `offset`,
/// then insert `insert` there. Offsets are relative to the SDP body when [`crate::sdp`] plans
/// them and to the start of the message buffer once handed to [`Message::apply`]; edits are
/// ordered and non-overlapping.
pub use crate::sdp::Edit;

/// Log levels a host maps onto its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Err,
    Warn,
    Notice,
    Info,
    Dbg,
}

pub trait Logger {
    fn log(&self, level: Level, func: &str, args: fmt::Arguments<'_>);
}

/// The AVPs named by `signaling_ip_avp`, `media_relay_avp`, `ice_candidate_avp`,
/// `caller_interface_avp`, `callee_interface_avp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Avp {
    SignalingIp,
    MediaRelay,
    IceCandidate,
    CallerInterface,
    CalleeInterface,
}

/// The message a host is processing.
pub trait Message: Logger {
    /// The message as received.
    fn buf(&self) -> &[u8];
    /// Where the packet came from.
    fn source(&self) -> Option<(IpAddr, u16)>;
    /// Why this message must not be changed (a transaction's stored copy), if so.
    fn frozen(&self) -> Option<&'static str>;
    /// The SDP of this message was rewritten already (by us or another module).
    fn sdp_rewritten(&self) -> bool;
    fn mark_sdp_rewritten(&mut self);
    /// The script changed the SDP by other means that make byte edits meaningless.
    fn foreign_sdp_changes(&self) -> bool;
    /// Makes the message ready for edits (e.g. parses every header). False on failure.
    fn prepare_edits(&mut self) -> bool;
    /// Applies edits whose offsets are relative to the start of the message buffer.
    fn apply(&mut self, edits: &[Edit]) -> Result<(), String>;
    /// Replaces the first Contact's URI (one edit) and, where the host keeps a parsed copy of
    /// the Contact that other modules read (OpenSIPS's dialog module takes each leg's contact
    /// from it), points that copy at the new URI too.
    fn replace_contact_uri(&mut self, edit: &Edit) -> Result<(), String> {
        self.apply(std::slice::from_ref(edit))
    }
    fn avp(&self, which: Avp) -> Option<String>;
}

/// What an engaged dialog adds to a message: its id and the ICE choice made on the INVITE.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    pub dialog_id: Option<String>,
    pub ice: Option<IceCandidate>,
}

fn text(b: Option<&[u8]>) -> String {
    b.map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// The URI as the C module sends it: a leading `sip:` removed (case-insensitive), cut at `;`.
fn short_uri(uri: Option<&[u8]>) -> String {
    let Some(u) = uri else {
        return "unknown".to_string();
    };
    let u = if u.len() >= 4 && u[..4].eq_ignore_ascii_case(b"sip:") {
        &u[4..]
    } else {
        u
    };
    let end = u.iter().position(|&c| c == b';').unwrap_or(u.len());
    String::from_utf8_lossy(&u[..end]).into_owned()
}

pub(crate) fn ice_priority(c: IceCandidate) -> IcePriority {
    match c {
        IceCandidate::None => IcePriority::None,
        IceCandidate::LowPriority => IcePriority::Low,
        IceCandidate::HighPriority => IcePriority::High,
    }
}

/// The ICE choice for a message: `ice_candidate_avp` when set and valid, else the modparam.
pub fn ice_choice(m: &dyn Message, cfg: &Config) -> IceCandidate {
    match m.avp(Avp::IceCandidate) {
        Some(v) => IceCandidate::parse(&v).unwrap_or_else(|| {
            m.log(
                Level::Warn,
                "use_media_proxy",
                format_args!(
                    "ignoring ice_candidate_avp value {v:?} (none, low-priority, high-priority)"
                ),
            );
            cfg.ice_candidate
        }),
        None => cfg.ice_candidate,
    }
}

/// Request or reply, and a reply's status (0 for a request).
fn kind_of(sip: &sip::SipMsg<'_>) -> (MessageType, u16) {
    match sip.kind() {
        Kind::Request { .. } => (MessageType::Request, 0),
        Kind::Reply { status, .. } => (MessageType::Reply, status),
    }
}

/// The `update` a message asks for, its streams still empty: kind, tags, CSeq, URIs, user
/// agent and signalling address read from the message as the C module does.
pub(crate) fn update_request(
    m: &dyn Message,
    cfg: &Config,
    sip: &sip::SipMsg<'_>,
    ctx: &Ctx,
) -> UpdateRequest {
    let (kind, status) = kind_of(sip);
    let ua = sip.user_agent();
    UpdateRequest {
        kind,
        dialog_id: ctx.dialog_id.clone().unwrap_or_default(),
        call_id: text(sip.call_id()),
        cseq: sip.cseq().map(|(n, _)| n).unwrap_or(0),
        from_uri: short_uri(sip.from_uri()),
        to_uri: short_uri(sip.to_uri()),
        from_tag: text(sip.from_tag()),
        // the C module sends no To tag for provisional replies
        to_tag: if kind == MessageType::Reply && status < 200 {
            String::new()
        } else {
            text(sip.to_tag())
        },
        user_agent: ua
            .map(|u| String::from_utf8_lossy(u).trim().to_string())
            .unwrap_or_else(|| "unknown agent".to_string()),
        signaling_ip: m
            .avp(Avp::SignalingIp)
            .or_else(|| m.source().map(|(ip, _)| ip.to_string()))
            .unwrap_or_default(),
        media_relay: m.avp(Avp::MediaRelay).unwrap_or_default(),
        media: Vec::new(),
        asymmetric: asym::rtp_asymmetric(m, cfg, ua),
        interfaces: [Avp::CallerInterface, Avp::CalleeInterface]
            .map(|a| m.avp(a).unwrap_or_default()),
    }
}
