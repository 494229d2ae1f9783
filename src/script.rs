//! What the script functions do, independent of the proxy that hosts them.
//!
//! A host layer (OpenSIPS, the SER family) gives a [`Message`]: the bytes of the SIP message,
//! where it came from, its AVPs, a logger, and a way to turn byte edits into its own message
//! changes (lumps). Everything else — scanning, the relay conversation, the SDP rewrite, the NAT
//! tests — is here, once, for every host.
//!
//! Return codes follow OpenSIPS: >0 true, <0 false; `use_media_proxy` returns 1 when the
//! message was changed (or had nothing to relay), -1 on error, -2 when there is no SDP.

use std::cell::RefCell;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::config::{Config, IceCandidate};
use crate::control::client::{Client, ClientConfig, ClientError};
use crate::control::{MessageType, UpdateRequest};
use crate::nat::asymmetric::{AsymmetricList, Reload};
use crate::nat::{self, NatView};
use crate::sdp::{self, IcePriority, RewriteOptions};
use crate::sip::{self, Kind, Method};

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

/// The AVPs named by `signaling_ip_avp`, `media_relay_avp`, `ice_candidate_avp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Avp {
    SignalingIp,
    MediaRelay,
    IceCandidate,
}

/// One byte edit relative to the start of the message buffer: delete `delete` bytes at
/// `offset`, then insert `insert` there. Edits are handed over ordered and non-overlapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufEdit<'a> {
    pub offset: usize,
    pub delete: usize,
    pub insert: &'a [u8],
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
    fn apply(&mut self, edits: &[BufEdit<'_>]) -> Result<(), String>;
    /// Replaces the first Contact's URI (one edit) and, where the host keeps a parsed copy of
    /// the Contact that other modules read (OpenSIPS's dialog module takes each leg's contact
    /// from it), points that copy at the new URI too.
    fn replace_contact_uri(&mut self, edit: &BufEdit<'_>) -> Result<(), String> {
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

/// Control-connection counters, shared by every process when the host places them in shared
/// memory ([`set_client_stats`]).
#[repr(C)]
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub timeouts: AtomicU64,
    /// Keep-alives sent by `natping_interval`.
    pub natpings: AtomicU64,
}

static CLIENT_STATS: once_cell::sync::OnceCell<&'static ClientStats> =
    once_cell::sync::OnceCell::new();

/// Where to count control requests (set once by the host before it forks).
pub fn set_client_stats(s: &'static ClientStats) {
    let _ = CLIENT_STATS.set(s);
}

fn count<T>(r: &Result<T, ClientError>) {
    let Some(s) = CLIENT_STATS.get() else { return };
    s.requests.fetch_add(1, Ordering::Relaxed);
    match r {
        Ok(_) => {}
        Err(ClientError::Timeout) => {
            s.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {
            s.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Per-process state: the lazily opened control connection and the asymmetric-client lists.
struct ProcState {
    client: Option<Client>,
    sip_asym: Option<AsymmetricList>,
    rtp_asym: Option<AsymmetricList>,
}

thread_local! {
    static STATE: RefCell<ProcState> = const {
        RefCell::new(ProcState { client: None, sip_asym: None, rtp_asym: None })
    };
}

fn with_client<R>(cfg: &Config, f: impl FnOnce(&mut Client) -> R) -> R {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        // one connection per process; settings that differ from the connection's (only
        // tests change them within a process) get a new one
        let stale = s.client.as_ref().is_some_and(|c| {
            c.config().socket != cfg.mediaproxy_socket
                || c.config().timeout != cfg.mediaproxy_timeout
        });
        if stale {
            s.client = None;
        }
        let client = s.client.get_or_insert_with(|| {
            Client::new(ClientConfig {
                socket: cfg.mediaproxy_socket.clone(),
                timeout: cfg.mediaproxy_timeout,
                ..ClientConfig::default()
            })
        });
        f(client)
    })
}

pub(crate) fn update(
    cfg: &Config,
    req: &UpdateRequest,
) -> Result<crate::media::RelayAnswer, ClientError> {
    let r = with_client(cfg, |c| c.update(req));
    count(&r);
    r
}

/// Sends a `copy` (media copies, our relay only).
pub(crate) fn copy(
    cfg: &Config,
    req: &crate::control::copy::CopyRequest,
) -> Result<Option<crate::media::RelayAnswer>, ClientError> {
    let r = with_client(cfg, |c| c.copy(req));
    count(&r);
    r
}

fn list_matches(
    log: &dyn Logger,
    which: &'static str,
    slot: impl Fn(&mut ProcState) -> &mut Option<AsymmetricList>,
    path: Option<&Path>,
    ua: Option<&[u8]>,
) -> bool {
    let (Some(path), Some(ua)) = (path, ua) else {
        return false;
    };
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let list = slot(&mut s).get_or_insert_with(|| AsymmetricList::new(path));
        match list.refresh(Instant::now()) {
            Reload::Unchanged => {}
            Reload::Loaded { patterns, bad } => {
                for b in bad {
                    log.log(
                        Level::Err,
                        which,
                        format_args!(
                            "{}:{}: skipped {:?}: {}",
                            path.display(),
                            b.line,
                            b.text,
                            b.error
                        ),
                    );
                }
                log.log(
                    Level::Dbg,
                    which,
                    format_args!("{}: {patterns} pattern(s)", path.display()),
                );
            }
            Reload::Failed(e) => log.log(
                Level::Warn,
                which,
                format_args!("cannot read {e}; keeping the old list"),
            ),
        }
        list.matches(ua)
    })
}

fn sip_asymmetric(log: &dyn Logger, cfg: &Config, ua: Option<&[u8]>) -> bool {
    list_matches(
        log,
        "sip_asymmetrics",
        |s| &mut s.sip_asym,
        cfg.sip_asymmetrics.as_deref(),
        ua,
    )
}

fn rtp_asymmetric(log: &dyn Logger, cfg: &Config, ua: Option<&[u8]>) -> bool {
    list_matches(
        log,
        "rtp_asymmetrics",
        |s| &mut s.rtp_asym,
        cfg.rtp_asymmetrics.as_deref(),
        ua,
    )
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

const FN: &str = "use_media_proxy";

macro_rules! fail {
    ($m:expr, $func:expr, $($arg:tt)*) => {{
        $m.log(Level::Err, $func, format_args!($($arg)*));
        return -1;
    }};
}

/// What `use_media_proxy` computed before changing the message.
struct Rewrite {
    edits: Vec<(usize, usize, Vec<u8>)>,
    call_id: String,
}

/// `use_media_proxy()` and the engaged dialog's hooks: ask the relay, rewrite the SDP.
pub fn use_media_proxy(m: &mut dyn Message, cfg: &Config, ctx: &Ctx) -> i32 {
    if cfg.disable {
        return -1;
    }
    if let Some(why) = m.frozen() {
        fail!(m, FN, "cannot change this message: {why}");
    }
    if m.sdp_rewritten() {
        fail!(
            m,
            FN,
            "the SDP of this message was already rewritten; not again"
        );
    }
    if !m.prepare_edits() {
        fail!(m, FN, "cannot parse the message headers");
    }
    let plan = match plan_rewrite(&*m, cfg, ctx) {
        Ok(p) => p,
        Err(rc) => return rc,
    };
    let edits: Vec<BufEdit<'_>> = plan
        .edits
        .iter()
        .map(|(offset, delete, insert)| BufEdit {
            offset: *offset,
            delete: *delete,
            insert,
        })
        .collect();
    if edits.is_empty() {
        return 1;
    }
    if let Err(e) = m.apply(&edits) {
        fail!(
            m,
            FN,
            "cannot change the message, left as it was (Call-ID {}): {e}",
            plan.call_id
        );
    }
    m.mark_sdp_rewritten();
    1
}

/// Everything up to the edits: scan, ask the relay, plan. `Err` carries the return code.
fn plan_rewrite(m: &dyn Message, cfg: &Config, ctx: &Ctx) -> Result<Rewrite, i32> {
    let err = |args: fmt::Arguments<'_>| {
        m.log(Level::Err, FN, args);
        -1
    };
    let msg =
        sip::SipMsg::scan(m.buf()).map_err(|e| err(format_args!("malformed SIP message: {e}")))?;
    msg.call_id()
        .ok_or_else(|| err(format_args!("no Call-ID")))?;
    let (kind, status) = match msg.kind() {
        Kind::Request { .. } => (MessageType::Request, 0),
        Kind::Reply { status, .. } => (MessageType::Reply, status),
    };
    let cseq = msg.cseq();
    let invite = cseq.is_some_and(|(_, meth)| meth.eq_ignore_ascii_case(b"INVITE"));
    let body = msg.sdp_body();
    if body.is_some() && m.foreign_sdp_changes() {
        return Err(err(format_args!(
            "the script changed this SDP with the core's SDP operations; cannot rewrite it"
        )));
    }
    let mut req = update_request(m, cfg, &msg, ctx);

    let Some((body_off, body)) = body else {
        // a 200 OK to an INVITE without SDP still tells the relay the call was answered
        if kind == MessageType::Reply && status == 200 && invite {
            return match update(cfg, &req) {
                Ok(_) => Ok(Rewrite {
                    edits: Vec::new(),
                    call_id: req.call_id,
                }),
                Err(e) => Err(err(format_args!("relay: {e} (Call-ID {})", req.call_id))),
            };
        }
        return Err(-2);
    };
    let parsed = sdp::Sdp::parse(body)
        .map_err(|e| err(format_args!("malformed SDP (Call-ID {}): {e}", req.call_id)))?;
    let sdp = parsed.sdp;
    if kind == MessageType::Request && sdp.has_remote_candidates() {
        // an ICE re-offer naming the selected candidates is left as it is (as the original),
        // and so is its answer (see `ice_reoffer`)
        crate::ice_reoffer::table().remember(&req.call_id, req.cseq);
        m.log(
            Level::Dbg,
            FN,
            format_args!("ICE re-offer with a=remote-candidates left untouched"),
        );
        return Err(-1);
    }
    if kind == MessageType::Reply && crate::ice_reoffer::table().take(&req.call_id, req.cseq) {
        m.log(
            Level::Dbg,
            FN,
            format_args!("answer to an ICE re-offer with a=remote-candidates left untouched"),
        );
        return Err(-1);
    }
    req.media = sdp.relay_streams();
    if req.media.is_empty() {
        return Ok(Rewrite {
            edits: Vec::new(),
            call_id: req.call_id,
        });
    }
    let answer =
        update(cfg, &req).map_err(|e| err(format_args!("relay: {e} (Call-ID {})", req.call_id)))?;
    let ice = ctx.ice.unwrap_or_else(|| ice_choice(m, cfg));
    let opts = RewriteOptions {
        ice_candidate: ice_priority(ice),
    };
    let edits = sdp.plan(&answer, &opts).map_err(|e| {
        err(format_args!(
            "cannot rewrite the SDP (Call-ID {}): {e}",
            req.call_id
        ))
    })?;
    Ok(Rewrite {
        edits: edits
            .into_iter()
            .map(|e| (body_off + e.offset, e.delete, e.insert))
            .collect(),
        call_id: req.call_id,
    })
}

/// The `update` a message asks for, its streams still empty: kind, tags, CSeq, URIs, user
/// agent and signalling address read from the message as the C module does.
pub(crate) fn update_request(
    m: &dyn Message,
    cfg: &Config,
    msg: &sip::SipMsg<'_>,
    ctx: &Ctx,
) -> UpdateRequest {
    let (kind, status) = match msg.kind() {
        Kind::Request { .. } => (MessageType::Request, 0),
        Kind::Reply { status, .. } => (MessageType::Reply, status),
    };
    let cseq = msg.cseq();
    let call_id = msg.call_id();
    let ua = msg.user_agent();
    UpdateRequest {
        kind,
        dialog_id: ctx.dialog_id.clone().unwrap_or_default(),
        call_id: text(call_id),
        cseq: cseq.map(|(n, _)| n).unwrap_or(0),
        from_uri: short_uri(msg.from_uri()),
        to_uri: short_uri(msg.to_uri()),
        from_tag: text(msg.from_tag()),
        // the C module sends no To tag for provisional replies
        to_tag: if kind == MessageType::Reply && status < 200 {
            String::new()
        } else {
            text(msg.to_tag())
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
        asymmetric: rtp_asymmetric(m, cfg, ua),
    }
}

/// Called once per ended session with why it ended and the relay's statistics (JSON), so a
/// host can raise its own event (set once by the host before it forks).
pub type SessionEndHook = fn(reason: &str, stats_json: &str);

static SESSION_END: once_cell::sync::OnceCell<SessionEndHook> = once_cell::sync::OnceCell::new();

pub fn set_session_end_hook(h: SessionEndHook) {
    let _ = SESSION_END.set(h);
}

/// Reports an ended session to the host's hook (also for sessions the relay ended itself).
pub fn session_ended(reason: &str, stats_json: &str) {
    if let Some(h) = SESSION_END.get() {
        h(reason, stats_json);
    }
}

/// Whether a `remove`'s answer is a session the session-end hook already saw: an embedded
/// relay reports a session when it expires (its `Expired` event: a timeout, or every stream an
/// unselected ICE candidate) and answers a later `remove` for it (the dialog that timeout
/// ended, a BYE) from the session's tombstone, marked `timed_out` or `all_streams_ice`. An
/// external relay's expiries reach the module only this way.
fn reported_at_expiry(cfg: &Config, stats_json: &str) -> bool {
    if cfg.relay_mode != crate::config::RelayMode::Embedded {
        return false;
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(stats_json) else {
        return false;
    };
    let flag = |k: &str| v.get(k).and_then(serde_json::Value::as_bool) == Some(true);
    flag("timed_out") || flag("all_streams_ice")
}

/// Sends `remove` for a session; 1 on success, -1 otherwise. `reason` says why the session
/// ends (for the session-end event): `bye`, `dialog ended`, `mi`, ...
pub fn remove_session(
    log: &dyn Logger,
    cfg: &Config,
    call_id: &str,
    from_tag: &str,
    to_tag: &str,
    reason: &str,
) -> i32 {
    let r = with_client(cfg, |c| c.remove(call_id, from_tag, to_tag));
    count(&r);
    match r {
        Ok(stats) => {
            if let Some(s) = stats {
                log.log(
                    Level::Info,
                    "end_media_session",
                    format_args!("Call-ID {call_id} ({reason}): {s}"),
                );
                if !reported_at_expiry(cfg, &s) {
                    session_ended(reason, &s);
                }
            }
            1
        }
        Err(e) => {
            log.log(
                Level::Err,
                "end_media_session",
                format_args!("relay: {e} (Call-ID {call_id})"),
            );
            -1
        }
    }
}

/// `end_media_session()`: ends the session of this message's dialog, from either side.
pub fn end_media_session(m: &dyn Message, cfg: &Config) -> i32 {
    if cfg.disable {
        return -1;
    }
    let msg = match sip::SipMsg::scan(m.buf()) {
        Ok(s) => s,
        Err(e) => fail!(m, "end_media_session", "malformed SIP message: {e}"),
    };
    let Some(call_id) = msg.call_id() else {
        fail!(m, "end_media_session", "no Call-ID");
    };
    let reason = match msg.method() {
        Some(Method::Bye) => "bye",
        Some(Method::Cancel) => "cancel",
        _ if matches!(msg.kind(), Kind::Reply { .. }) => "failure",
        _ => "end_media_session",
    };
    remove_session(
        m,
        cfg,
        &text(Some(call_id)),
        &text(msg.from_tag()),
        &text(msg.to_tag()),
        reason,
    )
}

/// `engage_media_proxy()`'s check: only an initial INVITE (no To tag) can engage.
pub fn can_engage(m: &dyn Message, cfg: &Config) -> bool {
    if cfg.disable {
        return false;
    }
    match sip::SipMsg::scan(m.buf()) {
        Ok(msg) if msg.method() == Some(Method::Invite) && msg.to_tag().is_none() => true,
        Ok(_) => {
            m.log(
                Level::Err,
                "engage_media_proxy",
                format_args!("only an initial INVITE (no To tag) can engage the media proxy"),
            );
            false
        }
        Err(e) => {
            m.log(
                Level::Err,
                "engage_media_proxy",
                format_args!("malformed SIP message: {e}"),
            );
            false
        }
    }
}

/// `client_nat_test(type)`: 1 when a selected test says the client is behind NAT, else -1.
pub fn client_nat_test(m: &dyn Message, cfg: &Config, arg: &str) -> i32 {
    if cfg.disable {
        return -1;
    }
    let tests = match nat::parse_tests(arg) {
        Ok(t) => t,
        Err(e) => fail!(m, "client_nat_test", "{e}"),
    };
    let msg = match sip::SipMsg::scan(m.buf()) {
        Ok(s) => s,
        Err(e) => fail!(m, "client_nat_test", "malformed SIP message: {e}"),
    };
    let via = msg.top_via();
    let contact = msg.first_contact().filter(|c| !c.star);
    let source = m.source();
    let mut view = NatView {
        src_ip: source.map(|(ip, _)| ip),
        src_port: source.map(|(_, p)| p).unwrap_or(0),
        via_host: via.map(|v| v.host.bytes),
        via_port: via.and_then(|v| v.port),
        contact_host: contact.and_then(|c| c.host.map(|h| h.bytes)),
        contact_port: contact.and_then(|c| c.port_value),
        sdp_addrs: Vec::new(),
        sip_asymmetric: tests & (nat::DIFF_IP_SRC_VIA | nat::DIFF_PORT_SRC_VIA) != 0
            && sip_asymmetric(m, cfg, msg.user_agent()),
    };
    if tests & nat::PRIVATE_SDP != 0 {
        if let Some(p) = msg.sdp_body().and_then(|(_, b)| sdp::Sdp::parse(b).ok()) {
            let sdp = p.sdp;
            if let Some(c) = &sdp.session.connection {
                view.sdp_addrs.push(c.addr.text);
            }
            for media in &sdp.media {
                view.sdp_addrs
                    .extend(media.connections.iter().map(|c| c.addr.text));
            }
        }
    }
    if nat::client_nat_test(tests, &view) {
        1
    } else {
        -1
    }
}

/// `fix_contact()`: the first Contact's host:port becomes the packet's source.
pub fn fix_contact(m: &mut dyn Message, cfg: &Config) -> i32 {
    const F: &str = "fix_contact";
    if cfg.disable {
        return -1;
    }
    if let Some(why) = m.frozen() {
        fail!(m, F, "cannot change this message: {why}");
    }
    let Some((src_ip, src_port)) = m.source() else {
        return -1;
    };
    let (offset, delete, new_uri) = {
        let msg = match sip::SipMsg::scan(m.buf()) {
            Ok(s) => s,
            Err(e) => fail!(m, F, "malformed SIP message: {e}"),
        };
        let Some(contact) = msg.first_contact().filter(|c| !c.star) else {
            m.log(Level::Dbg, F, format_args!("no Contact to fix"));
            return -1;
        };
        let Some(host) = contact.host else {
            fail!(m, F, "the Contact URI is not a sip: URI");
        };
        let asym = sip_asymmetric(&*m, cfg, msg.user_agent());
        let Some(new) = nat::fix_contact(host.bytes, contact.port_value, src_ip, src_port, asym)
        else {
            return 1;
        };
        let end = match contact.port {
            Some(p) => p.offset + p.bytes.len(),
            None => host.offset + host.bytes.len(),
        };
        // the whole URI is replaced (not only host[:port]), so a host can point its parsed
        // Contact at the complete new URI
        let uri = contact.uri;
        let uri_end = uri.offset + uri.bytes.len();
        let buf = m.buf();
        if !(uri.offset <= host.offset && end <= uri_end && uri_end <= buf.len()) {
            fail!(m, F, "inconsistent Contact URI spans");
        }
        let mut new_uri = Vec::with_capacity(uri.bytes.len() + new.len());
        new_uri.extend_from_slice(&buf[uri.offset..host.offset]);
        new_uri.extend_from_slice(new.as_bytes());
        new_uri.extend_from_slice(&buf[end..uri_end]);
        (uri.offset, uri.bytes.len(), new_uri)
    };
    if !m.prepare_edits() {
        fail!(m, F, "cannot parse the message headers");
    }
    let edit = BufEdit {
        offset,
        delete,
        insert: &new_uri,
    };
    match m.replace_contact_uri(&edit) {
        Ok(()) => 1,
        Err(e) => fail!(m, F, "cannot change the Contact: {e}"),
    }
}

/// A management command to the relay (`sessions`, `summary`): its one JSON line.
pub fn relay_command(cfg: &Config, cmd: &str) -> Result<String, String> {
    let r = with_client(cfg, |c| c.command(cmd));
    count(&r);
    r.map_err(|e| e.to_string())
}

/// Ends every relay session of a Call-ID (MI): finds their tags in `sessions`, sends `remove`.
/// Returns how many were ended.
pub fn end_sessions_by_call_id(
    log: &dyn Logger,
    cfg: &Config,
    call_id: &str,
) -> Result<usize, String> {
    let text = relay_command(cfg, "sessions")?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("relay sent bad JSON: {e}"))?;
    let mut ended = 0;
    for s in v.as_array().into_iter().flatten() {
        if s.get("call_id").and_then(|c| c.as_str()) != Some(call_id) {
            continue;
        }
        let tag = |k: &str| s.get(k).and_then(|t| t.as_str()).unwrap_or("").to_string();
        if remove_session(log, cfg, call_id, &tag("from_tag"), &tag("to_tag"), "mi") == 1 {
            ended += 1;
        }
    }
    Ok(ended)
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
