//! One call through a proxy running its example config on 127.0.0.1, whichever proxy it is: a
//! callee registers from a private Contact, a caller's INVITE reaches it with the SDP pointing
//! at the relay and the caller's Contact fixed, the 200 OK reaches the caller likewise, RTP
//! flows both ways through the relay, and the BYE frees the relay's session.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::process::{wait_until, Site};

fn sock(addr: &str) -> UdpSocket {
    let s = UdpSocket::bind(addr).expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

pub fn recv_sip(s: &UdpSocket, want: &str) -> String {
    let mut buf = [0u8; 8192];
    for _ in 0..10 {
        let (n, _) = s.recv_from(&mut buf).expect("SIP message within 5 s");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with(want) {
            return text;
        }
    }
    panic!("no {want:?} received");
}

fn body_line<'a>(msg: &'a str, prefix: &str) -> &'a str {
    let body = msg.split("\r\n\r\n").nth(1).unwrap_or("");
    body.split("\r\n")
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} line in:\n{msg}"))
}

fn media_target(msg: &str) -> SocketAddr {
    let ip = body_line(msg, "c=IN IP4 ").trim_start_matches("c=IN IP4 ");
    let port = body_line(msg, "m=audio ")
        .split(' ')
        .nth(1)
        .expect("m= port");
    format!("{ip}:{port}")
        .parse()
        .expect("c= and m= make an address")
}

fn headers(msg: &str, name: &str) -> Vec<String> {
    msg.split("\r\n")
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with(name))
        .map(str::to_string)
        .collect()
}

fn sdp(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
}

/// One command to the relay's control socket; its one-line answer.
pub fn try_ask(socket: &Path, cmd: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{cmd}\r\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line)
}

fn ask(socket: &Path, cmd: &str) -> String {
    try_ask(socket, cmd).expect("the relay answers on its control socket")
}

pub fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0, (seq >> 8) as u8, seq as u8, 0, 0, 0, 160];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// A call set up through the proxy: the two user agents' SIP and RTP sockets, where each
/// side's SDP now sends its media (the relay), and the proxy's Record-Route.
pub struct Call {
    pub proxy: SocketAddr,
    pub base: u16,
    pub callee: UdpSocket,
    pub caller: UdpSocket,
    pub callee_rtp: UdpSocket,
    pub caller_rtp: UdpSocket,
    pub to_relay_from_callee: SocketAddr,
    pub to_relay_from_caller: SocketAddr,
    pub rr: String,
    pub nat: bool,
}

/// The user agents' addresses in their SIP and SDP: behind NAT (private addresses, which the
/// example configs fix from the packets' sources) or not (their loopback sockets).
fn ua_addrs(base: u16, nat: bool) -> (String, String) {
    if nat {
        ("192.168.1.50:5090".into(), "192.168.1.40:5080".into())
    } else {
        (
            format!("127.0.0.1:{base}"),
            format!("127.0.0.1:{}", base + 1),
        )
    }
}

/// REGISTER, then INVITE and its 200 OK through the proxy, both SDPs rewritten to the relay
/// (`relay_range`: its ports). With `nat`, the user agents put private addresses in their
/// SIP and SDP, and the proxy's fixes are checked too.
pub fn establish(site: &Site, relay_range: (u16, u16), nat: bool) -> Call {
    let proxy: SocketAddr = format!("127.0.0.1:{}", site.sip_port).parse().unwrap();
    let base = site.sip_port + 1000;
    let callee = sock(&format!("127.0.0.1:{}", base));
    let caller = sock(&format!("127.0.0.1:{}", base + 1));
    let callee_rtp = sock(&format!("127.0.0.1:{}", base + 2));
    let caller_rtp = sock(&format!("127.0.0.1:{}", base + 4));
    let (bob, alice) = ua_addrs(base, nat);
    let ip = |hp: &str| hp.split(':').next().unwrap_or("").to_string();

    // the callee registers (behind NAT: the registrar stores the source address through the
    // received AVP of the example config)
    let reg = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {bob};branch=z9hG4bKr1\r\n\
         From: <sip:bob@127.0.0.1>;tag=r1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: reg-{base}\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:bob@{bob}>\r\nExpires: 300\r\n\
         Content-Length: 0\r\n\r\n"
    );
    callee.send_to(reg.as_bytes(), proxy).unwrap();
    let ok = recv_sip(&callee, "SIP/2.0 200");
    assert!(ok.contains("Contact:"), "{ok}");

    let offer = sdp(&ip(&alice), base + 4);
    let inv = format!(
        "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {alice};branch=z9hG4bKi1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\n\
         Call-ID: call-{base}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{alice}>\r\n\
         User-Agent: Caller/1\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{offer}",
        offer.len()
    );
    caller.send_to(inv.as_bytes(), proxy).unwrap();
    let got = recv_sip(&callee, "INVITE ");
    // the SDP now points at the relay; everything else in it is unchanged
    let to_relay_from_callee = media_target(&got);
    assert!(
        (relay_range.0..=relay_range.1).contains(&to_relay_from_callee.port()),
        "{got}"
    );
    assert!(
        got.contains(&format!("o=- 1 1 IN IP4 {}\r\n", ip(&alice))),
        "{got}"
    );
    // fix_contact: the caller's Contact is where its packets come from
    assert!(
        got.contains(&format!("Contact: <sip:alice@127.0.0.1:{}>", base + 1)),
        "{got}"
    );

    let answer = sdp(&ip(&bob), base + 2);
    let vias = headers(&got, "Via:").join("\r\n");
    let rr = headers(&got, "Record-Route:").join("\r\n");
    let ok = format!(
        "SIP/2.0 200 OK\r\n{vias}\r\n{rr}\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\n\
         To: <sip:bob@127.0.0.1>;tag=b1\r\nCall-ID: call-{base}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:bob@{bob}>\r\nServer: Callee/1\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{answer}",
        answer.len()
    );
    callee.send_to(ok.as_bytes(), proxy).unwrap();
    let got_ok = recv_sip(&caller, "SIP/2.0 200");
    let to_relay_from_caller = media_target(&got_ok);
    assert_ne!(to_relay_from_caller, to_relay_from_callee);
    assert!(
        got_ok.contains(&format!("Contact: <sip:bob@127.0.0.1:{base}>")),
        "{got_ok}"
    );
    Call {
        proxy,
        base,
        callee,
        caller,
        callee_rtp,
        caller_rtp,
        to_relay_from_callee,
        to_relay_from_caller,
        rr,
        nat,
    }
}

impl Call {
    /// A request from the caller inside the dialog, through the proxy (Route from the
    /// Record-Route).
    pub fn in_dialog(&self, method: &str, cseq: u32) -> String {
        let route = self.rr.replace("Record-Route:", "Route:");
        let base = self.base;
        let (_, alice) = ua_addrs(base, self.nat);
        format!(
            "{method} sip:bob@127.0.0.1:{base} SIP/2.0\r\nVia: SIP/2.0/UDP {alice};branch=z9hG4bK{method}{cseq}\r\n\
             {route}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\n\
             To: <sip:bob@127.0.0.1>;tag=b1\r\nCall-ID: call-{base}\r\nCSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n"
        )
    }

    /// The caller's ACK, through the proxy to the callee: the dialog is confirmed.
    pub fn ack(&self) {
        self.caller
            .send_to(self.in_dialog("ACK", 1).as_bytes(), self.proxy)
            .unwrap();
        recv_sip(&self.callee, "ACK ");
    }

    /// Media both ways, only through the relay (`control`: the relay's socket).
    pub fn media(&self, control: &Path) {
        let Call {
            base,
            caller_rtp,
            callee_rtp,
            to_relay_from_callee,
            to_relay_from_caller,
            ..
        } = self;
        let (base, to_relay_from_callee, to_relay_from_caller) =
            (*base, *to_relay_from_callee, *to_relay_from_caller);
        // media both ways, only through the relay: each side sends to the address its SDP got.
        // The relay learns each side from its first packet (symmetric latching: behind NAT the
        // SDPs hold private addresses); those first packets may find no peer yet and are not
        // counted here.
        let mut buf = [0u8; 2048];
        latch_both(
            (caller_rtp, to_relay_from_caller),
            (callee_rtp, to_relay_from_callee),
        );
        for seq in 1..=5u16 {
            caller_rtp
                .send_to(&rtp(seq, 0xA), to_relay_from_caller)
                .unwrap();
            let (n, from) = callee_rtp.recv_from(&mut buf).expect("RTP at the callee");
            assert_eq!(&buf[..n], &rtp(seq, 0xA)[..]);
            assert_eq!(
                from, to_relay_from_callee,
                "from the relay's callee-side port"
            );
            callee_rtp
                .send_to(&rtp(seq, 0xB), to_relay_from_callee)
                .unwrap();
            let (n, from) = caller_rtp.recv_from(&mut buf).expect("RTP at the caller");
            assert_eq!(&buf[..n], &rtp(seq, 0xB)[..]);
            assert_eq!(from, to_relay_from_caller);
        }
        let sessions = ask(control, "sessions");
        assert!(
            sessions.contains(&format!("\"call_id\":\"call-{base}\"")),
            "{sessions}"
        );
        let count = |key: &str| -> u64 {
            let at = sessions.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
            sessions[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .expect("a number")
        };
        // 5 relayed packets each way, plus possibly the first (latching) packet
        assert!((5..=6).contains(&count("caller_packets")), "{sessions}");
        assert!((5..=6).contains(&count("callee_packets")), "{sessions}");
    }

    /// BYE from the caller through the proxy: it reaches the callee and ends the session.
    pub fn bye(&self, control: &Path) {
        let base = self.base;
        self.caller
            .send_to(self.in_dialog("BYE", 2).as_bytes(), self.proxy)
            .unwrap();
        let got_bye = recv_sip(&self.callee, "BYE ");
        assert!(got_bye.contains(&format!("call-{base}")));
        let freed = wait_until(Duration::from_secs(5), || {
            ask(control, "summary").contains("\"session_count\":0")
        });
        assert!(freed, "session not removed: {}", ask(control, "summary"));
    }
}

/// One call: REGISTER, INVITE/200 from user agents behind NAT, RTP both ways, BYE. `control` is
/// the relay's socket.
pub fn call(site: &Site, control: &Path, relay_range: (u16, u16)) {
    let c = establish(site, relay_range, true);
    c.media(control);
    c.bye(control);
}

/// One RTP packet (sequence 0) from each side to the relay address its SDP got, so that the
/// relay latches both; each reached the other side (the relay sends to an SDP address it can
/// route to before it learnt the side) or was dropped: drained here. The sockets' read timeout
/// is 5 s afterwards.
pub fn latch_both(caller: (&UdpSocket, SocketAddr), callee: (&UdpSocket, SocketAddr)) {
    caller.0.send_to(&rtp(0, 0xA), caller.1).unwrap();
    callee.0.send_to(&rtp(0, 0xB), callee.1).unwrap();
    let mut buf = [0u8; 2048];
    for s in [caller.0, callee.0] {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        while s
            .recv_from(&mut buf)
            .is_ok_and(|(n, _)| n > 4 && buf[2..4] == [0, 0])
        {}
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
}
