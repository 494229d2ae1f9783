//! A fake host message for the script layer's tests (real SIP bytes, a source address, edits
//! applied to a copy of the buffer, logs kept), SIP and SDP builders, and a real relay started
//! on a loopback control socket from the module's own settings. Shared by `script_functions`
//! and `rtp_relay_engine`.
#![allow(dead_code)]

use std::cell::RefCell;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use mediaproxy::config::{Config, RawParams};
use mediaproxy::relay::{Counters, Relay};
use mediaproxy::script::{Avp, Edit, Engage, Level, Logger, Message};

pub struct Fake {
    pub buf: Vec<u8>,
    pub out: RefCell<Option<Vec<u8>>>,
    pub src: (IpAddr, u16),
    pub rewritten: bool,
    pub frozen: bool,
    pub avps: Vec<(Avp, String)>,
    pub logs: RefCell<Vec<String>>,
    /// engage_media_proxy(): already engaged, the dialog id its dialog module gives (None:
    /// no dialog module), and how often the dialog was asked for
    pub engaged: bool,
    pub dialog: Option<String>,
    pub dialogs_made: u32,
}

impl Fake {
    pub fn new(text: &str, src: &str, port: u16) -> Fake {
        Fake {
            buf: text.as_bytes().to_vec(),
            out: RefCell::new(None),
            src: (src.parse().unwrap(), port),
            rewritten: false,
            frozen: false,
            avps: Vec::new(),
            logs: RefCell::new(Vec::new()),
            engaged: false,
            dialog: None,
            dialogs_made: 0,
        }
    }
    pub fn output(&self) -> String {
        String::from_utf8(self.out.borrow().clone().expect("edited")).unwrap()
    }
    pub fn logged(&self, what: &str) -> bool {
        self.logs.borrow().iter().any(|l| l.contains(what))
    }
}

impl Logger for Fake {
    fn log(&self, level: Level, func: &str, args: fmt::Arguments<'_>) {
        self.logs
            .borrow_mut()
            .push(format!("{level:?}:{func}: {args}"));
    }
}

impl Message for Fake {
    fn buf(&self) -> &[u8] {
        &self.buf
    }
    fn source(&self) -> Option<(IpAddr, u16)> {
        Some(self.src)
    }
    fn frozen(&self) -> Option<&'static str> {
        self.frozen.then_some("test")
    }
    fn sdp_rewritten(&self) -> bool {
        self.rewritten
    }
    fn mark_sdp_rewritten(&mut self) {
        self.rewritten = true;
    }
    fn foreign_sdp_changes(&self) -> bool {
        false
    }
    fn prepare_edits(&mut self) -> bool {
        true
    }
    fn apply(&mut self, edits: &[Edit]) -> Result<(), String> {
        let mut out = Vec::new();
        let mut pos = 0;
        for e in edits {
            if e.offset < pos || e.offset + e.delete > self.buf.len() {
                return Err("bad edit".into());
            }
            out.extend_from_slice(&self.buf[pos..e.offset]);
            out.extend_from_slice(&e.insert);
            pos = e.offset + e.delete;
        }
        out.extend_from_slice(&self.buf[pos..]);
        *self.out.borrow_mut() = Some(out);
        Ok(())
    }
    fn avp(&self, which: Avp) -> Option<String> {
        self.avps
            .iter()
            .find(|(a, _)| *a == which)
            .map(|(_, v)| v.clone())
    }
}

impl Engage for Fake {
    fn engaged(&self) -> bool {
        self.engaged
    }
    fn set_engaged(&mut self) {
        self.engaged = true;
    }
    fn engage_dialog(&mut self, _ice: mediaproxy::config::IceCandidate) -> Option<String> {
        self.dialogs_made += 1;
        self.dialog.clone()
    }
}

pub fn sip(
    start: &str,
    call: &str,
    ftag: &str,
    ttag: Option<&str>,
    cseq: &str,
    extra: &str,
    sdp: Option<&str>,
) -> String {
    let to = match ttag {
        Some(t) => format!("<sip:bob@example.net>;tag={t}"),
        None => "<sip:bob@example.net>".into(),
    };
    let body = sdp.unwrap_or("");
    let ct = if sdp.is_some() {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "{start}\r\nVia: SIP/2.0/UDP 192.168.1.40:5080;branch=z9hG4bK1\r\nFrom: <sip:alice@example.com>;tag={ftag}\r\n\
         To: {to}\r\nCall-ID: {call}\r\nCSeq: {cseq}\r\nContact: <sip:alice@192.168.1.40:5080>\r\n{extra}{ct}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// An initial INVITE (no To tag, CSeq 1) from alice with `extra` headers and the SDP `body`.
pub fn initial_invite(call: &str, extra: &str, body: &str) -> String {
    sip(
        "INVITE sip:bob@example.net SIP/2.0",
        call,
        "a1",
        None,
        "1 INVITE",
        extra,
        Some(body),
    )
}

pub fn offer(ip: &str, port: u16) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8\r\na=rtcp:{}\r\na=sendrecv\r\n", port + 1)
}

pub struct Env {
    pub cfg: Config,
    _relay: Relay,
    pub dir: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn env(name: &str, ports: (u16, u16)) -> Env {
    env_with(name, ports, |_, _| {})
}

/// A relay started from the module's own settings (`Config::relay`), with `params` set by
/// `adjust` (which also gets the environment's directory for files it names).
pub fn env_with(
    name: &str,
    ports: (u16, u16),
    adjust: impl FnOnce(&mut RawParams, &std::path::Path),
) -> Env {
    let dir = std::env::temp_dir().join(format!("mpx-script-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("ctl.sock");
    let mut raw = RawParams::default()
        .set("mediaproxy_socket", sock.to_string_lossy().into_owned())
        .set("listen_ip", "127.0.0.1")
        .set("port_range", format!("{}-{}", ports.0, ports.1))
        .set("relay_threads", 1);
    adjust(&mut raw, &dir);
    let cfg = Config::from_raw(&raw).unwrap();
    let relay: Relay =
        Relay::start(cfg.relay.clone(), &sock, Counters::leak()).expect("relay starts");
    Env {
        cfg,
        _relay: relay,
        dir,
    }
}

pub fn sdp_lines(msg: &str) -> Vec<String> {
    let body = msg.split("\r\n\r\n").nth(1).unwrap_or("");
    body.split("\r\n").map(str::to_string).collect()
}

/// The address an SDP's first audio stream names (`c=IN IP4` and `m=audio` port).
pub fn target(msg: &str) -> std::net::SocketAddr {
    let lines = sdp_lines(msg);
    let ip = lines
        .iter()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .expect("c= line");
    let port = lines
        .iter()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .expect("m= line");
    format!("{ip}:{port}").parse().expect("address")
}

/// The callee's BYE (From-tag "b1", To-tag "a1") of the call `call` that [`initial_invite`]
/// started.
pub fn callee_bye(call: &str) -> String {
    sip(
        "BYE sip:alice@192.168.1.40:5080 SIP/2.0",
        call,
        "b1",
        Some("a1"),
        "2 BYE",
        "",
        None,
    )
}
