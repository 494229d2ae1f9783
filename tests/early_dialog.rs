//! `engage_media_proxy()` in the early dialog, in a real proxy running its example config
//! (OpenSIPS, or Kamailio with `--features kamailio`), on 127.0.0.1:
//!
//! - reliable provisional responses (RFC 3262): an offer in a reliable 183 and its answer in
//!   the PRACK, both rewritten to the relay;
//! - an UPDATE inside the early dialog (RFC 3311) that moves both sides' media: the UPDATE's
//!   offer and its 200's answer are both rewritten (the 200 to an early UPDATE is the case
//!   the original module misses), and RTP then flows both ways between the new ports through
//!   the relay.
//!
//! Needs the proxy's binary (`OPENSIPS_BIN` / `KAMAILIO_BIN` or `PATH`): `#[ignore]`d, and
//! `scripts/test.sh` includes the tests when there is one.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use support::process::{wait_until, Running, Site};
use support::sipcall::{recv_sip, try_ask};

use support::proxy::find;

fn udp(port: u16) -> UdpSocket {
    let s = UdpSocket::bind(("127.0.0.1", port)).expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn sdp(port: u16, version: u32) -> String {
    format!(
        "v=0\r\no=- 7 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
}

fn with_body(head: String, body: &str) -> String {
    if body.is_empty() {
        format!("{head}Content-Length: 0\r\n\r\n")
    } else {
        format!(
            "{head}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }
}

fn headers(msg: &str, name: &str) -> String {
    msg.split("\r\n")
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with(name))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Where a message's SDP sends the media (c= and the first m= port).
fn media_target(msg: &str) -> SocketAddr {
    let body = msg.split("\r\n\r\n").nth(1).unwrap_or("");
    let line = |p: &str| {
        body.split("\r\n")
            .find_map(|l| l.strip_prefix(p))
            .unwrap_or_else(|| panic!("no {p} line in:\n{msg}"))
            .to_string()
    };
    let port = line("m=audio ");
    let port = port.split(' ').next().unwrap_or("");
    format!("{}:{port}", line("c=IN IP4 "))
        .parse()
        .unwrap_or_else(|_| panic!("no media address in:\n{msg}"))
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0, (seq >> 8) as u8, seq as u8, 0, 0, 0, 160];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

struct Proxy {
    host: support::proxy::Proxy,
    site: Site,
    run: Running,
    addr: SocketAddr,
}

fn proxy(test: &str, name: &str, port: u16, range: (u16, u16)) -> Proxy {
    let host = find(test);
    let site = Site::new(name, port, range);
    let cfg = host.render_example(&site, "");
    let run = host.start(&site, &cfg);
    let sock = site.control_socket();
    let up = wait_until(Duration::from_secs(15), || {
        try_ask(&sock, "summary").is_ok_and(|l| l.starts_with('['))
    });
    assert!(up, "the relay never answered; log:\n{}", run.log_text());
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    Proxy {
        host,
        site,
        run,
        addr,
    }
}

impl Proxy {
    fn in_range(&self, a: SocketAddr) -> bool {
        let (lo, hi) = self.site.port_range;
        (lo..=hi).contains(&a.port())
    }

    fn sessions(&self) -> String {
        try_ask(&self.site.control_socket(), "sessions").unwrap_or_default()
    }

    fn finish(mut self) {
        self.run.terminate();
        assert!(self.run.wait_exit(Duration::from_secs(20)).is_some());
        let log = self.run.log_text();
        let problems = self.host.problems(&log);
        assert!(problems.is_empty(), "{problems:#?}\nlog:\n{log}");
    }
}

/// One early dialog between a caller and a registered callee (no NAT: the point here is the
/// SDP of each message). Messages are built from what the other side received.
struct Early<'a> {
    p: &'a Proxy,
    call_id: String,
    caller: UdpSocket,
    callee: UdpSocket,
    caller_port: u16,
    callee_port: u16,
    /// The INVITE as the callee received it (Vias, Record-Route).
    invite: String,
}

impl<'a> Early<'a> {
    /// REGISTER the callee, send the INVITE (with `offer` or none), return it as received.
    fn invite(p: &'a Proxy, base: u16, offer: Option<u16>) -> Early<'a> {
        let (caller_port, callee_port) = (base, base + 1);
        let (caller, callee) = (udp(caller_port), udp(callee_port));
        let reg = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{callee_port};branch=z9hG4bKr{base}\r\n\
             From: <sip:bob@127.0.0.1>;tag=r1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: reg-{base}\r\n\
             CSeq: 1 REGISTER\r\nContact: <sip:bob@127.0.0.1:{callee_port}>\r\nExpires: 300\r\n\
             Content-Length: 0\r\n\r\n"
        );
        callee.send_to(reg.as_bytes(), p.addr).unwrap();
        recv_sip(&callee, "SIP/2.0 200");
        let call_id = format!("early-{base}");
        let head = format!(
            "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{caller_port};branch=z9hG4bKi{base}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:{caller_port}>\r\n\
             Supported: 100rel\r\n"
        );
        let body = offer.map(|port| sdp(port, 1)).unwrap_or_default();
        caller
            .send_to(with_body(head, &body).as_bytes(), p.addr)
            .unwrap();
        let invite = recv_sip(&callee, "INVITE ");
        Early {
            p,
            call_id,
            caller,
            callee,
            caller_port,
            callee_port,
            invite,
        }
    }

    /// A reply of the callee to the INVITE, through the proxy; as the caller received it.
    fn invite_reply(&self, status: &str, reliable: bool, body: &str) -> String {
        let extra = if reliable {
            "Require: 100rel\r\nRSeq: 1\r\n"
        } else {
            ""
        };
        let head = format!(
            "SIP/2.0 {status}\r\n{}\r\n{}\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\n\
             To: <sip:bob@127.0.0.1>;tag=b1\r\nCall-ID: {}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:bob@127.0.0.1:{}>\r\n{extra}",
            headers(&self.invite, "Via:"),
            headers(&self.invite, "Record-Route:"),
            self.call_id,
            self.callee_port
        );
        self.callee
            .send_to(with_body(head, body).as_bytes(), self.p.addr)
            .unwrap();
        recv_sip(&self.caller, &format!("SIP/2.0 {status}"))
    }

    /// A request of the caller inside the (early) dialog, through the proxy; as the callee
    /// received it.
    fn request(&self, method: &str, cseq: u32, extra: &str, body: &str) -> String {
        let route = headers(&self.invite, "Record-Route:").replace("Record-Route:", "Route:");
        let head = format!(
            "{method} sip:bob@127.0.0.1:{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK{method}{cseq}\r\n\
             {route}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\n\
             To: <sip:bob@127.0.0.1>;tag=b1\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:alice@127.0.0.1:{}>\r\n{extra}",
            self.callee_port, self.caller_port, self.call_id, self.caller_port
        );
        self.caller
            .send_to(with_body(head, body).as_bytes(), self.p.addr)
            .unwrap();
        recv_sip(&self.callee, &format!("{method} "))
    }

    /// The callee's final answer to an in-dialog request `req` (as it received it); as the
    /// caller received it.
    fn answer(&self, req: &str, body: &str) -> String {
        let head = format!(
            "SIP/2.0 200 OK\r\n{}\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\n\
             To: <sip:bob@127.0.0.1>;tag=b1\r\nCall-ID: {}\r\n{}\r\n\
             Contact: <sip:bob@127.0.0.1:{}>\r\n",
            headers(req, "Via:"),
            self.call_id,
            headers(req, "CSeq:"),
            self.callee_port
        );
        self.callee
            .send_to(with_body(head, body).as_bytes(), self.p.addr)
            .unwrap();
        recv_sip(&self.caller, "SIP/2.0 200")
    }

    /// 200 to the INVITE (no SDP: offer and answer are done), ACK, BYE; the session is gone.
    fn confirm_and_hang_up(&self, next_cseq: u32) {
        self.invite_reply("200 OK", false, "");
        self.request("ACK", 1, "", "");
        let bye = self.request("BYE", next_cseq, "", "");
        self.answer(&bye, "");
        let sock = self.p.site.control_socket();
        let gone = wait_until(Duration::from_secs(5), || {
            try_ask(&sock, "summary").is_ok_and(|s| s.contains("\"session_count\":0"))
        });
        assert!(gone, "session left: {}", self.p.sessions());
    }
}

/// RTP both ways between `a` and `b` through the relay (`a` sends to `to_a_side`, the relay
/// address its SDP got; `b` likewise): every packet arrives, from the relay.
fn media_both_ways(a: &UdpSocket, to_a_side: SocketAddr, b: &UdpSocket, to_b_side: SocketAddr) {
    let mut buf = [0u8; 2048];
    // first packets latch each side; each may or may not reach the other side (the relay
    // sends to an address it has not learnt yet when the SDP's is routable): drain them
    a.send_to(&rtp(0, 0xA), to_a_side).unwrap();
    b.send_to(&rtp(0, 0xB), to_b_side).unwrap();
    for s in [a, b] {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        while s
            .recv_from(&mut buf)
            .is_ok_and(|(n, _)| buf[2..4] == [0, 0] && n > 12)
        {}
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    for seq in 1..=3u16 {
        a.send_to(&rtp(seq, 0xA), to_a_side).unwrap();
        let (n, from) = b.recv_from(&mut buf).expect("RTP from a at b");
        assert_eq!((&buf[..n], from), (&rtp(seq, 0xA)[..], to_b_side));
        b.send_to(&rtp(seq, 0xB), to_b_side).unwrap();
        let (n, from) = a.recv_from(&mut buf).expect("RTP from b at a");
        assert_eq!((&buf[..n], from), (&rtp(seq, 0xB)[..], to_a_side));
    }
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn offer_in_a_reliable_183_and_answer_in_the_prack() {
    let p = proxy(
        "offer_in_a_reliable_183_and_answer_in_the_prack",
        "early-prack",
        35600,
        (42400, 42499),
    );
    let (caller_rtp, callee_rtp) = (udp(36610), udp(36620));
    // late offer: the INVITE has no SDP; the callee offers in a reliable 183
    let call = Early::invite(&p, 36600, None);
    let got_183 = call.invite_reply("183 Session Progress", true, &sdp(36620, 1));
    let to_callee_side = media_target(&got_183);
    assert!(p.in_range(to_callee_side), "183 not rewritten:\n{got_183}");
    // the caller answers in the PRACK
    let prack = call.request("PRACK", 2, "RAck: 1 1 INVITE\r\n", &sdp(36610, 1));
    let to_caller_side = media_target(&prack);
    assert!(p.in_range(to_caller_side), "PRACK not rewritten:\n{prack}");
    assert_ne!(to_caller_side, to_callee_side);
    call.answer(&prack, "");
    // early media flows both ways through the relay
    media_both_ways(&callee_rtp, to_caller_side, &caller_rtp, to_callee_side);
    call.confirm_and_hang_up(3);
    p.finish();
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn an_early_update_moves_the_media_of_both_sides() {
    let p = proxy(
        "an_early_update_moves_the_media_of_both_sides",
        "early-update",
        35610,
        (42500, 42599),
    );
    let call = Early::invite(&p, 36700, Some(36710));
    let to_caller_side = media_target(&call.invite);
    assert!(p.in_range(to_caller_side), "{}", call.invite);
    let got_183 = call.invite_reply("183 Session Progress", true, &sdp(36720, 1));
    let to_callee_side = media_target(&got_183);
    assert!(p.in_range(to_callee_side), "{got_183}");
    let prack = call.request("PRACK", 2, "RAck: 1 1 INVITE\r\n", "");
    call.answer(&prack, "");
    // both sides move their media to new ports with an UPDATE in the early dialog
    let (caller_rtp, callee_rtp) = (udp(36712), udp(36722));
    let update = call.request("UPDATE", 3, "", &sdp(36712, 2));
    let to_caller_side = media_target(&update);
    assert!(
        p.in_range(to_caller_side),
        "UPDATE not rewritten:\n{update}"
    );
    let ok = call.answer(&update, &sdp(36722, 2));
    let to_callee_side = media_target(&ok);
    assert!(
        p.in_range(to_callee_side),
        "the 200 to the early UPDATE not rewritten:\n{ok}\nsessions: {}",
        p.sessions()
    );
    media_both_ways(&callee_rtp, to_caller_side, &caller_rtp, to_callee_side);
    call.confirm_and_hang_up(4);
    p.finish();
}
