//! The script functions. Each entry is guarded; `disable=1` makes every one return -1.
//!
//! Return codes (OpenSIPS: >0 true, <0 false, 0 would stop the script and is never used):
//! `use_media_proxy` 1 changed, -1 error, -2 no SDP; `end_media_session` 1 / -1;
//! `engage_media_proxy` 1 / -1; `client_nat_test` 1 behind NAT / -1 not (or bad argument);
//! `fix_contact` 1 done / -1 error.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::net::IpAddr;
use std::time::Instant;

use super::avp;
use super::dialog;
use super::guard::guard;
use super::init::config;
use super::log::Level;
use super::msg::{BufEdit, SipMsg as HostMsg};
use super::sys::{self, sip_msg};
use crate::config::{Config, IceCandidate};
use crate::control::client::{Client, ClientConfig};
use crate::control::{MessageType, UpdateRequest};
use crate::nat::asymmetric::{AsymmetricList, Reload};
use crate::nat::{self, NatView};
use crate::sdp::{self, IcePriority, RewriteOptions};
use crate::sip::{self, Kind, Method};

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

fn list_matches(
    which: &'static str,
    slot: impl Fn(&mut ProcState) -> &mut Option<AsymmetricList>,
    path: Option<&std::path::Path>,
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
                    host_log!(
                        Level::Err,
                        which,
                        "{}:{}: skipped {:?}: {}",
                        path.display(),
                        b.line,
                        b.text,
                        b.error
                    );
                }
                host_log!(
                    Level::Dbg,
                    which,
                    "{}: {patterns} pattern(s)",
                    path.display()
                );
            }
            Reload::Failed(e) => {
                host_log!(Level::Warn, which, "cannot read {e}; keeping the old list")
            }
        }
        list.matches(ua)
    })
}

fn sip_asymmetric(cfg: &Config, ua: Option<&[u8]>) -> bool {
    list_matches(
        "sip_asymmetrics",
        |s| &mut s.sip_asym,
        cfg.sip_asymmetrics.as_deref(),
        ua,
    )
}

fn rtp_asymmetric(cfg: &Config, ua: Option<&[u8]>) -> bool {
    list_matches(
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

fn ip_text(ip: IpAddr) -> String {
    ip.to_string()
}

/// What the caller adds: the dialog id (engaged calls) and the ICE choice.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    pub dialog_id: Option<String>,
    pub ice: Option<IceCandidate>,
}

fn ice_priority(c: IceCandidate) -> IcePriority {
    match c {
        IceCandidate::None => IcePriority::None,
        IceCandidate::LowPriority => IcePriority::Low,
        IceCandidate::HighPriority => IcePriority::High,
    }
}

/// The ICE choice for a message: `ice_candidate_avp` when set and valid, else the modparam.
pub fn ice_choice(cfg: &Config, msg: *mut sip_msg) -> IceCandidate {
    match avp::ice_candidate(msg) {
        Some(v) => IceCandidate::parse(&v).unwrap_or_else(|| {
            host_log!(
                Level::Warn,
                "use_media_proxy",
                "ignoring ice_candidate_avp value {v:?} (none, low-priority, high-priority)"
            );
            cfg.ice_candidate
        }),
        None => cfg.ice_candidate,
    }
}

const FN: &str = "use_media_proxy";

/// `use_media_proxy()` and the engaged dialog's hooks: ask the relay, rewrite the SDP.
pub fn media_proxy(raw: *mut sip_msg, ctx: &Ctx) -> c_int {
    let Some(cfg) = config() else { return -1 };
    if cfg.disable {
        return -1;
    }
    // SAFETY: raw is the message the core runs this route or callback for.
    let Some(mut hm) = (unsafe { HostMsg::from_ptr(raw) }) else {
        return -1;
    };
    if hm.is_shm_clone() {
        host_log!(
            Level::Err,
            FN,
            "cannot change a transaction's stored copy of a request"
        );
        return -1;
    }
    if hm.msg_flags() & (sys::MPX_FL_SDP_IP_AFS | sys::MPX_FL_SDP_PORT_AFS) != 0 {
        host_log!(
            Level::Err,
            FN,
            "the SDP of this message was already rewritten; not again"
        );
        return -1;
    }
    if !hm.parse_all_headers() {
        host_log!(Level::Err, FN, "cannot parse the message headers");
        return -1;
    }
    let buf = hm.buf();
    let msg = match sip::SipMsg::scan(buf) {
        Ok(m) => m,
        Err(e) => {
            host_log!(Level::Err, FN, "malformed SIP message: {e}");
            return -1;
        }
    };
    let Some(call_id) = msg.call_id() else {
        host_log!(Level::Err, FN, "no Call-ID");
        return -1;
    };
    let (kind, status) = match msg.kind() {
        Kind::Request { .. } => (MessageType::Request, 0),
        Kind::Reply { status, .. } => (MessageType::Reply, status),
    };
    let cseq = msg.cseq();
    let invite = cseq.is_some_and(|(_, m)| m.eq_ignore_ascii_case(b"INVITE"));
    let body = msg.sdp_body();
    if body.is_some() && hm.has_sdp_ops() {
        host_log!(
            Level::Err,
            FN,
            "the script changed this SDP with the core's SDP operations; cannot rewrite it"
        );
        return -1;
    }
    let ua = msg.user_agent();
    let mut req = UpdateRequest {
        kind,
        dialog_id: ctx.dialog_id.clone().unwrap_or_default(),
        call_id: text(Some(call_id)),
        cseq: cseq.map(|(n, _)| n).unwrap_or(0),
        from_uri: short_uri(msg.from_uri()),
        to_uri: short_uri(msg.to_uri()),
        from_tag: text(msg.from_tag()),
        to_tag: if kind == MessageType::Reply && status < 200 {
            String::new()
        } else {
            text(msg.to_tag())
        },
        user_agent: ua
            .map(|u| String::from_utf8_lossy(u).trim().to_string())
            .unwrap_or_else(|| "unknown agent".to_string()),
        signaling_ip: avp::signaling_ip(raw)
            .or_else(|| hm.source().map(|(ip, _)| ip_text(ip)))
            .unwrap_or_default(),
        media_relay: avp::media_relay(raw).unwrap_or_default(),
        media: Vec::new(),
        asymmetric: rtp_asymmetric(cfg, ua),
    };

    let Some((body_off, body)) = body else {
        // a 200 OK to an INVITE without SDP still tells the relay the call was answered
        if kind == MessageType::Reply && status == 200 && invite {
            return match with_client(cfg, |c| c.update(&req)) {
                Ok(_) => 1,
                Err(e) => {
                    host_log!(Level::Err, FN, "relay: {e} (Call-ID {})", req.call_id);
                    -1
                }
            };
        }
        return -2;
    };
    let parsed = match sdp::Sdp::parse(body) {
        Ok(p) => p,
        Err(e) => {
            host_log!(
                Level::Err,
                FN,
                "malformed SDP (Call-ID {}): {e}",
                req.call_id
            );
            return -1;
        }
    };
    let sdp = parsed.sdp;
    if kind == MessageType::Request && sdp.has_remote_candidates() {
        // an ICE re-offer naming the selected candidates: left as it is (as the original)
        host_log!(
            Level::Dbg,
            FN,
            "ICE re-offer with a=remote-candidates left untouched"
        );
        return -1;
    }
    req.media = sdp.relay_streams();
    if req.media.is_empty() {
        return 1;
    }
    let answer = match with_client(cfg, |c| c.update(&req)) {
        Ok(a) => a,
        Err(e) => {
            host_log!(Level::Err, FN, "relay: {e} (Call-ID {})", req.call_id);
            return -1;
        }
    };
    let ice = ctx.ice.unwrap_or_else(|| ice_choice(cfg, raw));
    let edits = match sdp.plan(
        &answer,
        &RewriteOptions {
            ice_candidate: ice_priority(ice),
        },
    ) {
        Ok(e) => e,
        Err(e) => {
            host_log!(
                Level::Err,
                FN,
                "cannot rewrite the SDP (Call-ID {}): {e}",
                req.call_id
            );
            return -1;
        }
    };
    let buf_edits: Vec<BufEdit<'_>> = edits
        .iter()
        .map(|e| BufEdit {
            offset: body_off + e.offset,
            delete: e.delete,
            insert: &e.insert,
        })
        .collect();
    if let Err(e) = hm.apply(&buf_edits) {
        host_log!(
            Level::Err,
            FN,
            "cannot change the message (Call-ID {}): {e}",
            req.call_id
        );
        return -1;
    }
    hm.set_msg_flags(sys::MPX_FL_SDP_IP_AFS | sys::MPX_FL_SDP_PORT_AFS);
    1
}

/// Sends `remove` for a session; 1 on success, -1 otherwise.
pub fn remove_session(cfg: &Config, call_id: &str, from_tag: &str, to_tag: &str) -> c_int {
    match with_client(cfg, |c| c.remove(call_id, from_tag, to_tag)) {
        Ok(stats) => {
            if let Some(s) = stats {
                host_log!(Level::Info, "end_media_session", "Call-ID {call_id}: {s}");
            }
            1
        }
        Err(e) => {
            host_log!(
                Level::Err,
                "end_media_session",
                "relay: {e} (Call-ID {call_id})"
            );
            -1
        }
    }
}

fn end_session(raw: *mut sip_msg) -> c_int {
    let Some(cfg) = config() else { return -1 };
    if cfg.disable {
        return -1;
    }
    // SAFETY: raw is the message the core runs this route for.
    let Some(hm) = (unsafe { HostMsg::from_ptr(raw) }) else {
        return -1;
    };
    let msg = match sip::SipMsg::scan(hm.buf()) {
        Ok(m) => m,
        Err(e) => {
            host_log!(
                Level::Err,
                "end_media_session",
                "malformed SIP message: {e}"
            );
            return -1;
        }
    };
    let Some(call_id) = msg.call_id() else {
        host_log!(Level::Err, "end_media_session", "no Call-ID");
        return -1;
    };
    remove_session(
        cfg,
        &text(Some(call_id)),
        &text(msg.from_tag()),
        &text(msg.to_tag()),
    )
}

fn engage(raw: *mut sip_msg) -> c_int {
    let Some(cfg) = config() else { return -1 };
    if cfg.disable {
        return -1;
    }
    // SAFETY: raw is the message the core runs this route for.
    let Some(mut hm) = (unsafe { HostMsg::from_ptr(raw) }) else {
        return -1;
    };
    let msg = match sip::SipMsg::scan(hm.buf()) {
        Ok(m) => m,
        Err(e) => {
            host_log!(
                Level::Err,
                "engage_media_proxy",
                "malformed SIP message: {e}"
            );
            return -1;
        }
    };
    if msg.method() != Some(Method::Invite) || msg.to_tag().is_some() {
        host_log!(
            Level::Err,
            "engage_media_proxy",
            "only an initial INVITE (no To tag) can engage the media proxy"
        );
        return -1;
    }
    if hm.msg_flags() & sys::MPX_FL_USE_MEDIA_PROXY != 0 {
        return 1;
    }
    let ice = ice_choice(cfg, raw);
    let Some(did) = dialog::engage(raw, ice) else {
        return -1;
    };
    hm.set_msg_flags(sys::MPX_FL_USE_MEDIA_PROXY);
    match media_proxy(
        raw,
        &Ctx {
            dialog_id: Some(did),
            ice: Some(ice),
        },
    ) {
        // an INVITE without SDP (late offer) is fine: the 200 OK and ACK carry it
        -2 => 1,
        rc => rc,
    }
}

fn nat_test(raw: *mut sip_msg, p0: *mut c_void) -> c_int {
    let Some(cfg) = config() else { return -1 };
    if cfg.disable {
        return -1;
    }
    let arg = if p0.is_null() {
        String::new()
    } else {
        // SAFETY: the core passes a `str*` for a CMD_PARAM_STR parameter.
        let s = unsafe { &*(p0 as *const sys::str_) };
        if s.s.is_null() || s.len < 0 {
            String::new()
        } else {
            // SAFETY: s.s points to s.len bytes for the duration of the call.
            let b = unsafe { std::slice::from_raw_parts(s.s as *const u8, s.len as usize) };
            String::from_utf8_lossy(b).into_owned()
        }
    };
    let tests = match nat::parse_tests(&arg) {
        Ok(t) => t,
        Err(e) => {
            host_log!(Level::Err, "client_nat_test", "{e}");
            return -1;
        }
    };
    // SAFETY: raw is the message the core runs this route for.
    let Some(hm) = (unsafe { HostMsg::from_ptr(raw) }) else {
        return -1;
    };
    let msg = match sip::SipMsg::scan(hm.buf()) {
        Ok(m) => m,
        Err(e) => {
            host_log!(Level::Err, "client_nat_test", "malformed SIP message: {e}");
            return -1;
        }
    };
    let via = msg.top_via();
    let contact = msg.first_contact().filter(|c| !c.star);
    let mut view = NatView {
        src_ip: hm.source().map(|(ip, _)| ip),
        src_port: hm.source().map(|(_, p)| p).unwrap_or(0),
        via_host: via.map(|v| v.host.bytes),
        via_port: via.and_then(|v| v.port),
        contact_host: contact.and_then(|c| c.host.map(|h| h.bytes)),
        contact_port: contact.and_then(|c| c.port_value),
        sdp_addrs: Vec::new(),
        sip_asymmetric: tests & (nat::DIFF_IP_SRC_VIA | nat::DIFF_PORT_SRC_VIA) != 0
            && sip_asymmetric(cfg, msg.user_agent()),
    };
    if tests & nat::PRIVATE_SDP != 0 {
        if let Some((_, body)) = msg.sdp_body() {
            if let Ok(p) = sdp::Sdp::parse(body) {
                let sdp = p.sdp;
                if let Some(c) = &sdp.session.connection {
                    view.sdp_addrs.push(c.addr.text);
                }
                for m in &sdp.media {
                    view.sdp_addrs
                        .extend(m.connections.iter().map(|c| c.addr.text));
                }
            }
        }
    }
    if nat::client_nat_test(tests, &view) {
        1
    } else {
        -1
    }
}

fn fix(raw: *mut sip_msg) -> c_int {
    let Some(cfg) = config() else { return -1 };
    if cfg.disable {
        return -1;
    }
    // SAFETY: raw is the message the core runs this route for.
    let Some(mut hm) = (unsafe { HostMsg::from_ptr(raw) }) else {
        return -1;
    };
    if hm.is_shm_clone() {
        host_log!(
            Level::Err,
            "fix_contact",
            "cannot change a transaction's stored request"
        );
        return -1;
    }
    let Some((src_ip, src_port)) = hm.source() else {
        return -1;
    };
    let buf = hm.buf();
    let msg = match sip::SipMsg::scan(buf) {
        Ok(m) => m,
        Err(e) => {
            host_log!(Level::Err, "fix_contact", "malformed SIP message: {e}");
            return -1;
        }
    };
    let Some(contact) = msg.first_contact().filter(|c| !c.star) else {
        host_log!(Level::Dbg, "fix_contact", "no Contact to fix");
        return -1;
    };
    let Some(host) = contact.host else {
        host_log!(
            Level::Err,
            "fix_contact",
            "the Contact URI is not a sip: URI"
        );
        return -1;
    };
    let asym = sip_asymmetric(cfg, msg.user_agent());
    let Some(new) = nat::fix_contact(host.bytes, contact.port_value, src_ip, src_port, asym) else {
        return 1;
    };
    let end = match contact.port {
        Some(p) => p.offset + p.bytes.len(),
        None => host.offset + host.bytes.len(),
    };
    // the whole URI is replaced (not only host[:port]), so that the lump holds the complete new
    // URI for the parsed Contact to point at (below)
    let uri = contact.uri;
    let uri_end = uri.offset + uri.bytes.len();
    if !(uri.offset <= host.offset && end <= uri_end && uri_end <= buf.len()) {
        host_log!(Level::Err, "fix_contact", "inconsistent Contact URI spans");
        return -1;
    }
    let mut new_uri = Vec::with_capacity(uri.bytes.len() + new.len());
    new_uri.extend_from_slice(&buf[uri.offset..host.offset]);
    new_uri.extend_from_slice(new.as_bytes());
    new_uri.extend_from_slice(&buf[end..uri_end]);
    let edit = BufEdit {
        offset: uri.offset,
        delete: uri.bytes.len(),
        insert: &new_uri,
    };
    if !hm.parse_all_headers() {
        host_log!(
            Level::Err,
            "fix_contact",
            "cannot parse the message headers"
        );
        return -1;
    }
    match hm.apply(&[edit]) {
        Ok(inserted) => {
            // as nathelper's fix_nated_contact(): the parsed Contact names the fixed URI too, so
            // the dialog module stores it as the leg's contact, and the requests it sends
            // itself (the BYEs ending a call after a media timeout) reach the client behind NAT
            if let Some(&lump) = inserted.first() {
                if !hm.set_first_contact_uri(lump) {
                    host_log!(
                        Level::Warn,
                        "fix_contact",
                        "Contact rewritten, but its parsed form could not be updated"
                    );
                }
            }
            1
        }
        Err(e) => {
            host_log!(Level::Err, "fix_contact", "cannot change the Contact: {e}");
            -1
        }
    }
}

macro_rules! entry {
    ($name:ident, |$msg:ident, $p0:ident| $body:expr) => {
        pub unsafe extern "C" fn $name(
            $msg: *mut sip_msg,
            $p0: *mut c_void,
            _p1: *mut c_void,
            _p2: *mut c_void,
            _p3: *mut c_void,
            _p4: *mut c_void,
            _p5: *mut c_void,
            _p6: *mut c_void,
            _p7: *mut c_void,
        ) -> c_int {
            guard(stringify!($name), -1, || $body)
        }
    };
}

entry!(engage_media_proxy, |msg, _p0| engage(msg));
entry!(use_media_proxy, |msg, _p0| media_proxy(
    msg,
    &Ctx::default()
));
entry!(end_media_session, |msg, _p0| end_session(msg));
entry!(client_nat_test, |msg, p0| nat_test(msg, p0));
entry!(fix_contact, |msg, _p0| fix(msg));
