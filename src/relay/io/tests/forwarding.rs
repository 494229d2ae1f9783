//! Forwarding decisions as each back end carries them out on real sockets: latching with and
//! without connected sockets, a peer port that was closed, the loop guard, the rate ceiling,
//! address ownership, oversized datagrams.

use super::*;

/// Latching with connected sockets (the io_uring back end's twins) behaves as without them, on
/// every back end: both parties latch and hear each other from the relay ports they sent to;
/// a stranger's packets still reach the worker (the port's own socket) and are dropped as strict
/// source; after a NAT rebinding of the callee, media follows it from the same relay port, and
/// its old address is now the stranger. With twins, the counter shows one connected socket per
/// side while the flow lives and none after it, and every port is free again.
fn latching_with_connected_sockets(backend: IoBackend) {
    let twins = matches!(
        backend,
        IoBackend::IoUring(UringSettings { twins: true, .. })
    );
    let h = Harness::start(backend);
    let (a, b) = (relay_sock(), relay_sock());
    let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let caller = sock("127.0.0.2");
    let callee = sock("127.0.0.3");
    let stranger = sock("127.0.0.9");
    h.send(add(0, [a, b], "127.0.0.2", callee.local_addr().unwrap()));
    let connected = || Counters::get(&h.counters.connected_sockets);
    let strict = || Counters::get(&h.counters.packets_dropped_strict);

    caller.send_to(&rtp_from(1, 0, 1), to_a).unwrap();
    expect(
        &callee,
        &rtp_from(1, 0, 1),
        to_b,
        "caller to callee's SDP address",
    );
    callee.send_to(&rtp_from(2, 0, 2), to_b).unwrap();
    expect(
        &caller,
        &rtp_from(2, 0, 2),
        to_a,
        "callee to latched caller",
    );
    assert!(eventually(Duration::from_secs(5), || connected()
        == if twins { 2 } else { 0 }));
    for seq in 1..20 {
        caller.send_to(&rtp_from(1, seq, 1), to_a).unwrap();
        expect(&callee, &rtp_from(1, seq, 1), to_b, "caller, steady");
        callee.send_to(&rtp_from(2, seq, 2), to_b).unwrap();
        expect(&caller, &rtp_from(2, seq, 2), to_a, "callee, steady");
    }

    // a stranger (another SSRC) at the callee's relay port: seen, dropped, counted
    stranger.send_to(&rtp_from(9, 0, 9), to_b).unwrap();
    assert!(eventually(Duration::from_secs(5), || strict() == 1));
    silent(&caller, "the stranger's packet is not relayed");

    // the callee's NAT rebinds: same stream from a new port re-latches
    let moved = sock("127.0.0.3");
    moved.send_to(&rtp_from(2, 20, 3), to_b).unwrap();
    expect(
        &caller,
        &rtp_from(2, 20, 3),
        to_a,
        "rebound callee re-latched",
    );
    caller.send_to(&rtp_from(1, 20, 4), to_a).unwrap();
    expect(
        &moved,
        &rtp_from(1, 20, 4),
        to_b,
        "media follows the rebinding",
    );
    silent(&callee, "nothing to the old address");
    for seq in 21..30 {
        moved.send_to(&rtp_from(2, seq, 5), to_b).unwrap();
        expect(
            &caller,
            &rtp_from(2, seq, 5),
            to_a,
            "rebound callee, steady",
        );
        caller.send_to(&rtp_from(1, seq, 5), to_a).unwrap();
        expect(
            &moved,
            &rtp_from(1, seq, 5),
            to_b,
            "to rebound callee, steady",
        );
    }
    // the old address (another stream by now) is a stranger
    callee.send_to(&rtp_from(7, 0, 6), to_b).unwrap();
    assert!(eventually(Duration::from_secs(5), || strict() == 2));
    silent(&caller, "the old address is not relayed");
    assert_eq!(
        connected(),
        if twins { 2 } else { 0 },
        "reconnected, not added"
    );
    assert_eq!(
        Counters::get(&h.counters.packets_relayed),
        2 + 38 + 2 + 18,
        "{backend:?}"
    );

    h.send(vec![Cmd::Remove { slot: 0 }]);
    assert!(eventually(Duration::from_secs(5), || connected() == 0));
    assert_ports_free(backend, &[to_a, to_b]);
}

#[test]
fn latching_strict_source_and_rebinding_with_connected_sockets() {
    both(latching_with_connected_sockets);
}

/// The callee's SDP port is closed when the caller's first packets are sent to it: the kernel
/// answers with ICMP port unreachable, which a connected twin reports on its next receive or
/// send. Once the callee opens the port, media flows both ways as without twins: every packet
/// of the callee arrives (the twin's receive was armed again), and the caller's arrive from the
/// first one or two on. No receive error is logged (an ICMP error is the peer's state, not a
/// socket failure of ours).
fn peer_port_closed_then_opened(backend: IoBackend) {
    let h = Harness::start(backend);
    let (a, b) = (relay_sock(), relay_sock());
    let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let caller = sock("127.0.0.2");
    let callee_at = sock("127.0.0.3").local_addr().unwrap(); // closed again at once
    h.send(add(0, [a, b], "127.0.0.2", callee_at));
    let tried = || {
        Counters::get(&h.counters.packets_relayed)
            + Counters::get(&h.counters.packets_dropped_no_session)
    };
    for seq in 0..5 {
        caller.send_to(&rtp_from(1, seq, 1), to_a).unwrap();
        // one at a time, so that each finds the ICMP error of the one before
        assert!(eventually(Duration::from_secs(5), || tried() == u64::from(seq) + 1));
    }
    let callee = UdpSocket::bind(callee_at).expect("the callee's port is free again");
    callee
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for seq in 0..10 {
        callee.send_to(&rtp_from(2, seq, 2), to_b).unwrap();
        expect(&caller, &rtp_from(2, seq, 2), to_a, "callee to caller");
    }
    // the caller's first packet may still meet the last ICMP error (and is counted as not sent)
    let mut buf = [0u8; 2048];
    callee
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let first = (5..7).find(|&seq| {
        caller.send_to(&rtp_from(1, seq, 3), to_a).unwrap();
        callee.recv_from(&mut buf).is_ok()
    });
    assert!(
        first.is_some(),
        "{backend:?}: no caller packet reached the callee"
    );
    callee
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for seq in 7..17 {
        caller.send_to(&rtp_from(1, seq, 4), to_a).unwrap();
        expect(&callee, &rtp_from(1, seq, 4), to_b, "caller to callee");
    }
    let logs: Vec<String> = h
        ._events
        .try_iter()
        .filter_map(|e| match e {
            RelayEvent::Log { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    assert!(
        !logs.iter().any(|l| l.contains("recvmsg")),
        "{backend:?}: {logs:?}"
    );
    h.send(vec![Cmd::Remove { slot: 0 }]);
}

#[test]
fn a_peer_port_that_was_closed_gets_media_once_it_opens() {
    both(peer_port_closed_then_opened);
}

/// A flow whose callee side names the flow's own caller-facing socket as its address (what
/// `update` refuses; here put straight into the worker): the caller's packet is dropped and
/// counted as a loop, nothing circles.
fn own_port_destination(backend: IoBackend) {
    let (a, b) = (relay_sock(), relay_sock());
    let to_a = a.local_addr().unwrap();
    // the guard knows the ports the relay holds (the engine marks them when it binds)
    let guard = Guard::new("127.0.0.1".parse().unwrap(), None, 0);
    guard.hold(to_a.port(), true);
    guard.hold(b.local_addr().unwrap().port(), true);
    let h = Harness::start_with(backend, LatchPolicy::default(), guard);
    let caller = sock("127.0.0.2");
    h.send(add(0, [a, b], "127.0.0.2", to_a));
    for seq in 0..5 {
        caller.send_to(&rtp_from(1, seq, 1), to_a).unwrap();
    }
    let c = h.counters;
    assert!(eventually(Duration::from_secs(5), || Counters::get(
        &c.packets_dropped_loop
    ) == 5));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(Counters::get(&c.packets_relayed), 0, "{backend:?}");
    assert_eq!(Counters::get(&c.packets_dropped_loop), 5, "{backend:?}");
}

#[test]
fn a_destination_on_the_relays_own_port_is_dropped_as_a_loop() {
    both(own_port_destination);
}

/// A loop the guard does not see (its addresses are not the relay's as far as it knows): an
/// asymmetric caller side accepts packets from the relay's own address, the callee side's
/// address is the flow's caller-facing socket, so one packet circles b -> a -> b... The
/// packet-rate ceiling ends it: at least `limit` forwards (all of them, unless a one-second
/// window ended while it circled), then one drop, then silence.
fn rate_ceiling_ends_a_loop(backend: IoBackend) {
    const LIMIT: u32 = 500;
    let guard = Guard::new("127.0.0.77".parse().unwrap(), None, LIMIT);
    let h = Harness::start_with(backend, LatchPolicy::default(), guard);
    let (a, b) = (relay_sock(), relay_sock());
    let to_a = a.local_addr().unwrap();
    let mut cmds = add(0, [a, b], "127.0.0.1", to_a);
    cmds.push(Cmd::Configure {
        slot: 0,
        party: 0,
        cfg: SideConfig {
            signaling_ip: Some("127.0.0.1".parse().unwrap()),
            asymmetric: true,
            ..SideConfig::default()
        },
    });
    h.send(cmds);
    let injector = sock("127.0.0.1");
    injector.send_to(&rtp_from(1, 0, 1), to_a).unwrap();
    let c = h.counters;
    assert!(eventually(Duration::from_secs(5), || Counters::get(
        &c.packets_dropped_rate
    ) >= 1));
    let relayed = Counters::get(&c.packets_relayed);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        Counters::get(&c.packets_relayed),
        relayed,
        "{backend:?}: the loop stopped"
    );
    assert!(relayed >= u64::from(LIMIT), "{backend:?}: {relayed}");
    assert_eq!(Counters::get(&c.packets_dropped_rate), 1, "{backend:?}");
}

#[test]
fn the_packet_rate_ceiling_ends_a_loop() {
    both(rate_ceiling_ends_a_loop);
}

/// Two flows on one worker: a source latched by the first flow's caller side cannot latch the
/// second flow's (counted as owned); once the first flow is gone, it can.
fn one_address_one_side(backend: IoBackend) {
    let h = Harness::start(backend);
    let caller = sock("127.0.0.2");
    let callee = sock("127.0.0.3");
    let (a1, b1) = (relay_sock(), relay_sock());
    let (a2, b2) = (relay_sock(), relay_sock());
    let (to_a1, to_a2) = (a1.local_addr().unwrap(), a2.local_addr().unwrap());
    let mut cmds = add(0, [a1, b1], "127.0.0.2", callee.local_addr().unwrap());
    cmds.extend(add(1, [a2, b2], "127.0.0.2", callee.local_addr().unwrap()));
    h.send(cmds);
    caller.send_to(&rtp_from(1, 0, 1), to_a1).unwrap();
    let mut buf = [0u8; 2048];
    callee.recv_from(&mut buf).unwrap();
    caller.send_to(&rtp_from(1, 1, 2), to_a2).unwrap();
    let c = h.counters;
    assert!(eventually(Duration::from_secs(5), || Counters::get(
        &c.packets_dropped_owned
    ) == 1));
    silent(&callee, "not relayed by the second flow");
    h.send(vec![Cmd::Remove { slot: 0 }]);
    assert!(eventually(Duration::from_secs(5), || {
        caller.send_to(&rtp_from(1, 2, 3), to_a2).unwrap();
        callee
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        callee.recv_from(&mut buf).is_ok()
    }));
}

#[test]
fn an_address_latched_by_one_side_is_not_taken_by_another() {
    both(one_address_one_side);
}

/// A datagram longer than the relay relays (3000 bytes; the limit is `MAX_DGRAM`) is dropped
/// and counted as truncated, not as "no session"; the flow goes on: the packets around it are
/// relayed.
fn oversized_datagram(backend: IoBackend) {
    let h = Harness::start(backend);
    let (a, b) = (relay_sock(), relay_sock());
    let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let caller = sock("127.0.0.2");
    let callee = sock("127.0.0.3");
    h.send(add(0, [a, b], "127.0.0.2", callee.local_addr().unwrap()));
    let c = h.counters;

    caller.send_to(&rtp_from(1, 0, 1), to_a).unwrap();
    expect(&callee, &rtp_from(1, 0, 1), to_b, "before");
    let mut big = rtp_from(1, 1, 2);
    big.resize(3000, 2);
    caller.send_to(&big, to_a).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || Counters::get(
            &c.packets_dropped_truncated
        ) == 1),
        "{backend:?}"
    );
    caller.send_to(&rtp_from(1, 2, 3), to_a).unwrap();
    expect(&callee, &rtp_from(1, 2, 3), to_b, "after");
    silent(
        &callee,
        "the oversized datagram is not relayed, not even cut",
    );
    assert_eq!(
        Counters::get(&c.packets_dropped_no_session),
        0,
        "{backend:?}"
    );
    assert_eq!(
        Counters::get(&c.packets_dropped_truncated),
        1,
        "{backend:?}"
    );
    assert_eq!(Counters::get(&c.packets_relayed), 2, "{backend:?}");
}

#[test]
fn an_oversized_datagram_is_counted_as_truncated() {
    both(oversized_datagram);
}
