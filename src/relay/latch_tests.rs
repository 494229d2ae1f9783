use super::*;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}
fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn rtp(seq: u16, ssrc: u32) -> PacketKind {
    PacketKind::Rtp {
        pt: 0,
        seq,
        ts: u32::from(seq) * 160,
        ssrc,
    }
}
const P: LatchPolicy = LatchPolicy {
    mode: LatchMode::Heuristic,
    rebind_window: 64,
    learn_window_ms: 5000,
};
const SIG: LatchPolicy = LatchPolicy {
    mode: LatchMode::Signalling,
    ..P
};
/// An RTP-flow packet at `now` under `pol`, no address owned elsewhere.
fn at(s: &mut Side, src: &str, kind: PacketKind, now: u64, pol: &LatchPolicy) -> Verdict {
    s.on_packet(a(src), kind, FlowRole::Rtp, now, pol, |_| false)
}
fn pk(s: &mut Side, src: &str, kind: PacketKind) -> Verdict {
    at(s, src, kind, 100, &P)
}
fn accepted(v: Verdict) -> bool {
    matches!(v, Verdict::Accept { .. })
}
fn learned(src: &str) -> Verdict {
    Verdict::Accept {
        learned: Some(a(src)),
    }
}
const KEPT: Verdict = Verdict::Accept { learned: None };

/// A side whose party signalled from `sig` with SDP address `sdp`, window open until 5 s.
fn side(sdp: &str, sig: Option<&str>) -> Side {
    let mut s = Side::new(SideConfig {
        sdp: Some(a(sdp)),
        signaling_ip: sig.map(ip),
        asymmetric: false,
    });
    s.open_window(5000);
    s
}

#[test]
fn a_party_without_nat_latches_at_once_and_nobody_else_ever() {
    // signalling and SDP agree: only that IP latches, at once, from any port
    let mut s = side("192.0.2.10:4000", Some("192.0.2.10"));
    assert_eq!(s.destination(), Some(a("192.0.2.10:4000")));
    // a sprayer with a perfect stream, inside the window: never
    for seq in 0..10 {
        assert_eq!(
            pk(&mut s, "198.51.100.9:7000", rtp(seq, 99)),
            Verdict::DropUnlearned
        );
    }
    assert_eq!(s.latched(), None);
    assert_eq!(
        pk(&mut s, "192.0.2.10:4000", rtp(1, 7)),
        learned("192.0.2.10:4000")
    );
    assert_eq!(pk(&mut s, "192.0.2.10:4000", rtp(2, 7)), KEPT);
    assert_eq!(s.destination(), Some(a("192.0.2.10:4000")));
    for seq in 10..20 {
        assert_eq!(
            pk(&mut s, "198.51.100.9:7000", rtp(seq, 99)),
            Verdict::DropStrict
        );
    }
    assert_eq!(
        pk(&mut s, "198.51.100.9:7000", PacketKind::Stun),
        Verdict::DropStrict
    );
}

#[test]
fn masquerading_nat_latches_at_once_on_the_signalling_ip() {
    let mut s = side("10.0.0.5:4000", Some("203.0.113.5"));
    assert_eq!(
        pk(&mut s, "203.0.113.5:61000", rtp(1, 7)),
        learned("203.0.113.5:61000")
    );
    // after the window too
    let mut late = side("10.0.0.5:4000", Some("203.0.113.5"));
    assert!(accepted(at(
        &mut late,
        "203.0.113.5:61000",
        PacketKind::Other,
        60_000,
        &P
    )));
}

#[test]
fn symmetric_nat_latches_on_continuity_within_the_window_only() {
    let mut s = side("10.0.0.5:4000", Some("203.0.113.5"));
    // a source on another IP: two packets wait, the third of a continuous run latches
    assert_eq!(
        pk(&mut s, "198.51.100.20:5000", rtp(10, 7)),
        Verdict::DropUnlearned
    );
    assert_eq!(
        pk(&mut s, "198.51.100.20:5000", rtp(11, 7)),
        Verdict::DropUnlearned
    );
    assert_eq!(
        pk(&mut s, "198.51.100.20:5000", rtp(12, 7)),
        learned("198.51.100.20:5000")
    );
    // a broken run does not latch: a jump, another SSRC, a timestamp leap
    for broken in [
        [rtp(1, 7), rtp(2, 7), rtp(900, 7)],
        [rtp(1, 7), rtp(2, 8), rtp(3, 8)],
        [
            rtp(1, 7),
            rtp(2, 7),
            PacketKind::Rtp {
                pt: 0,
                seq: 3,
                ts: 4_000_000,
                ssrc: 7,
            },
        ],
        [PacketKind::Stun, PacketKind::Stun, PacketKind::Stun],
        [
            PacketKind::Rtcp { ssrc: 7 },
            PacketKind::Rtcp { ssrc: 7 },
            PacketKind::Other,
        ],
    ] {
        let mut s = side("10.0.0.5:4000", Some("203.0.113.5"));
        for k in broken {
            assert_eq!(
                pk(&mut s, "198.51.100.20:5000", k),
                Verdict::DropUnlearned,
                "{k:?}"
            );
        }
    }
    // after the window: never
    let mut s = side("10.0.0.5:4000", Some("203.0.113.5"));
    for seq in 0..10 {
        assert_eq!(
            at(&mut s, "198.51.100.20:5000", rtp(seq, 7), 5001, &P),
            Verdict::DropUnlearned
        );
    }
    // signalling opens it again
    s.open_window(10_000);
    for seq in 10..12 {
        at(&mut s, "198.51.100.20:5000", rtp(seq, 7), 6000, &P);
    }
    assert!(accepted(at(
        &mut s,
        "198.51.100.20:5000",
        rtp(12, 7),
        6000,
        &P
    )));
    // the `signalling` policy never latches on continuity
    let mut s = side("10.0.0.5:4000", Some("203.0.113.5"));
    for seq in 0..10 {
        assert_eq!(
            at(&mut s, "198.51.100.20:5000", rtp(seq, 7), 100, &SIG),
            Verdict::DropUnlearned
        );
    }
    assert!(accepted(at(&mut s, "203.0.113.5:1", rtp(1, 7), 100, &SIG)));
}

#[test]
fn a_pending_source_keeps_its_place_while_it_sends() {
    let mut s = side("10.0.0.5:4000", Some("203.0.113.5"));
    pk(&mut s, "198.51.100.20:5000", rtp(1, 7));
    // an interleaved stranger neither resets the run nor takes the place
    assert_eq!(
        pk(&mut s, "198.51.100.66:5000", rtp(1, 9)),
        Verdict::DropUnlearned
    );
    pk(&mut s, "198.51.100.20:5000", rtp(2, 7));
    assert_eq!(
        pk(&mut s, "198.51.100.20:5000", rtp(3, 7)),
        learned("198.51.100.20:5000")
    );
    // an idle pending source gives its place away
    let mut s = side("10.0.0.5:4000", Some("203.0.113.5"));
    at(&mut s, "198.51.100.20:5000", rtp(1, 7), 100, &P);
    for (seq, now) in [(1, 400), (2, 420)] {
        at(&mut s, "198.51.100.66:5000", rtp(seq, 9), now, &P);
    }
    assert!(accepted(at(
        &mut s,
        "198.51.100.66:5000",
        rtp(3, 9),
        440,
        &P
    )));
}

#[test]
fn a_better_match_takes_over() {
    // continuity latch, then the party from its signalling IP: any time
    let mut s = side("10.0.0.5:4000", Some("203.0.113.5"));
    for seq in 1..=3 {
        pk(&mut s, "198.51.100.20:5000", rtp(seq, 1));
    }
    assert_eq!(s.latched(), Some(a("198.51.100.20:5000")));
    assert_eq!(
        at(&mut s, "203.0.113.5:7000", rtp(50, 2), 90_000, &P),
        learned("203.0.113.5:7000")
    );
    // an `ip` latch gives way to the exact SDP address within the window only
    let mut s = side("192.0.2.10:4000", Some("192.0.2.10"));
    assert!(accepted(pk(&mut s, "192.0.2.10:4444", rtp(1, 1))));
    assert_eq!(
        pk(&mut s, "192.0.2.10:4000", rtp(1, 2)),
        learned("192.0.2.10:4000")
    );
    // an exact latch keeps, even against its own IP
    assert_eq!(
        pk(&mut s, "192.0.2.10:4444", rtp(9, 3)),
        Verdict::DropStrict
    );
    let mut s = side("192.0.2.10:4000", Some("192.0.2.10"));
    assert!(accepted(pk(&mut s, "192.0.2.10:4444", rtp(1, 1))));
    assert_eq!(
        at(&mut s, "192.0.2.10:4000", rtp(1, 2), 6000, &P),
        Verdict::DropStrict
    );
}

#[test]
fn rebinding_needs_the_same_ssrc_and_a_continuing_sequence() {
    let mut s = side("10.0.0.5:4000", Some("203.0.113.5"));
    let old = "203.0.113.5:6000";
    let new = "203.0.113.5:6100";
    for seq in 10..20 {
        assert!(accepted(pk(&mut s, old, rtp(seq, 7))));
    }
    // a different SSRC from a new port: injection, dropped
    assert_eq!(pk(&mut s, new, rtp(20, 8)), Verdict::DropStrict);
    // same SSRC but sequence far away: dropped
    assert_eq!(pk(&mut s, new, rtp(19 + 1000, 7)), Verdict::DropStrict);
    // same SSRC but an old sequence number (replay): dropped
    assert_eq!(pk(&mut s, new, rtp(15, 7)), Verdict::DropStrict);
    // RTCP of the tracked SSRC: never moves the latch
    assert_eq!(
        pk(&mut s, new, PacketKind::Rtcp { ssrc: 7 }),
        Verdict::DropStrict
    );
    // same SSRC, continuing (a few lost): follows, after the window too
    assert_eq!(at(&mut s, new, rtp(23, 7), 60_000, &P), learned(new));
    assert_eq!(s.destination(), Some(a(new)));
    assert_eq!(
        at(&mut s, old, rtp(24, 7), 60_000, &P),
        learned(old),
        "old port still continues the stream"
    );
    // wrap-around of the sequence number
    let mut w = side("10.0.0.5:4000", Some("203.0.113.5"));
    assert!(accepted(pk(&mut w, old, rtp(65535, 1))));
    assert!(accepted(pk(&mut w, new, rtp(1, 1))));
    // where only the signalling IP may latch, a rebinding must come from it too
    let mut s = side("192.0.2.10:4000", Some("192.0.2.10"));
    assert!(accepted(pk(&mut s, "192.0.2.10:4000", rtp(1, 5))));
    assert_eq!(
        pk(&mut s, "198.51.100.9:4000", rtp(2, 5)),
        Verdict::DropStrict
    );
    assert!(accepted(pk(&mut s, "192.0.2.10:4010", rtp(2, 5))));
}

/// The takeover of the old rules: RTCP carrying the caller's SSRC from anywhere, then RTP of
/// another SSRC. Neither moves the latch.
#[test]
fn rtcp_then_rtp_from_a_stranger_takes_nothing() {
    let mut s = side("10.0.0.5:4000", Some("203.0.113.5"));
    for seq in 0..5 {
        assert!(accepted(pk(&mut s, "203.0.113.5:6000", rtp(seq, 0xCAFE))));
    }
    for _ in 0..3 {
        assert_eq!(
            pk(&mut s, "198.51.100.66:9", PacketKind::Rtcp { ssrc: 0xCAFE }),
            Verdict::DropStrict
        );
        assert_eq!(
            pk(&mut s, "198.51.100.66:9", rtp(1, 0xBAD)),
            Verdict::DropStrict
        );
    }
    assert_eq!(s.latched(), Some(a("203.0.113.5:6000")));
}

#[test]
fn rtcp_follows_the_rtp_address() {
    let rtcp = |s: &mut Side, src: &str, rtp_ip: Option<&str>| {
        s.on_packet(
            a(src),
            PacketKind::Rtcp { ssrc: 1 },
            FlowRole::Rtcp {
                rtp_ip: rtp_ip.map(ip),
            },
            100,
            &P,
            |_| false,
        )
    };
    // before RTP latched: only an `ip` source
    let mut s = side("10.0.0.5:4001", Some("203.0.113.5"));
    assert_eq!(
        rtcp(&mut s, "198.51.100.66:9", None),
        Verdict::DropUnlearned
    );
    assert_eq!(
        rtcp(&mut s, "203.0.113.5:6001", None),
        learned("203.0.113.5:6001")
    );
    // RTP latched to a continuity source on another IP: RTCP moves there, and only there
    let mut s = side("10.0.0.5:4001", Some("203.0.113.5"));
    assert_eq!(
        rtcp(&mut s, "198.51.100.66:9", Some("198.51.100.20")),
        Verdict::DropUnlearned
    );
    assert_eq!(
        rtcp(&mut s, "198.51.100.20:5001", Some("198.51.100.20")),
        learned("198.51.100.20:5001")
    );
    // latched on that IP: another port of it does not move it
    assert_eq!(
        rtcp(&mut s, "198.51.100.20:5999", Some("198.51.100.20")),
        Verdict::DropStrict
    );
    // the RTP side moved to another IP: RTCP follows on its first packet from there
    assert_eq!(
        rtcp(&mut s, "203.0.113.5:6001", Some("203.0.113.5")),
        learned("203.0.113.5:6001")
    );
    assert_eq!(
        rtcp(&mut s, "198.51.100.20:5001", Some("203.0.113.5")),
        Verdict::DropStrict
    );
}

#[test]
fn an_owned_address_never_latches() {
    let mut s = side("10.0.0.5:4000", Some("203.0.113.5"));
    let v = s.on_packet(
        a("203.0.113.5:6000"),
        rtp(1, 1),
        FlowRole::Rtp,
        100,
        &P,
        |x| x == a("203.0.113.5:6000"),
    );
    assert_eq!(v, Verdict::DropOwned);
    assert_eq!(s.latched(), None);
    assert!(accepted(pk(&mut s, "203.0.113.5:6002", rtp(1, 1))));
}

#[test]
fn signalling_change_relatches_and_old_source_is_obsolete() {
    let cfg = |sdp: &str| SideConfig {
        sdp: Some(a(sdp)),
        signaling_ip: Some(ip("203.0.113.5")),
        asymmetric: false,
    };
    let mut s = side("10.0.0.5:4000", Some("203.0.113.5"));
    let first = "203.0.113.5:6000";
    assert!(accepted(pk(&mut s, first, rtp(1, 7))));
    // same SDP again (re-INVITE without change): latch kept
    s.configure(cfg("10.0.0.5:4000"));
    assert_eq!(s.latched(), Some(a(first)));
    // hold with 0.0.0.0 (None): latch kept
    s.configure(SideConfig::default());
    assert_eq!(s.latched(), Some(a(first)));
    assert_eq!(s.destination(), Some(a(first)));
    // new port in SDP: reset; before a new packet, media goes to the SDP address
    s.configure(cfg("10.0.0.5:4100"));
    assert_eq!(s.latched(), None);
    assert_eq!(s.destination(), Some(a("10.0.0.5:4100")));
    // a late packet of the old stream does not latch
    assert_eq!(pk(&mut s, first, rtp(2, 7)), Verdict::DropUnlearned);
    let second = "203.0.113.5:6200";
    assert_eq!(pk(&mut s, second, rtp(1, 9)), learned(second));
}

#[test]
fn nothing_known_latches_the_first_packet_under_either_policy() {
    for pol in [P, SIG] {
        let mut s = Side::default();
        s.open_window(5000);
        assert_eq!(
            at(&mut s, "198.51.100.1:4000", PacketKind::Stun, 100, &pol),
            learned("198.51.100.1:4000")
        );
        assert_eq!(
            at(&mut s, "198.51.100.2:4000", rtp(1, 1), 100, &pol),
            Verdict::DropStrict
        );
    }
}

#[test]
fn asymmetric_never_latches() {
    let mut s = Side::new(SideConfig {
        sdp: Some(a("192.0.2.7:4000")),
        signaling_ip: Some(ip("192.0.2.7")),
        asymmetric: true,
    });
    assert_eq!(pk(&mut s, "192.0.2.7:5555", rtp(1, 1)), KEPT);
    assert_eq!(s.destination(), Some(a("192.0.2.7:4000")));
    assert_eq!(s.latched(), None);
    assert_eq!(
        pk(&mut s, "192.0.2.8:5555", rtp(2, 1)),
        Verdict::DropUnlearned
    );
}

#[test]
fn policy_names() {
    assert_eq!(LatchMode::parse(" Heuristic "), Some(LatchMode::Heuristic));
    assert_eq!(LatchMode::parse("signaling"), Some(LatchMode::Signalling));
    assert_eq!(LatchMode::parse("signalling"), Some(LatchMode::Signalling));
    assert_eq!(LatchMode::parse("first"), None);
    assert_eq!(LatchMode::default().as_str(), "heuristic");
}
