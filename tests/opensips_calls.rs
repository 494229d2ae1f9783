//! Calls through a real OpenSIPS running `cfg-examples/opensips.cfg`, on 127.0.0.1: a callee
//! registers, a caller's INVITE reaches it with the SDP pointing at the relay, the 200 OK
//! reaches the caller likewise, RTP flows both ways through the relay, and the BYE frees the
//! ports. Once with the embedded relay, once with `relay_mode = "external"` driving the crate's
//! standalone relay binary (as an external MediaProxy dispatcher would be driven).
//!
//! Needs an OpenSIPS binary (`OPENSIPS_BIN` or `PATH`); without one each test says SKIPPED.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::opensips::{self as os, Site};

fn sock(addr: &str) -> UdpSocket {
    let s = UdpSocket::bind(addr).expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn recv_sip(s: &UdpSocket, want: &str) -> String {
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

fn ask(socket: &Path, cmd: &str) -> String {
    os::ask(socket, cmd).expect("control socket answers")
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0, (seq >> 8) as u8, seq as u8, 0, 0, 0, 160];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// One call: REGISTER, INVITE/200/ACK, RTP both ways, BYE. `control` is the relay's socket.
fn call(site: &Site, control: &Path, relay_range: (u16, u16)) {
    let proxy: SocketAddr = format!("127.0.0.1:{}", site.sip_port).parse().unwrap();
    let base = site.sip_port + 1000;
    let callee = sock(&format!("127.0.0.1:{}", base));
    let caller = sock(&format!("127.0.0.1:{}", base + 1));
    let callee_rtp = sock(&format!("127.0.0.1:{}", base + 2));
    let caller_rtp = sock(&format!("127.0.0.1:{}", base + 4));

    // the callee registers a private Contact (it is "behind NAT": the registrar stores the
    // source address through the received AVP of the example config)
    let reg = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.50:5090;branch=z9hG4bKr1\r\n\
         From: <sip:bob@127.0.0.1>;tag=r1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: reg-{base}\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:bob@192.168.1.50:5090>\r\nExpires: 300\r\n\
         Content-Length: 0\r\n\r\n"
    );
    callee.send_to(reg.as_bytes(), proxy).unwrap();
    let ok = recv_sip(&callee, "SIP/2.0 200");
    assert!(ok.contains("Contact:"), "{ok}");

    let offer = sdp("192.168.1.40", base + 4);
    let inv = format!(
        "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.40:5080;branch=z9hG4bKi1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\n\
         Call-ID: call-{base}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@192.168.1.40:5080>\r\n\
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
    assert!(got.contains("o=- 1 1 IN IP4 192.168.1.40\r\n"), "{got}");
    // fix_contact: the caller's Contact is where its packets come from
    assert!(
        got.contains(&format!("Contact: <sip:alice@127.0.0.1:{}>", base + 1)),
        "{got}"
    );

    let answer = sdp("192.168.1.50", base + 2);
    let vias = headers(&got, "Via:").join("\r\n");
    let rr = headers(&got, "Record-Route:").join("\r\n");
    let ok = format!(
        "SIP/2.0 200 OK\r\n{vias}\r\n{rr}\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\n\
         To: <sip:bob@127.0.0.1>;tag=b1\r\nCall-ID: call-{base}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:bob@192.168.1.50:5090>\r\nServer: Callee/1\r\n\
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

    // media both ways, only through the relay: each side sends to the address its SDP got.
    // Both SDPs hold private addresses, so the relay learns each side from its first packet
    // (symmetric latching); those first packets may find no peer yet and are not counted here.
    let mut buf = [0u8; 2048];
    caller_rtp
        .send_to(&rtp(0, 0xA), to_relay_from_caller)
        .unwrap();
    callee_rtp
        .send_to(&rtp(0, 0xB), to_relay_from_callee)
        .unwrap();
    // the callee's latch packet reached the (now latched) caller, or was dropped: drain it
    caller_rtp
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let _ = caller_rtp.recv_from(&mut buf);
    caller_rtp
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
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

    // BYE from the caller through the proxy (Route from the Record-Route) ends the session
    let route = rr.replace("Record-Route:", "Route:");
    let bye = format!(
        "BYE sip:bob@127.0.0.1:{base} SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.40:5080;branch=z9hG4bKb1\r\n\
         {route}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\n\
         To: <sip:bob@127.0.0.1>;tag=b1\r\nCall-ID: call-{base}\r\nCSeq: 2 BYE\r\n\
         Content-Length: 0\r\n\r\n"
    );
    caller.send_to(bye.as_bytes(), proxy).unwrap();
    let got_bye = recv_sip(&callee, "BYE ");
    assert!(got_bye.contains(&format!("call-{base}")));
    let freed = os::wait_until(Duration::from_secs(5), || {
        ask(control, "summary").contains("\"session_count\":0")
    });
    assert!(freed, "session not removed: {}", ask(control, "summary"));
}

#[test]
fn a_call_through_the_embedded_relay() {
    let Some(host) = os::host("a_call_through_the_embedded_relay") else {
        return;
    };
    let site = Site::new("call-emb", 35200, (42000, 42099));
    let cfg = os::render_example(&host, &site, "");
    let mut run = os::start(&host, &site, &cfg);
    let sock = site.control_socket();
    assert!(
        os::wait_until(Duration::from_secs(15), || sock.exists()),
        "relay not up; log:\n{}",
        run.log_text()
    );
    call(&site, &sock, (42000, 42099));
    // the dialog's end (BYE) produced exactly one accounting line
    let acct = run
        .log_text()
        .lines()
        .filter(|l| l.contains("mediaproxy-acct: {\"call_id\":\"call-36200\""))
        .count();
    assert_eq!(acct, 1, "log:\n{}", run.log_text());
    run.terminate();
    assert!(run.wait_exit(Duration::from_secs(20)).is_some());
    let log = run.log_text();
    assert!(
        !log.contains("ERROR:mediaproxy") && !log.contains("CRITICAL"),
        "{log}"
    );
}

struct RelayBin(Child);
impl Drop for RelayBin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_call_through_an_external_relay() {
    let Some(host) = os::host("a_call_through_an_external_relay") else {
        return;
    };
    let site = Site::new("call-ext", 35300, (42100, 42199));
    let sock = site.dir.join("external.sock");
    let _relay = RelayBin(
        Command::new(env!("CARGO_BIN_EXE_mediaproxy-relay"))
            .arg("--socket")
            .arg(&sock)
            .args(["--listen-ip", "127.0.0.1", "--port-range", "42200-42299"])
            .args(["--threads", "1", "--max-seconds", "120"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mediaproxy-relay"),
    );
    assert!(os::wait_until(Duration::from_secs(10), || sock.exists()));
    let extra = format!(
        "modparam(\"mediaproxy\", \"relay_mode\", \"external\")\n\
         modparam(\"mediaproxy\", \"mediaproxy_socket\", \"{}\")",
        sock.display()
    );
    let cfg = os::render_example(&host, &site, &extra);
    let mut run = os::start(&host, &site, &cfg);
    // no relay process of our own in external mode
    assert!(os::wait_until(Duration::from_secs(10), || {
        run.log_text().contains("INFO:mediaproxy:mod_init")
    }));
    std::thread::sleep(Duration::from_millis(500));
    let children = os::children_of(run.child.id());
    assert!(
        children.iter().all(|&p| os::thread_count(p) < 4),
        "a relay process was started in external mode"
    );
    call(&site, &sock, (42200, 42299));
    run.terminate();
    assert!(run.wait_exit(Duration::from_secs(20)).is_some());
    assert!(
        sock.exists(),
        "the external relay's socket is not ours to remove"
    );
}
