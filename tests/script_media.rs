//! The script functions' media settings through a real relay on a loopback control socket:
//! `sip_asymmetrics` and `rtp_asymmetrics`, and the latching of `learn_from_signaling_ip` and
//! the heuristic policy (real RTP on real sockets; the SIP through the fake message of
//! `tests/fakemsg/`).

mod fakemsg;

use fakemsg::*;
use mediaproxy::script::{self, Ctx};

/// INVITE (from `caller_ip`, with `caller_ua`, SDP at `caller_sdp`) and 200 OK (SDP at
/// 127.0.0.1:`callee_port`) through `use_media_proxy`: where the caller must send (the
/// relay's caller side) and where the callee must send.
fn setup_call(
    e: &Env,
    call: &str,
    caller_ip: &str,
    caller_ua: &str,
    caller_sdp: (&str, u16),
    callee_port: u16,
) -> (std::net::SocketAddr, std::net::SocketAddr) {
    let inv = initial_invite(
        call,
        &format!("User-Agent: {caller_ua}\r\n"),
        &offer(caller_sdp.0, caller_sdp.1),
    );
    let mut m = Fake::new(&inv, caller_ip, 5060);
    assert_eq!(
        script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()),
        1,
        "{:?}",
        m.logs
    );
    let to_callee_side = target(&m.output());
    let ok = sip(
        "SIP/2.0 200 OK",
        call,
        "a1",
        Some("b1"),
        "1 INVITE",
        "Server: Plain/1\r\n",
        Some(&offer("127.0.0.1", callee_port)),
    );
    let mut r = Fake::new(&ok, "127.0.0.1", 5060);
    assert_eq!(
        script::use_media_proxy(&mut r, &e.cfg, &Ctx::default()),
        1,
        "{:?}",
        r.logs
    );
    (target(&r.output()), to_callee_side)
}

fn rtp_sock(ip: &str, port: u16) -> std::net::UdpSocket {
    let s = std::net::UdpSocket::bind((ip, port)).expect("bind");
    s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    s
}

fn rtp(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 1, 0, 0, 0, 160];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// The SSRC of the next RTP packet at `s`, if one arrives within its read timeout.
fn next_ssrc(s: &std::net::UdpSocket) -> Option<u32> {
    let mut buf = [0u8; 2048];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    (n >= 12).then(|| u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]))
}

#[test]
fn sip_asymmetrics_spare_the_port_in_client_nat_test_and_fix_contact() {
    let e = env_with("sipasym", (43400, 43499), |raw, dir| {
        let list = dir.join("sip-asym");
        std::fs::write(&list, "# comment\n^AsymPhone/\n([\n").unwrap();
        raw.insert("sip_asymmetrics", list.to_string_lossy().into_owned());
    });
    // the client's IP is public and right in its Via; only its source port differs
    let reg = |ua: &str| {
        sip(
            "REGISTER sip:example.net SIP/2.0",
            "c9@x",
            "a1",
            None,
            "1 REGISTER",
            &format!("User-Agent: {ua}\r\n"),
            None,
        )
        .replace("192.168.1.40:5080", "198.51.100.7:5080")
    };
    let plain = Fake::new(&reg("Phone/1"), "198.51.100.7", 61000);
    assert_eq!(
        script::client_nat_test(&plain, &e.cfg, "2"),
        1,
        "port differs"
    );
    let asym = Fake::new(&reg("AsymPhone/2"), "198.51.100.7", 61000);
    assert_eq!(
        script::client_nat_test(&asym, &e.cfg, "2"),
        -1,
        "{:?}",
        asym.logs
    );
    assert_eq!(
        script::client_nat_test(&asym, &e.cfg, "diff-port-src-via"),
        -1
    );
    // the bad line was reported and skipped, the good one used
    assert!(asym.logged("skipped \"([\"") || plain.logged("skipped \"([\""));
    // fix_contact: the asymmetric client's Contact gets the source IP but keeps its port
    let natted = |ua: &str| {
        reg(ua).replace(
            "Contact: <sip:alice@198.51.100.7:5080>",
            "Contact: <sip:alice@10.1.1.1:5080>",
        )
    };
    let mut m = Fake::new(&natted("AsymPhone/2"), "198.51.100.7", 61000);
    assert_eq!(script::fix_contact(&mut m, &e.cfg), 1);
    assert!(
        m.output()
            .contains("Contact: <sip:alice@198.51.100.7:5080>\r\n"),
        "{}",
        m.output()
    );
    let mut m = Fake::new(&natted("Phone/1"), "198.51.100.7", 61000);
    assert_eq!(script::fix_contact(&mut m, &e.cfg), 1);
    assert!(
        m.output()
            .contains("Contact: <sip:alice@198.51.100.7:61000>\r\n"),
        "{}",
        m.output()
    );
}

#[test]
fn rtp_asymmetrics_clients_get_media_at_their_sdp_address() {
    let e = env_with("rtpasym", (43500, 43599), |raw, dir| {
        let list = dir.join("rtp-asym");
        std::fs::write(&list, "^AsymRTP\n").unwrap();
        raw.insert("rtp_asymmetrics", list.to_string_lossy().into_owned());
    });
    for (i, (ua, asymmetric)) in [("AsymRTP/1", true), ("Plain/1", false)]
        .into_iter()
        .enumerate()
    {
        let base = 36800 + 10 * i as u16;
        // the caller's SDP names `sdp`, but it sends from `other`
        let (sdp, other, callee) = (
            rtp_sock("127.0.0.1", base),
            rtp_sock("127.0.0.1", base + 2),
            rtp_sock("127.0.0.1", base + 4),
        );
        let (to_caller_side, to_callee_side) = setup_call(
            &e,
            &format!("ra{i}@x"),
            "127.0.0.1",
            ua,
            ("127.0.0.1", base),
            base + 4,
        );
        other.send_to(&rtp(0xA), to_caller_side).unwrap();
        assert_eq!(
            next_ssrc(&callee),
            Some(0xA),
            "{ua}: caller's media reaches the callee"
        );
        callee.send_to(&rtp(0xB), to_callee_side).unwrap();
        let (at_sdp, at_source) = if asymmetric {
            (&sdp, &other)
        } else {
            (&other, &sdp)
        };
        assert_eq!(
            next_ssrc(at_sdp),
            Some(0xB),
            "{ua}: asymmetric {asymmetric}"
        );
        let mut buf = [0u8; 64];
        at_source.set_nonblocking(true).unwrap();
        assert!(
            at_source.recv_from(&mut buf).is_err(),
            "{ua}: nothing at the other address"
        );
    }
}

#[test]
fn learn_from_signaling_ip_and_the_heuristic_policy_refuse_a_strangers_first_packet() {
    for (i, strict) in [true, false].into_iter().enumerate() {
        let e = env_with(
            &format!("learn{i}"),
            (43600 + 100 * i as u16, 43699 + 100 * i as u16),
            |raw, _| {
                raw.insert("learn_from_signaling_ip", i32::from(strict));
            },
        );
        let base = 36900 + 10 * i as u16;
        // the caller signals and sends media from 127.0.0.2 (its SDP names 127.0.0.3); a
        // stranger on 127.0.0.1 sends first
        let (stranger, caller, callee) = (
            rtp_sock("127.0.0.1", base),
            rtp_sock("127.0.0.2", base + 2),
            rtp_sock("127.0.0.1", base + 4),
        );
        let (to_caller_side, _) = setup_call(
            &e,
            &format!("ls{i}@x"),
            "127.0.0.2",
            "Plain/1",
            ("127.0.0.3", base + 2),
            base + 4,
        );
        // a stranger's first packet never latches (either policy)
        stranger.send_to(&rtp(0xBAD), to_caller_side).unwrap();
        callee
            .set_read_timeout(Some(std::time::Duration::from_millis(300)))
            .unwrap();
        assert_eq!(next_ssrc(&callee), None, "the stranger's packet is dropped");
        // a continuous RTP stream from it: the default `heuristic` policy takes it by its
        // third packet, the first one above included (the SDP names another IP than
        // signalling: room for a symmetric NAT);
        // with learn_from_signaling_ip (`signalling`) it stays a stranger
        for seq in 2..5u16 {
            let mut p = rtp(0xBAD);
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            stranger.send_to(&p, to_caller_side).unwrap();
        }
        let got = next_ssrc(&callee);
        if strict {
            assert_eq!(got, None, "only the signalling IP latches");
            caller.send_to(&rtp(0xA), to_caller_side).unwrap();
            assert_eq!(
                next_ssrc(&callee),
                Some(0xA),
                "the caller latches from its signalling IP"
            );
        } else {
            // the single packet above was the run's first: the third (seq 3) latches, and
            // seq 4 follows
            assert_eq!(got, Some(0xBAD), "continuity latches the third packet");
            assert_eq!(next_ssrc(&callee), Some(0xBAD), "the fourth follows");
            assert_eq!(next_ssrc(&callee), None, "nothing else");
            // the caller from its signalling IP takes its side back at once
            caller.send_to(&rtp(0xA), to_caller_side).unwrap();
            assert_eq!(next_ssrc(&callee), Some(0xA), "the signalling IP wins");
        }
    }
}
