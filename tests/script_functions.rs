//! The script functions' behaviour and return codes, host-independent: a fake message (real
//! SIP bytes, a source address, edits applied to a copy of the buffer) against a real relay
//! started on a loopback control socket.

use std::cell::RefCell;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use mediaproxy::config::{Config, RawParams};
use mediaproxy::relay::{Counters, Relay, RelayConfig};
use mediaproxy::script::{self, Avp, BufEdit, Ctx, Level, Logger, Message};

struct Fake {
    buf: Vec<u8>,
    out: RefCell<Option<Vec<u8>>>,
    src: (IpAddr, u16),
    rewritten: bool,
    frozen: bool,
    avps: Vec<(Avp, String)>,
    logs: RefCell<Vec<String>>,
}

impl Fake {
    fn new(text: &str, src: &str, port: u16) -> Fake {
        Fake {
            buf: text.as_bytes().to_vec(),
            out: RefCell::new(None),
            src: (src.parse().unwrap(), port),
            rewritten: false,
            frozen: false,
            avps: Vec::new(),
            logs: RefCell::new(Vec::new()),
        }
    }
    fn output(&self) -> String {
        String::from_utf8(self.out.borrow().clone().expect("edited")).unwrap()
    }
    fn logged(&self, what: &str) -> bool {
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
    fn apply(&mut self, edits: &[BufEdit<'_>]) -> Result<(), String> {
        let mut out = Vec::new();
        let mut pos = 0;
        for e in edits {
            if e.offset < pos || e.offset + e.delete > self.buf.len() {
                return Err("bad edit".into());
            }
            out.extend_from_slice(&self.buf[pos..e.offset]);
            out.extend_from_slice(e.insert);
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

fn sip(
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

fn offer(ip: &str, port: u16) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8\r\na=rtcp:{}\r\na=sendrecv\r\n", port + 1)
}

struct Env {
    cfg: Config,
    _relay: Relay,
    dir: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn env(name: &str, ports: (u16, u16)) -> Env {
    let dir = std::env::temp_dir().join(format!("mpx-script-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("ctl.sock");
    let cfg = Config::from_raw(&RawParams {
        mediaproxy_socket: Some(sock.to_string_lossy().into_owned()),
        listen_ip: Some("127.0.0.1".into()),
        port_range: Some(format!("{}-{}", ports.0, ports.1)),
        ..RawParams::default()
    })
    .unwrap();
    let relay = Relay::start(
        RelayConfig {
            listen_ip: cfg.listen_ip,
            port_min: cfg.port_min,
            port_max: cfg.port_max,
            threads: 1,
            ..RelayConfig::default()
        },
        &sock,
        Counters::leak(),
    )
    .expect("relay starts");
    Env {
        cfg,
        _relay: relay,
        dir,
    }
}

fn sdp_lines(msg: &str) -> Vec<String> {
    let body = msg.split("\r\n\r\n").nth(1).unwrap_or("");
    body.split("\r\n").map(str::to_string).collect()
}

#[test]
fn offer_and_answer_are_rewritten_to_the_relay_and_the_session_ends() {
    let e = env("flow", (43000, 43099));
    let inv = sip(
        "INVITE sip:bob@example.net SIP/2.0",
        "c1@x",
        "a1",
        None,
        "1 INVITE",
        "",
        Some(&offer("192.168.1.40", 4000)),
    );
    let mut m = Fake::new(&inv, "198.51.100.7", 61000);
    assert_eq!(
        script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()),
        1,
        "{:?}",
        m.logs
    );
    let out = m.output();
    let lines = sdp_lines(&out);
    assert!(lines.contains(&"c=IN IP4 127.0.0.1".to_string()), "{out}");
    let mline = lines.iter().find(|l| l.starts_with("m=audio ")).unwrap();
    let port: u16 = mline.split(' ').nth(1).unwrap().parse().unwrap();
    assert!((43000..=43099).contains(&port) && port % 2 == 0, "{mline}");
    assert!(lines.contains(&format!("a=rtcp:{}", port + 1)), "{out}");
    assert!(
        lines.contains(&"o=- 1 1 IN IP4 192.168.1.40".to_string()),
        "o= untouched: {out}"
    );
    // the headers are byte for byte the same
    let head = |s: &str| {
        s.split("\r\n\r\n")
            .next()
            .unwrap()
            .replace(char::is_numeric, "")
    };
    assert_eq!(head(&out), head(&inv));
    // a second rewrite of the same message is refused
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), -1);

    let ok = sip(
        "SIP/2.0 200 OK",
        "c1@x",
        "a1",
        Some("b1"),
        "1 INVITE",
        "Server: Callee/1\r\n",
        Some(&offer("192.168.2.50", 5000)),
    );
    let mut r = Fake::new(&ok, "198.51.100.9", 5060);
    assert_eq!(
        script::use_media_proxy(&mut r, &e.cfg, &Ctx::default()),
        1,
        "{:?}",
        r.logs
    );
    let rl = sdp_lines(&r.output());
    let rport: u16 = rl
        .iter()
        .find(|l| l.starts_with("m=audio "))
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(rport, port, "caller-facing and callee-facing ports differ");
    assert!(rl.contains(&"c=IN IP4 127.0.0.1".to_string()));

    let bye = sip(
        "BYE sip:alice@192.168.1.40:5080 SIP/2.0",
        "c1@x",
        "b1",
        Some("a1"),
        "2 BYE",
        "",
        None,
    );
    let b = Fake::new(&bye, "198.51.100.9", 5060);
    assert_eq!(script::end_media_session(&b, &e.cfg), 1, "{:?}", b.logs);
    // the session is gone: a second remove is an error
    assert_eq!(script::end_media_session(&b, &e.cfg), -1);
}

#[test]
fn return_codes_for_no_sdp_bad_input_disable_and_a_dead_relay() {
    let e = env("codes", (43100, 43199));
    // no SDP: -2
    let reg = sip(
        "OPTIONS sip:bob@example.net SIP/2.0",
        "c2@x",
        "a1",
        None,
        "1 OPTIONS",
        "",
        None,
    );
    let mut m = Fake::new(&reg, "198.51.100.7", 5060);
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), -2);
    // malformed SDP: -1 with a log line
    let bad = sip(
        "INVITE sip:bob@example.net SIP/2.0",
        "c3@x",
        "a1",
        None,
        "1 INVITE",
        "",
        Some("garbage\r\n"),
    );
    let mut m = Fake::new(&bad, "198.51.100.7", 5060);
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), -1);
    assert!(m.logged("malformed SDP"), "{:?}", m.logs);
    // malformed SIP: -1
    let mut m = Fake::new("NOT SIP AT ALL", "198.51.100.7", 5060);
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), -1);
    // a stored transaction copy is never changed
    let inv = sip(
        "INVITE sip:bob@example.net SIP/2.0",
        "c4@x",
        "a1",
        None,
        "1 INVITE",
        "",
        Some(&offer("192.168.1.40", 4000)),
    );
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    m.frozen = true;
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), -1);
    // disable=1: every function returns -1 and does nothing
    let mut off = e.cfg.clone();
    off.disable = true;
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    assert_eq!(script::use_media_proxy(&mut m, &off, &Ctx::default()), -1);
    assert_eq!(script::end_media_session(&m, &off), -1);
    assert_eq!(script::client_nat_test(&m, &off, "1"), -1);
    assert_eq!(script::fix_contact(&mut m, &off), -1);
    assert!(!script::can_engage(&m, &off));
    assert!(m.out.borrow().is_none());
    // a relay that does not answer: -1 and a clear line
    let mut dead = e.cfg.clone();
    dead.mediaproxy_socket = e.dir.join("nobody.sock");
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    assert_eq!(script::use_media_proxy(&mut m, &dead, &Ctx::default()), -1);
    assert!(m.logged("relay:"), "{:?}", m.logs);
}

#[test]
fn signaling_ip_avp_and_ice_candidate_avp_are_used() {
    let e = env("avp", (43200, 43299));
    let ice_offer =
        "v=0\r\no=- 1 1 IN IP4 192.168.1.40\r\ns=-\r\nc=IN IP4 192.168.1.40\r\nt=0 0\r\n\
        a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\nm=audio 4000 RTP/AVP 0\r\n\
        a=candidate:1 1 UDP 2130706431 192.168.1.40 4000 typ host\r\n";
    let inv = sip(
        "INVITE sip:bob@example.net SIP/2.0",
        "c5@x",
        "a1",
        None,
        "1 INVITE",
        "",
        Some(ice_offer),
    );
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    m.avps.push((Avp::IceCandidate, "high-priority".into()));
    m.avps.push((Avp::SignalingIp, "198.51.100.77".into()));
    assert_eq!(
        script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()),
        1,
        "{:?}",
        m.logs
    );
    let out = m.output();
    assert!(
        out.contains(" 2197815295 127.0.0.1 ") && out.contains("typ relay"),
        "relay candidate with high priority: {out}"
    );
}

#[test]
fn client_nat_test_and_fix_contact_on_real_messages() {
    let e = env("nat", (43300, 43399));
    let reg = sip(
        "REGISTER sip:example.net SIP/2.0",
        "c6@x",
        "a1",
        None,
        "1 REGISTER",
        "User-Agent: Phone/1\r\n",
        None,
    );
    let m = Fake::new(&reg, "198.51.100.7", 61000);
    assert_eq!(
        script::client_nat_test(&m, &e.cfg, "1"),
        1,
        "private Contact"
    );
    assert_eq!(
        script::client_nat_test(&m, &e.cfg, "2"),
        1,
        "source differs from Via"
    );
    assert_eq!(script::client_nat_test(&m, &e.cfg, "4"), 1, "private Via");
    assert_eq!(
        script::client_nat_test(&m, &e.cfg, "private-contact,diff-ip-src-via"),
        1
    );
    assert_eq!(script::client_nat_test(&m, &e.cfg, "8"), -1, "no SDP");
    assert_eq!(script::client_nat_test(&m, &e.cfg, "bogus"), -1);
    assert!(m.logged("unknown test"));

    let mut m = Fake::new(&reg, "198.51.100.7", 61000);
    assert_eq!(script::fix_contact(&mut m, &e.cfg), 1);
    let out = m.output();
    assert!(
        out.contains("Contact: <sip:alice@198.51.100.7:61000>\r\n"),
        "{out}"
    );
    assert_eq!(
        out.len(),
        reg.len() + "198.51.100.7:61000".len() - "192.168.1.40:5080".len()
    );

    // a public client: nothing to fix, no edit, and the tests say "not behind NAT"
    let public = reg.replace("192.168.1.40:5080", "198.51.100.7:61000");
    let mut m = Fake::new(&public, "198.51.100.7", 61000);
    assert_eq!(script::client_nat_test(&m, &e.cfg, "7"), -1);
    assert_eq!(script::fix_contact(&mut m, &e.cfg), 1);
    assert!(m.out.borrow().is_none());
}
