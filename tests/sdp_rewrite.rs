//! SDP rewriting: exact output for each rule, and the error and warning cases.

mod shared_corpus;

use mediaproxy::media::{Direction, RelayAnswer};
use mediaproxy::sdp::{apply, ErrorKind, IcePriority, RewriteOptions, Sdp, WarningKind};
use mediaproxy::sip::SipMsg;

fn rewrite(body: &str, ip: &str, ports: &[u16], ice: IcePriority) -> String {
    let p = Sdp::parse(body.as_bytes()).unwrap();
    let answer = RelayAnswer {
        ip: ip.parse().unwrap(),
        ports: ports.to_vec(),
    };
    let edits = p
        .sdp
        .plan(&answer, &RewriteOptions { ice_candidate: ice })
        .unwrap();
    String::from_utf8(apply(body.as_bytes(), &edits)).unwrap()
}

const ICE: &str = "v=0\r\n\
o=- 1 2 IN IP4 192.168.1.5\r\n\
s=-\r\n\
c=IN IP4 192.168.1.5\r\n\
t=0 0\r\n\
a=ice-ufrag:abcd\r\n\
a=ice-pwd:0123456789abcdef012345\r\n\
m=audio 5004 RTP/AVP 0\r\n\
a=rtcp:5005 IN IP4 192.168.1.5\r\n\
a=candidate:1 1 UDP 2130706431 192.168.1.5 5004 typ host\r\n\
a=candidate:1 2 UDP 2130706430 192.168.1.5 5005 typ host\r\n\
a=sendrecv\r\n";

#[test]
fn ice_candidates_high_priority_with_rtcp_component() {
    let out = rewrite(ICE, "203.0.113.5", &[40000], IcePriority::High);
    assert_eq!(
        out,
        "v=0\r\n\
o=- 1 2 IN IP4 192.168.1.5\r\n\
s=-\r\n\
c=IN IP4 203.0.113.5\r\n\
t=0 0\r\n\
a=ice-ufrag:abcd\r\n\
a=ice-pwd:0123456789abcdef012345\r\n\
m=audio 40000 RTP/AVP 0\r\n\
a=rtcp:40001 IN IP4 203.0.113.5\r\n\
a=candidate:R57100cb 1 UDP 2197815295 203.0.113.5 40000 typ relay raddr 203.0.113.5 rport 40000\r\n\
a=candidate:R57100cb 2 UDP 2197815294 203.0.113.5 40001 typ relay raddr 203.0.113.5 rport 40001\r\n\
a=candidate:1 1 UDP 2130706431 192.168.1.5 5004 typ host\r\n\
a=candidate:1 2 UDP 2130706430 192.168.1.5 5005 typ host\r\n\
a=sendrecv\r\n"
    );
    let low = rewrite(ICE, "203.0.113.5", &[40000], IcePriority::Low);
    assert!(low.contains("a=candidate:R57100cb 1 UDP 16777215 203.0.113.5 40000 typ relay"));
    assert!(low.contains("a=candidate:R57100cb 2 UDP 16777214 203.0.113.5 40001 typ relay"));
    let none = rewrite(ICE, "203.0.113.5", &[40000], IcePriority::None);
    assert!(!none.contains("typ relay"));
    // ICE needs ufrag and pwd: without pwd no candidate is added.
    let no_pwd = ICE.replace("a=ice-pwd:0123456789abcdef012345\r\n", "");
    assert!(!rewrite(&no_pwd, "203.0.113.5", &[40000], IcePriority::High).contains("typ relay"));
}

#[test]
fn ipv6_relay_crosses_the_address_family() {
    let out = rewrite(ICE, "2001:db8::77", &[40002], IcePriority::None);
    assert!(out.contains("\r\nc=IN IP6 2001:db8::77\r\n"), "{out}");
    assert!(out.contains("\r\na=rtcp:40003 IN IP6 2001:db8::77\r\n"));
    assert!(out.contains("\r\nm=audio 40002 RTP/AVP 0\r\n"));
    // o= is never touched.
    assert!(out.contains("o=- 1 2 IN IP4 192.168.1.5\r\n"));
    let back = "v=0\nc=IN IP6 2001:db8::9\nm=audio 6000 RTP/AVP 0\n";
    assert_eq!(
        rewrite(back, "198.51.100.2", &[40000], IcePriority::None),
        "v=0\nc=IN IP4 198.51.100.2\nm=audio 40000 RTP/AVP 0\n"
    );
    let p = Sdp::parse(back.as_bytes()).unwrap();
    assert_eq!(p.sdp.relay_streams()[0].addr, "2001:db8::9");
}

#[test]
fn ice_candidates_of_an_ipv6_relay_in_an_ipv4_sdp() {
    // a relay interface of the other family than the party's: its candidates carry its address
    let out = rewrite(ICE, "2001:db8::77", &[40002], IcePriority::High);
    assert!(
        out.contains(
            "\r\na=candidate:Rcf0d0120 1 UDP 2197815295 2001:db8::77 40002 typ relay raddr 2001:db8::77 rport 40002\r\n\
             a=candidate:Rcf0d0120 2 UDP 2197815294 2001:db8::77 40003 typ relay raddr 2001:db8::77 rport 40003\r\n"
        ),
        "{out}"
    );
    assert!(out.contains("\r\nc=IN IP6 2001:db8::77\r\n"), "{out}");
}

#[test]
fn split_session_c_when_one_stream_is_left_alone() {
    // Relay port 0 for the video stream: leave it alone, so the session c= is split.
    let body = "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=rtcp:5001\r\nm=video 5002 RTP/AVP 96\r\na=rtcp:5003\r\n";
    assert_eq!(
        rewrite(body, "203.0.113.77", &[40000, 0], IcePriority::None),
        "v=0\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\nc=IN IP4 203.0.113.77\r\na=rtcp:40001\r\n\
m=video 5002 RTP/AVP 96\r\nc=IN IP4 10.0.0.1\r\na=rtcp:5003\r\n"
    );
    // Fewer ports than streams: the same.
    assert_eq!(
        rewrite(body, "203.0.113.77", &[40000], IcePriority::None),
        rewrite(body, "203.0.113.77", &[40000, 0], IcePriority::None)
    );
    // Nothing relayed: nothing changes.
    assert_eq!(
        rewrite(body, "203.0.113.77", &[0, 0], IcePriority::None),
        body
    );
    // A stream with its own c= does not depend on the session c=.
    let own = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\nm=video 5002 RTP/AVP 96\r\nc=IN IP4 10.0.0.2\r\n";
    assert_eq!(
        rewrite(own, "203.0.113.77", &[40000, 0], IcePriority::None),
        "v=0\r\nc=IN IP4 203.0.113.77\r\nm=audio 40000 RTP/AVP 0\r\nm=video 5002 RTP/AVP 96\r\nc=IN IP4 10.0.0.2\r\n"
    );
}

#[test]
fn split_after_a_last_m_line_without_line_end_and_lf_only() {
    let body = "v=0\nc=IN IP4 10.0.0.1\nm=audio 5000 RTP/AVP 0\nm=message 9 TCP/MSRP *";
    assert_eq!(
        rewrite(body, "203.0.113.77", &[40000], IcePriority::None),
        "v=0\nm=audio 40000 RTP/AVP 0\nc=IN IP4 203.0.113.77\nm=message 9 TCP/MSRP *\nc=IN IP4 10.0.0.1"
    );
}

#[test]
fn hold_port_zero_port_count_and_multicast() {
    let hold = "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 5000 RTP/AVP 0\r\na=rtcp:5001 IN IP4 0.0.0.0\r\na=sendonly\r\n";
    assert_eq!(
        rewrite(hold, "203.0.113.77", &[40000], IcePriority::None),
        "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 40000 RTP/AVP 0\r\na=rtcp:40001 IN IP4 203.0.113.77\r\na=sendonly\r\n"
    );
    let zero = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 0\r\na=rtcp:0\r\n";
    assert_eq!(
        rewrite(zero, "203.0.113.77", &[40000], IcePriority::None),
        "v=0\r\nc=IN IP4 203.0.113.77\r\nm=audio 0 RTP/AVP 0\r\na=rtcp:0\r\n"
    );
    let counts = "v=0\r\nm=audio 5000/1 RTP/AVP 0\r\nc=IN IP4 224.2.1.1/127/3\r\nm=video 6000/2 RTP/AVP 31\r\nc=IN IP4 10.0.0.1\r\n";
    let p = Sdp::parse(counts.as_bytes()).unwrap();
    let kinds: Vec<_> = p.warnings.iter().map(|w| w.kind).collect();
    assert!(kinds.contains(&WarningKind::PortCount));
    assert!(kinds.contains(&WarningKind::MulticastConnection));
    assert_eq!(p.sdp.relay_streams()[0].addr, "224.2.1.1");
    assert_eq!(p.sdp.relay_streams()[1].port, 6000);
    assert_eq!(
        rewrite(counts, "203.0.113.77", &[40000, 40002], IcePriority::None),
        "v=0\r\nm=audio 40000/1 RTP/AVP 0\r\nc=IN IP4 203.0.113.77\r\nm=video 40002 RTP/AVP 31\r\nc=IN IP4 203.0.113.77\r\n"
    );
}

#[test]
fn media_description_for_the_control_protocol() {
    let body = "v=0\r\nc=IN IP6 2001:db8::5\r\na=recvonly\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n\
m=audio 5000 RTP/SAVPF 0\r\na=candidate:1 1 udp 1 2001:db8::5 5000 typ host\r\n\
m=video 5002 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 10.1.1.1\r\na=inactive\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
m=image 6000 udptl t38\r\na=remote-candidates:1 10.0.0.1 5000\r\n";
    let p = Sdp::parse(body.as_bytes()).unwrap();
    let s = p.sdp.relay_streams();
    let got: Vec<_> = s
        .iter()
        .map(|d| {
            (
                d.media_type.as_str(),
                d.addr.as_str(),
                d.port,
                d.direction,
                d.ice,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("audio", "2001:db8::5", 5000, Direction::RecvOnly, true),
            ("video", "10.1.1.1", 5002, Direction::Inactive, false),
            ("image", "2001:db8::5", 6000, Direction::RecvOnly, false),
        ]
    );
    assert!(p.sdp.has_remote_candidates());
    let p = Sdp::parse(
        b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 1 RTP/AVP 0\r\na=sendonly \r\na=recvonly\r\n",
    )
    .unwrap();
    assert_eq!(p.sdp.relay_streams()[0].direction, Direction::SendOnly);
    assert!(!Sdp::parse(ICE.as_bytes())
        .unwrap()
        .sdp
        .has_remote_candidates());
}

#[test]
fn errors_carry_offset_and_excerpt() {
    let cases: &[(&str, ErrorKind, usize, &[u8])] = &[
        (
            "o=- 1 1 IN IP4 1.2.3.4\r\n",
            ErrorKind::NoVersion,
            0,
            b"o=- 1 1 IN IP4 1.2.3.4",
        ),
        ("", ErrorKind::NoVersion, 0, b""),
        ("v=0\r\nv=0\r\n", ErrorKind::DuplicateVersion, 5, b"v=0"),
        ("v=0\r\nhello\r\n", ErrorKind::BadLine, 5, b"hello"),
        ("v=0\r\nm=audio\r\n", ErrorKind::BadMedia, 12, b""),
        (
            "v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
            ErrorKind::BadMedia,
            13,
            b"70000 RTP/AVP 0",
        ),
        (
            "v=0\r\nc=IN IP4 1.2.3.4 junk\r\n",
            ErrorKind::BadConnection,
            22,
            b"junk",
        ),
        (
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\na=rtcp:x\r\n",
            ErrorKind::BadRtcp,
            51,
            b"x",
        ),
        (
            "v=0\r\nm=audio 1 RTP/AVP 0\r\n",
            ErrorKind::MissingConnection,
            5,
            b"m=audio 1 RTP/AVP 0",
        ),
    ];
    for &(body, kind, offset, excerpt) in cases {
        let e = Sdp::parse(body.as_bytes()).unwrap_err();
        assert_eq!(
            (e.kind, e.offset, e.excerpt.as_bytes()),
            (kind, offset, excerpt),
            "{body:?}"
        );
    }
    // The same faults in a stream we never touch are only warnings.
    let p = Sdp::parse(
        b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=message 9 TCP/MSRP *\r\nc=IN IP9 x\r\na=rtcp:x\r\n",
    )
    .unwrap();
    let kinds: Vec<_> = p.warnings.iter().map(|w| (w.kind, w.offset)).collect();
    assert_eq!(
        kinds,
        vec![
            (WarningKind::IgnoredMalformed, 47),
            (WarningKind::IgnoredMalformed, 59)
        ]
    );
    // A port-0 supported stream without c= is listed as 0.0.0.0.
    let p = Sdp::parse(b"v=0\nm=audio 0 RTP/AVP 0\n").unwrap();
    assert_eq!(p.sdp.relay_streams()[0].addr, "0.0.0.0");

    // Plan errors.
    let p = Sdp::parse(ICE.as_bytes()).unwrap();
    let too_many = RelayAnswer {
        ip: "203.0.113.1".parse().unwrap(),
        ports: vec![1, 2],
    };
    let e = p
        .sdp
        .plan(&too_many, &RewriteOptions::default())
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooManyPorts);
    let last = RelayAnswer {
        ip: "203.0.113.1".parse().unwrap(),
        ports: vec![65535],
    };
    let e = p.sdp.plan(&last, &RewriteOptions::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::RelayPort);
}

#[test]
fn edits_apply_to_the_whole_message_at_the_sdp_offset() {
    let test = "edits_apply_to_the_whole_message_at_the_sdp_offset";
    edits_apply_at_the_sdp_offset(&shared_corpus::own_file(
        "sip",
        "invite-audio-behind-nat.sip",
    ));
    if let Some(msg) = shared_corpus::file("sip", "sipp-uac-invite.sip", test) {
        edits_apply_at_the_sdp_offset(&msg);
    }
}

fn edits_apply_at_the_sdp_offset(msg: &[u8]) {
    let m = SipMsg::scan(msg).unwrap();
    let (off, sdp) = m.sdp_body().unwrap();
    let p = Sdp::parse(sdp).unwrap();
    let answer = RelayAnswer {
        ip: "203.0.113.77".parse().unwrap(),
        ports: vec![40000],
    };
    let mut edits = p.sdp.plan(&answer, &RewriteOptions::default()).unwrap();
    assert!(!edits.is_empty());
    let sdp_out = apply(sdp, &edits);
    for e in &mut edits {
        e.offset += off;
    }
    let msg_out = apply(msg, &edits);
    assert_eq!(&msg_out[..off], &msg[..off]);
    assert_eq!(&msg_out[off..], &sdp_out[..]);
    let text = String::from_utf8(sdp_out).unwrap();
    assert!(text.contains("c=IN IP4 203.0.113.77\r\n"), "{text}");
    assert!(text.contains("m=audio 40000 RTP/AVP 0"), "{text}");
}
