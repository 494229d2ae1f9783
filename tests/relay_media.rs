//! Media through a real relay on loopback: control flow → packets, latching, strict source,
//! re-latching on signalling change and on NAT rebinding, RTCP (port + 1 and mux), STUN,
//! asymmetric clients. Relay on 127.0.0.1, endpoints on other 127.0.0.x addresses.

mod common;
use common::*;
use mediaproxy::control::codec::MessageType;
use std::time::Duration;

fn rtp_and_rtcp_flow_both_ways_through_the_control_flow(io: RelayIo) {
    let r = TestRelay::start_io(io, "flow", (41000, 41099), |_| {});
    let mut c = r.client();
    let (caller, caller_rtcp) = endpoint_pair("127.0.0.2");
    let (callee, callee_rtcp) = endpoint_pair("127.0.0.3");
    let (to_relay_a, to_relay_b) = setup_call(
        &mut c,
        "flow-1",
        caller.local_addr().unwrap(),
        callee.local_addr().unwrap(),
    );
    assert_ne!(to_relay_a, to_relay_b);
    assert_eq!(to_relay_a.ip().to_string(), "127.0.0.1");

    // caller first: the callee has not latched yet, so the relay uses its SDP address
    caller.send_to(&rtp(0, 1, 0xA, 1), to_relay_a).unwrap();
    let (p, from) = recv(&callee);
    assert_eq!(p, rtp(0, 1, 0xA, 1));
    assert_eq!(
        from, to_relay_b,
        "symmetric: the callee sees the port it sends to"
    );
    // callee answers: goes to the caller's latched address
    callee.send_to(&rtp(8, 1, 0xB, 2), to_relay_b).unwrap();
    let (p, from) = recv(&caller);
    assert_eq!(p, rtp(8, 1, 0xB, 2));
    assert_eq!(from, to_relay_a);
    for seq in 2..20 {
        caller.send_to(&rtp(0, seq, 0xA, 1), to_relay_a).unwrap();
        assert_eq!(recv(&callee).0, rtp(0, seq, 0xA, 1));
        callee.send_to(&rtp(8, seq, 0xB, 2), to_relay_b).unwrap();
        assert_eq!(recv(&caller).0, rtp(8, seq, 0xB, 2));
    }
    // RTCP on port + 1, both ways
    let rtcp_a = std::net::SocketAddr::new(to_relay_a.ip(), to_relay_a.port() + 1);
    let rtcp_b = std::net::SocketAddr::new(to_relay_b.ip(), to_relay_b.port() + 1);
    caller_rtcp.send_to(&rtcp_sr(0xA), rtcp_a).unwrap();
    let (p, from) = recv(&callee_rtcp);
    assert_eq!((p, from), (rtcp_sr(0xA), rtcp_b));
    callee_rtcp.send_to(&rtcp_sr(0xB), rtcp_b).unwrap();
    let (p, from) = recv(&caller_rtcp);
    assert_eq!((p, from), (rtcp_sr(0xB), rtcp_a));
    assert!(eventually(Duration::from_secs(5), || counter(
        &r.counters.packets_relayed
    ) >= 40));
    assert_eq!(counter(&r.counters.packets_dropped_strict), 0);

    // remove returns the statistics of the stream
    let stats = c
        .remove("flow-1", "ft", "tt")
        .unwrap()
        .expect("our relay returns statistics");
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let s = &v["streams"][0];
    assert_eq!(s["caller_codec"], "G711u");
    assert_eq!(s["callee_codec"], "G711a");
    // 19 RTP packets of 172 bytes and one 28-byte RTCP report each way (RTCP is counted too)
    assert_eq!(s["caller_packets"], 20, "{stats}");
    assert_eq!(s["callee_packets"], 20);
    assert_eq!(s["caller_bytes"], 19 * 172 + 28);
    assert_eq!(s["caller_remote"], caller.local_addr().unwrap().to_string());
    assert_eq!(s["callee_local"], to_relay_b.to_string());
    assert_eq!(s["status"], "closed");
    assert_eq!(counter(&r.counters.sessions_active), 0);
    assert_eq!(counter(&r.counters.streams_active), 0);
}

fn strict_source_and_nat_rebinding(io: RelayIo) {
    let r = TestRelay::start_io(io, "strict", (41100, 41199), |_| {});
    let mut c = r.client();
    let Call {
        caller,
        callee,
        to_a,
        to_b,
    } = new_call(&mut c, "strict-1");
    let attacker = endpoint("127.0.0.4");
    caller.send_to(&rtp(0, 100, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 100, 0xA, 1));
    callee.send_to(&rtp(0, 1, 0xB, 2), to_b).unwrap();
    assert_eq!(recv(&caller).0, rtp(0, 1, 0xB, 2));

    // a third socket injects on the caller-facing port: dropped and counted; the legitimate
    // packet sent right after it is the next one the callee sees
    attacker.send_to(&rtp(0, 101, 0xEE, 9), to_a).unwrap();
    caller.send_to(&rtp(0, 101, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 101, 0xA, 1));
    assert!(eventually(Duration::from_secs(5), || counter(
        &r.counters.packets_dropped_strict
    ) == 1));

    // NAT rebinding: same SSRC, continuing sequence, new source port → followed
    let rebound = endpoint("127.0.0.2");
    rebound.send_to(&rtp(0, 103, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 103, 0xA, 1));
    callee.send_to(&rtp(0, 2, 0xB, 2), to_b).unwrap();
    assert_eq!(
        recv(&rebound).0,
        rtp(0, 2, 0xB, 2),
        "media towards the caller follows the new port"
    );

    // a different SSRC from yet another port is not a rebinding: dropped
    let other = endpoint("127.0.0.2");
    other.send_to(&rtp(0, 104, 0xC, 7), to_a).unwrap();
    rebound.send_to(&rtp(0, 104, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 104, 0xA, 1));
    assert!(eventually(Duration::from_secs(5), || counter(
        &r.counters.packets_dropped_strict
    ) == 2));
    callee.send_to(&rtp(0, 3, 0xB, 2), to_b).unwrap();
    assert_eq!(recv(&rebound).0, rtp(0, 3, 0xB, 2));
}

fn signalling_change_relatches_and_the_old_source_is_ignored(io: RelayIo) {
    let r = TestRelay::start_io(io, "relatch", (41200, 41299), |_| {});
    let mut c = r.client();
    let Call {
        caller,
        callee,
        to_a,
        to_b,
    } = new_call(&mut c, "relatch-1");
    caller.send_to(&rtp(0, 1, 0xA, 1), to_a).unwrap();
    recv(&callee);
    callee.send_to(&rtp(0, 1, 0xB, 2), to_b).unwrap();
    recv(&caller);

    // re-INVITE from the caller with a new media port (new SSRC too)
    let moved = endpoint("127.0.0.2");
    let a = c
        .update(&update(
            MessageType::Request,
            "relatch-1",
            2,
            "ft",
            "tt",
            vec![audio(moved.local_addr().unwrap())],
        ))
        .unwrap();
    assert_eq!(a.ports[0], to_b.port(), "relay ports are kept");
    let b = c
        .update(&update(
            MessageType::Reply,
            "relatch-1",
            2,
            "ft",
            "tt",
            vec![audio(callee.local_addr().unwrap())],
        ))
        .unwrap();
    assert_eq!(b.ports[0], to_a.port());
    // before the moved caller sends, media towards it goes to its new SDP address; the
    // configuration reaches the worker asynchronously, so allow it a bounded time
    let mut seq = 10;
    let got_it = eventually(Duration::from_secs(5), || {
        seq += 1;
        callee.send_to(&rtp(0, seq, 0xB, 2), to_b).unwrap();
        moved
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut buf = [0u8; 2048];
        moved.recv_from(&mut buf).is_ok()
    });
    assert!(
        got_it,
        "media towards the caller goes to its new SDP address"
    );
    // late packet from the old source: obsolete, dropped (the side has not latched again: it
    // counts as not learned); the new one latches
    let dropped = counter(&r.counters.packets_dropped_unlearned);
    caller.send_to(&rtp(0, 2, 0xA, 1), to_a).unwrap();
    moved.send_to(&rtp(0, 1, 0xD, 3), to_a).unwrap();
    let mut buf = [0u8; 2048];
    loop {
        let (n, _) = callee
            .recv_from(&mut buf)
            .expect("the moved caller's packet arrives");
        if buf[..n] == rtp(0, 1, 0xD, 3)[..] {
            break;
        }
        assert_ne!(
            &buf[..n],
            &rtp(0, 2, 0xA, 1)[..],
            "old source must not be relayed"
        );
    }
    assert!(eventually(Duration::from_secs(5), || counter(
        &r.counters.packets_dropped_unlearned
    ) == dropped + 1));
}

fn rtcp_mux_and_stun_pass_on_the_rtp_port(io: RelayIo) {
    let r = TestRelay::start_io(io, "mux", (41300, 41399), |_| {});
    let mut c = r.client();
    let Call {
        caller,
        callee,
        to_a,
        to_b,
    } = new_call(&mut c, "mux-1");
    // ICE connectivity check first (latches), then muxed RTCP, then RTP
    caller.send_to(&stun_binding(), to_a).unwrap();
    assert_eq!(recv(&callee).0, stun_binding());
    callee.send_to(&stun_binding(), to_b).unwrap();
    assert_eq!(recv(&caller).0, stun_binding());
    caller.send_to(&rtcp_sr(0xA), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtcp_sr(0xA));
    callee.send_to(&rtcp_sr(0xB), to_b).unwrap();
    assert_eq!(recv(&caller).0, rtcp_sr(0xB));
    caller.send_to(&rtp(0x80 | 101, 1, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0x80 | 101, 1, 0xA, 1));
    let stats = c.remove("mux-1", "ft", "tt").unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    // STUN is not media; muxed RTCP is not taken as the codec
    assert_eq!(v["streams"][0]["caller_codec"], "Dynamic(101)", "{stats}");
    assert_eq!(v["streams"][0]["caller_packets"], 2);
}

fn asymmetric_client_gets_media_at_its_sdp_address(io: RelayIo) {
    let r = TestRelay::start_io(io, "asym", (41400, 41499), |_| {});
    let mut c = r.client();
    let caller_rx = endpoint("127.0.0.2"); // the address in its SDP
    let caller_tx = endpoint("127.0.0.2"); // where it really sends from
    let callee = endpoint("127.0.0.3");
    let mut offer = update(
        MessageType::Request,
        "asym-1",
        1,
        "ft",
        "",
        vec![audio(caller_rx.local_addr().unwrap())],
    );
    offer.asymmetric = true;
    let a = c.update(&offer).unwrap();
    let to_b = std::net::SocketAddr::new(a.ip, a.ports[0]);
    let b = c
        .update(&update(
            MessageType::Reply,
            "asym-1",
            1,
            "ft",
            "tt",
            vec![audio(callee.local_addr().unwrap())],
        ))
        .unwrap();
    let to_a = std::net::SocketAddr::new(b.ip, b.ports[0]);
    caller_tx.send_to(&rtp(0, 1, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 1, 0xA, 1));
    callee.send_to(&rtp(0, 1, 0xB, 2), to_b).unwrap();
    assert_eq!(
        recv(&caller_rx).0,
        rtp(0, 1, 0xB, 2),
        "not to the source it sent from"
    );
    // another port of the same host is accepted too (asymmetric: no latch)
    let caller_tx2 = endpoint("127.0.0.2");
    caller_tx2.send_to(&rtp(0, 2, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 2, 0xA, 1));
}

fn signaling_source_only_refuses_the_first_packet_from_elsewhere(io: RelayIo) {
    let r = TestRelay::start_io(io, "sigonly", (41500, 41599), |c| {
        c.latch_mode = mediaproxy::relay::LatchMode::Signalling
    });
    let mut c = r.client();
    let Call {
        caller,
        callee,
        to_a,
        ..
    } = new_call(&mut c, "sig-1");
    let stranger = endpoint("127.0.0.5");
    stranger.send_to(&rtp(0, 1, 0xE, 1), to_a).unwrap();
    caller.send_to(&rtp(0, 1, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 1, 0xA, 1));
    assert!(eventually(Duration::from_secs(5), || counter(
        &r.counters.packets_dropped_unlearned
    ) == 1));
}

backends!(
    rtp_and_rtcp_flow_both_ways_through_the_control_flow,
    strict_source_and_nat_rebinding,
    signalling_change_relatches_and_the_old_source_is_ignored,
    rtcp_mux_and_stun_pass_on_the_rtp_port,
    asymmetric_client_gets_media_at_its_sdp_address,
    signaling_source_only_refuses_the_first_packet_from_elsewhere,
);

kernel_variants!(
    rtp_and_rtcp_flow_both_ways_through_the_control_flow,
    strict_source_and_nat_rebinding,
    signalling_change_relatches_and_the_old_source_is_ignored,
    rtcp_mux_and_stun_pass_on_the_rtp_port,
    asymmetric_client_gets_media_at_its_sdp_address,
    signaling_source_only_refuses_the_first_packet_from_elsewhere,
);
