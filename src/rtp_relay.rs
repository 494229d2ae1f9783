//! The `mediaproxy` engine of OpenSIPS's `rtp_relay` framework, independent of the host: what
//! an offer, an answer and a delete ask of the relay, and how the SDP changes.
//!
//! The framework keeps, per relay session (one per forked branch), a *node* string that the
//! engine fills and gets back with every later request of the call. This engine writes
//! `<label>/<tag>` there:
//! - `label` names the relay session within the call: `mediaproxy` for branch 0,
//!   `mediaproxy-b<N>` for branch N, or whatever an operator gave `rtp_relay:update` as
//!   `new_node` (a fresh relay session: new ports on both sides). The relay's Call-ID is the
//!   call's for `mediaproxy`, else `<Call-ID>;<label>`, so branches and re-anchored sessions
//!   never share ports;
//! - `tag` is the From tag the relay keyed the session with (the first update's), so a delete
//!   reaches the session even when the framework knows no tag (it ends calls from dialog
//!   callbacks without a message).
//!
//! Tags, kind and CSeq come from the SIP message when the framework hands one of the call it
//! names (the same request `use_media_proxy` sends), from the framework's tags otherwise (the
//! core's dummy message for `rtp_relay:update`, a B2BUA's messages, which belong to one of its
//! two calls): the offer as a request from the offerer, the answer as its reply.
//!
//! Flags honoured (see `doc/mediaproxy.md`): `ip` (the address written into the SDP instead of
//! the relay's), `iface` (an IP literal: the same, when `ip` is unset; a name: the relay
//! interface facing that party, as `caller_interface_avp`/`callee_interface_avp`), the words
//! `asymmetric` and `ice-candidate=none|low-priority|high-priority` in the flags; `disabled`
//! and `delete` are the framework's own.

use crate::config::{Config, IceCandidate};
use crate::control::{MessageType, UpdateRequest};
pub use crate::rtp_relay_flags::Flags;
use crate::rtp_relay_flags::{placement, Placement};
use crate::script::{self, Ctx, Level, Logger, Message};
use crate::sdp::{self, RewriteOptions};
use crate::sip;

/// The engine's name in `rtp_relay_engage("mediaproxy")`.
pub const ENGINE: &str = "mediaproxy";
/// The label of branch 0's relay session.
const DEFAULT_LABEL: &str = "mediaproxy";
const FN: &str = "rtp_relay";

thread_local! {
    /// The message this process last rewrote an SDP of (see [`Call::msg_key`]).
    static LAST_REWRITE: std::cell::Cell<Option<(usize, u32)>> =
        const { std::cell::Cell::new(None) };
}

/// Offer or answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Offer,
    Answer,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Offer => "offer",
            Op::Answer => "answer",
        }
    }
}

/// Where the SDP to relay is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// The message's own SDP, to be found in it.
    Find,
    /// The message's SDP (or SDP part) at `offset`, `len` bytes.
    At { offset: usize, len: usize },
    /// An SDP that is not in the message (a B2B body, a dialog's stored SDP).
    Given(&'a [u8]),
}

/// Where the rewritten SDP goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Into the message, as byte edits (the host turns them into its changes).
    Message,
    /// Returned as new bytes (the framework puts them where it wants).
    Bytes,
}

/// One offer or answer as the framework asks it.
#[derive(Clone, Debug)]
pub struct Call<'a> {
    pub op: Op,
    /// The framework's Call-ID (`$rtp_relay_ctx(callid)` or the dialog's).
    pub call_id: Option<&'a [u8]>,
    pub from_tag: Option<&'a [u8]>,
    pub to_tag: Option<&'a [u8]>,
    pub branch: i32,
    /// What the engine stored for this session before, if anything.
    pub node: Option<&'a [u8]>,
    /// False for the core's dummy message (no SIP message behind the request).
    pub real_msg: bool,
    pub body: Body<'a>,
    pub output: Output,
    pub flags: Flags,
    /// Which message this is (the host's address and number of it): tm forwards each branch
    /// of a request from the same message and drops the changes made for a branch once it
    /// is sent, and the framework offers each branch, so an earlier rewrite of ours of the
    /// same message does not count as "already rewritten" (another module's or the script's
    /// does).
    pub msg_key: Option<(usize, u32)>,
}

/// What an offer or answer produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Done {
    /// The node to store, when it differs from the one the framework has.
    pub node: Option<String>,
    /// The new SDP, for [`Output::Bytes`].
    pub body: Option<Vec<u8>>,
}

/// A node split into its label and the relay's session tag (empty when not learnt yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub label: String,
    pub tag: String,
}

impl Node {
    /// Reads a stored node; `None` for no node at all. A label must be a SIP token without
    /// `/` (so that it can extend a Call-ID).
    pub fn parse(node: Option<&[u8]>) -> Result<Option<Node>, String> {
        let Some(raw) = node.filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        let text = std::str::from_utf8(raw).map_err(|_| "the node is not UTF-8".to_string())?;
        let (label, tag) = text.split_once('/').unwrap_or((text, ""));
        let token = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
        };
        if label.is_empty() || label.len() > 64 || !token(label) || !token(tag) {
            return Err(format!(
                "node {text:?} is not <label>[/<tag>] with a label of at most 64 token characters"
            ));
        }
        Ok(Some(Node {
            label: label.to_string(),
            tag: tag.to_string(),
        }))
    }

    /// The label a branch's first offer gets.
    pub fn for_branch(branch: i32) -> Node {
        let label = if branch > 0 {
            format!("{DEFAULT_LABEL}-b{branch}")
        } else {
            DEFAULT_LABEL.to_string()
        };
        Node {
            label,
            tag: String::new(),
        }
    }

    /// The Call-ID the relay knows this session by.
    pub fn relay_call_id(&self, call_id: &str) -> String {
        if self.label == DEFAULT_LABEL {
            call_id.to_string()
        } else {
            format!("{call_id};{}", self.label)
        }
    }

    pub fn text(&self) -> String {
        format!("{}/{}", self.label, self.tag)
    }
}

fn text(b: Option<&[u8]>) -> String {
    b.map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// The words this engine knows: `asymmetric`, `ice-candidate=<choice>`; others are logged and
/// ignored (flags written for another engine).
fn apply_words(
    log: &dyn Logger,
    words: &[String],
    req: &mut UpdateRequest,
    ice: &mut IceCandidate,
) {
    for w in words.iter().flat_map(|w| w.split_whitespace()) {
        if w.eq_ignore_ascii_case("asymmetric") {
            req.asymmetric = true;
        } else if let Some(v) = w.strip_prefix("ice-candidate=") {
            match IceCandidate::parse(v) {
                Some(c) => *ice = c,
                None => log.log(
                    Level::Warn,
                    FN,
                    format_args!("ignoring {w:?} (none, low-priority, high-priority)"),
                ),
            }
        } else {
            log.log(Level::Dbg, FN, format_args!("ignoring flag {w:?}"));
        }
    }
}

macro_rules! bail {
    ($log:expr, $($arg:tt)*) => {{
        $log.log(Level::Err, FN, format_args!($($arg)*));
        return Err(-1);
    }};
}

/// An offer or an answer: asks the relay, rewrites the SDP into the message or into new
/// bytes. `Err` carries the framework's return code (-1).
pub fn offer_answer(m: &mut dyn Message, cfg: &Config, call: &Call<'_>) -> Result<Done, i32> {
    if cfg.disable {
        bail!(m, "{}: the module is disabled (disable=1)", call.op.name());
    }
    let node = match Node::parse(call.node) {
        Ok(n) => n,
        Err(e) => bail!(m, "{}: {e}", call.op.name()),
    };
    let stored = node.is_some();
    let mut node = node.unwrap_or_else(|| Node::for_branch(call.branch));
    let Placement {
        advertise,
        names: iface_names,
    } = match placement(&call.flags) {
        Ok(p) => p,
        Err(e) => bail!(m, "{}: {e}", call.op.name()),
    };
    if call.output == Output::Message {
        if let Some(why) = m.frozen() {
            bail!(m, "cannot change this message: {why}");
        }
        let ours = LAST_REWRITE.with(|l| l.get().is_some_and(|k| Some(k) == call.msg_key));
        if m.sdp_rewritten() && !ours {
            bail!(
                m,
                "the SDP of this message was already rewritten; not again"
            );
        }
        if !m.prepare_edits() {
            bail!(m, "cannot parse the message headers");
        }
    }

    // the request: from the message when there is one, else from the framework's tags
    let mut req;
    let (body_off, body): (Option<usize>, Vec<u8>);
    {
        let buf = m.buf();
        let scanned = if call.real_msg {
            match sip::SipMsg::scan(buf) {
                Ok(s) => Some(s),
                Err(e) => bail!(m, "malformed SIP message: {e}"),
            }
        } else {
            None
        };
        // the message's own view when it belongs to the call the framework names (a proxied
        // call); the framework's otherwise (the core's dummy message, a B2BUA's own messages,
        // which belong to one of its two calls)
        let own = scanned.as_ref().filter(|msg| {
            call.call_id
                .filter(|c| !c.is_empty())
                .map_or(true, |c| msg.call_id() == Some(c))
        });
        let from_message = own.is_some();
        req = match own {
            Some(msg) => script::update_request(&*m, cfg, msg, &Ctx::default()),
            None => framework_request(&*m, call),
        };
        let call_id = match call.call_id.filter(|c| !c.is_empty()) {
            Some(c) => text(Some(c)),
            None => req.call_id.clone(),
        };
        if call_id.is_empty() {
            bail!(m, "{}: no Call-ID", call.op.name());
        }
        req.call_id = node.relay_call_id(&call_id);
        // the relay's parties: the sender of a request is its caller
        let sender = usize::from(req.kind != MessageType::Request);
        for (who, name) in [(sender, &iface_names[0]), (1 - sender, &iface_names[1])] {
            if let Some(n) = name {
                req.interfaces[who] = n.clone();
            }
        }
        // a proxied call's session under its own Call-ID: when its media times out, the
        // relay's report ends the dialog of that Call-ID (as for engage_media_proxy()); the
        // rtp_relay module then deletes the session, which the relay answers from its record
        // of it. (A B2BUA's calls have no dialog; the relay keeps a dialog id once given.)
        req.dialog_id = if from_message && req.call_id == call_id {
            ENGINE.to_string()
        } else {
            String::new()
        };
        let found = match call.body {
            Body::Given(b) => (None, b.to_vec()),
            Body::At { offset, len } => match buf.get(offset..offset.saturating_add(len)) {
                Some(b) => (Some(offset), b.to_vec()),
                None => bail!(m, "the SDP lies outside the message"),
            },
            Body::Find => match scanned.as_ref().and_then(|s| s.sdp_body()) {
                Some((o, b)) => (Some(o), b.to_vec()),
                None => bail!(m, "{}: no SDP (Call-ID {call_id})", call.op.name()),
            },
        };
        (body_off, body) = found;
    }
    if call.output == Output::Message && body_off.is_none() {
        bail!(
            m,
            "{}: the SDP to change is not in the message",
            call.op.name()
        );
    }
    if call.output == Output::Message && m.foreign_sdp_changes() {
        bail!(
            m,
            "the script changed this SDP with the core's SDP operations; cannot rewrite it"
        );
    }
    let parsed = match sdp::Sdp::parse(&body) {
        Ok(p) => p,
        Err(e) => bail!(m, "malformed SDP (Call-ID {}): {e}", req.call_id),
    };
    let sdp = parsed.sdp;
    req.media = sdp.relay_streams();
    let mut ice = script::ice_choice(&*m, cfg);
    apply_words(&*m, &call.flags.words, &mut req, &mut ice);
    if req.media.is_empty() {
        m.log(
            Level::Dbg,
            FN,
            format_args!(
                "{}: no stream to relay (Call-ID {})",
                call.op.name(),
                req.call_id
            ),
        );
        return Ok(Done {
            node: (!stored).then(|| node.text()),
            body: (call.output == Output::Bytes).then_some(body),
        });
    }
    if node.tag.is_empty() {
        // the relay keys a new session with this From tag
        node.tag = req.from_tag.clone();
    }
    let mut answer = match script::update(cfg, &req) {
        Ok(a) => a,
        Err(e) => bail!(
            m,
            "{}: relay: {e} (Call-ID {})",
            call.op.name(),
            req.call_id
        ),
    };
    if let Some(ip) = advertise {
        answer.ip = ip;
    }
    let opts = RewriteOptions {
        ice_candidate: script::ice_priority(ice),
    };
    let mut edits = match sdp.plan(&answer, &opts) {
        Ok(e) => e,
        Err(e) => bail!(m, "cannot rewrite the SDP (Call-ID {}): {e}", req.call_id),
    };
    let new_node = node.text();
    let node_out = (call.node != Some(new_node.as_bytes())).then_some(new_node);
    match call.output {
        Output::Bytes => Ok(Done {
            node: node_out,
            body: Some(sdp::apply(&body, &edits)),
        }),
        Output::Message => {
            let off = body_off.unwrap_or(0);
            // the plan's offsets are the body's; the message wants its own
            for e in &mut edits {
                e.offset += off;
            }
            if !edits.is_empty() {
                if let Err(e) = m.apply(&edits) {
                    bail!(
                        m,
                        "cannot change the message, left as it was (Call-ID {}): {e}",
                        req.call_id
                    );
                }
                m.mark_sdp_rewritten();
                if let Some(k) = call.msg_key {
                    LAST_REWRITE.with(|l| l.set(Some(k)));
                }
            }
            Ok(Done {
                node: node_out,
                body: None,
            })
        }
    }
}

/// An `update` from the framework's view: its tags are those of the offer's transaction (From
/// the offerer, To its peer, for the answer too), so an offer goes as a request and an answer
/// as its reply. An answer is matched by the relay's state (CSeq 0). An offer in a message of
/// its own (a B2BUA's) outranks what came before it (its CSeq is the time, seconds); one with
/// the core's dummy message (`rtp_relay:update`) has CSeq 0: it opens a new session, and the
/// call's own messages, whose CSeqs follow, go on after it.
fn framework_request(m: &dyn Message, call: &Call<'_>) -> UpdateRequest {
    UpdateRequest {
        kind: match call.op {
            Op::Offer => MessageType::Request,
            Op::Answer => MessageType::Reply,
        },
        dialog_id: String::new(),
        call_id: String::new(),
        cseq: match call.op {
            Op::Offer if call.real_msg => unix_seconds(),
            _ => 0,
        },
        from_uri: "unknown".into(),
        to_uri: "unknown".into(),
        from_tag: text(call.from_tag),
        to_tag: text(call.to_tag),
        user_agent: "unknown agent".into(),
        signaling_ip: m
            .source()
            .map(|(ip, _)| ip)
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        media_relay: String::new(),
        media: Vec::new(),
        asymmetric: false,
        interfaces: Default::default(),
    }
}

fn unix_seconds() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

/// A delete: ends the relay session the node names. The Call-ID is the framework's, else that
/// of the message the delete comes with (`msg`: a failed branch's reply, before the framework
/// knows the call's). 1 on success (also when the relay had already ended it), -1 otherwise.
pub fn delete(
    log: &dyn Logger,
    cfg: &Config,
    call_id: Option<&[u8]>,
    node: Option<&[u8]>,
    msg: Option<&[u8]>,
) -> i32 {
    if cfg.disable {
        return -1;
    }
    let node = match Node::parse(node) {
        Ok(Some(n)) => n,
        Ok(None) => {
            // nothing was ever offered on this session
            log.log(Level::Dbg, FN, format_args!("delete: no relay session"));
            return 1;
        }
        Err(e) => {
            log.log(Level::Err, FN, format_args!("delete: {e}"));
            return -1;
        }
    };
    let scanned = msg.and_then(|b| sip::SipMsg::scan(b).ok());
    let call_id = call_id
        .filter(|c| !c.is_empty())
        .or_else(|| scanned.as_ref().and_then(|m| m.call_id()));
    let Some(call_id) = call_id else {
        log.log(Level::Err, FN, format_args!("delete: no Call-ID"));
        return -1;
    };
    let relay_call_id = node.relay_call_id(&text(Some(call_id)));
    script::remove_session(log, cfg, &relay_call_id, &node.tag, "", "rtp_relay")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_round_trip_and_name_the_relay_session() {
        assert_eq!(Node::parse(None).unwrap(), None);
        assert_eq!(Node::parse(Some(b"")).unwrap(), None);
        let n = Node::parse(Some(b"mediaproxy/abc.1")).unwrap().unwrap();
        assert_eq!((n.label.as_str(), n.tag.as_str()), ("mediaproxy", "abc.1"));
        assert_eq!(n.relay_call_id("c1@h"), "c1@h");
        let b = Node::for_branch(2);
        assert_eq!(b.text(), "mediaproxy-b2/");
        assert_eq!(b.relay_call_id("c1@h"), "c1@h;mediaproxy-b2");
        assert_eq!(Node::for_branch(0).label, "mediaproxy");
        assert_eq!(Node::for_branch(-1).label, "mediaproxy");
        // an operator's new node for rtp_relay:update: a label alone
        let u = Node::parse(Some(b"fresh")).unwrap().unwrap();
        assert_eq!((u.label.as_str(), u.tag.as_str()), ("fresh", ""));
        assert_eq!(u.relay_call_id("c"), "c;fresh");
        for bad in [&b"a b"[..], b"/t", b"a;b/t", b"a/t;x", &[0xff, 0x41]] {
            assert!(Node::parse(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(Node::parse(Some("x".repeat(65).as_bytes())).is_err());
    }
}
