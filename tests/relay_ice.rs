//! ICE through a real relay on loopback (no proxy): a stream that only ever carries
//! connectivity checks ends as an unselected ICE candidate (not a timeout), and STUN towards a
//! side whose address is not known yet waits for it instead of being lost.

mod common;
use common::*;
use mediaproxy::control::codec::MessageType;
use mediaproxy::media::StreamDesc;
use mediaproxy::relay::RelayEvent;
use std::net::SocketAddr;
use std::time::Duration;

fn ice_audio(addr: SocketAddr, ice: bool) -> StreamDesc {
    StreamDesc { ice, ..audio(addr) }
}

/// A STUN Binding request (RFC 8489) with a 12-byte transaction id made of `tag`.
fn binding_request(tag: u8) -> Vec<u8> {
    let mut v = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    v.extend_from_slice(&[tag; 12]);
    v
}

/// Its success response (no attributes: the relay never looks inside).
fn binding_response(tag: u8) -> Vec<u8> {
    let mut v = binding_request(tag);
    v[0] = 0x01;
    v[1] = 0x01;
    v
}

/// Offer from the caller, answer from the callee, with these ICE flags; returns (where the
/// caller sends, where the callee sends).
fn ice_call(
    c: &mut mediaproxy::control::client::Client,
    call_id: &str,
    caller: (SocketAddr, bool),
    callee: (SocketAddr, bool),
) -> (SocketAddr, SocketAddr) {
    setup_call_with(
        c,
        call_id,
        ice_audio(caller.0, caller.1),
        ice_audio(callee.0, callee.1),
    )
}

fn expired(r: &TestRelay, call_id: &str) -> (serde_json::Value, bool, Option<String>) {
    let ev = r
        .wait_event(
            Duration::from_secs(15),
            |e| matches!(e, RelayEvent::Expired { call_id: c, .. } if c == call_id),
        )
        .unwrap_or_else(|| panic!("no expiry event for {call_id}"));
    let RelayEvent::Expired {
        stats_json,
        all_streams_ice,
        dialog_id,
        ..
    } = ev
    else {
        unreachable!()
    };
    let v: serde_json::Value = serde_json::from_str(&stats_json).expect("statistics JSON");
    (v, all_streams_ice, dialog_id)
}

/// MediaProxy's `icetest1`: both parties use ICE; their checks cross the relay (and are
/// relayed, both ways), then stop (the agents picked a direct pair). Once the setup timeout has passed since the answer the
/// session is gone: reported as "unselected ICE candidate" with `timed_out` false (what
/// MediaProxy's dispatcher reports as "removed because ICE was used"), counted apart from the
/// timeouts, its ports freed. A call where only one party uses ICE still times out.
fn stun_only_ice_stream_ends_unselected(io: RelayIo) {
    let r = TestRelay::start_io(io, "ice-unsel", (44000, 44099), |c| {
        c.setup_timeout = Duration::from_secs(1);
        c.media_timeout = Duration::from_secs(1);
    });
    let mut c = r.client();
    let caller = endpoint("127.0.0.2");
    let callee = endpoint("127.0.0.3");
    let (to_a, to_b) = ice_call(
        &mut c,
        "ice-1",
        (caller.local_addr().unwrap(), true),
        (callee.local_addr().unwrap(), true),
    );
    for k in 1..=5u8 {
        caller.send_to(&binding_request(k), to_a).unwrap();
        assert_eq!(recv(&callee), (binding_request(k), to_b));
        callee.send_to(&binding_response(k), to_b).unwrap();
        assert_eq!(recv(&caller), (binding_response(k), to_a));
        callee.send_to(&binding_request(100 + k), to_b).unwrap();
        assert_eq!(recv(&caller), (binding_request(100 + k), to_a));
        caller.send_to(&binding_response(100 + k), to_a).unwrap();
        assert_eq!(recv(&callee), (binding_response(100 + k), to_b));
    }
    let (v, all_ice, dialog_id) = expired(&r, "ice-1");
    assert!(all_ice, "{v}");
    assert_eq!(dialog_id.as_deref(), Some("4242"));
    assert_eq!(v["timed_out"], false, "{v}");
    assert_eq!(v["all_streams_ice"], true, "{v}");
    let st = &v["streams"][0];
    assert_eq!(st["status"], "unselected ICE candidate", "{v}");
    // STUN is relayed but is not media
    assert_eq!(
        (st["caller_packets"].as_u64(), st["callee_packets"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(counter(&r.counters.sessions_ice_unselected), 1);
    assert_eq!(counter(&r.counters.sessions_timed_out), 0);
    assert_eq!(counter(&r.counters.sessions_active), 0);
    assert_eq!(counter(&r.counters.streams_active), 0);
    assert!(eventually(Duration::from_secs(5), || counter(
        &r.counters.ports_in_use
    ) == 0));
    let summary: serde_json::Value =
        serde_json::from_str(&c.command("summary").expect("summary")).expect("summary JSON");
    assert_eq!(summary[0]["sessions_ice_unselected"], 1, "{summary}");
    // the BYE that comes later (the call went on) is still answered
    assert!(c.remove("ice-1", "ft", "tt").is_ok());

    // only the caller uses ICE: a plain timeout, as before
    let (to_a, _) = ice_call(
        &mut c,
        "ice-2",
        (caller.local_addr().unwrap(), true),
        (callee.local_addr().unwrap(), false),
    );
    caller.send_to(&binding_request(9), to_a).unwrap();
    assert_eq!(recv(&callee).0, binding_request(9));
    let (v, all_ice, _) = expired(&r, "ice-2");
    assert!(!all_ice);
    assert_eq!(v["timed_out"], true, "{v}");
    assert_eq!(v["all_streams_ice"], false, "{v}");
    assert_eq!(v["streams"][0]["status"], "no-traffic timeout", "{v}");
    assert_eq!(counter(&r.counters.sessions_timed_out), 1);
    assert_eq!(counter(&r.counters.sessions_ice_unselected), 1);
}

/// The caller's offer has no usable address (`0.0.0.0`), so until it sends, the relay does not
/// know where it is. The callee's checks towards it are kept, not dropped, and reach it, in
/// order and ahead of anything later, as soon as the caller's first packet latches it; the
/// caller's own check goes to the callee as usual.
fn stun_towards_an_unknown_side_waits_for_it(io: RelayIo) {
    let r = TestRelay::start_io(io, "ice-park", (44100, 44199), |_| {});
    let mut c = r.client();
    let caller = endpoint("127.0.0.2");
    let callee = endpoint("127.0.0.3");
    let port = caller.local_addr().unwrap().port();
    let nowhere = SocketAddr::new("0.0.0.0".parse().unwrap(), port);
    let (to_a, to_b) = ice_call(
        &mut c,
        "park-1",
        (nowhere, true),
        (callee.local_addr().unwrap(), true),
    );
    callee.send_to(&binding_request(1), to_b).unwrap();
    callee.send_to(&binding_request(2), to_b).unwrap();
    // a non-STUN packet behind them has nowhere to go and is dropped: once it is counted, the
    // relay has judged the two checks before it (same socket, in order)
    callee.send_to(&rtp(0, 1, 0xB, 1), to_b).unwrap();
    assert!(eventually(Duration::from_secs(5), || counter(
        &r.counters.packets_dropped_no_session
    ) == 1));
    caller.send_to(&binding_request(3), to_a).unwrap();
    assert_eq!(recv(&callee), (binding_request(3), to_b));
    assert_eq!(recv(&caller), (binding_request(1), to_a));
    assert_eq!(recv(&caller), (binding_request(2), to_a));
    // and then traffic flows as usual
    callee.send_to(&binding_response(3), to_b).unwrap();
    assert_eq!(recv(&caller), (binding_response(3), to_a));
    // the checks were not dropped: only the marker was
    assert_eq!(counter(&r.counters.packets_dropped_no_session), 1);
    assert!(c.remove("park-1", "ft", "tt").is_ok());
}

backends!(
    stun_only_ice_stream_ends_unselected,
    stun_towards_an_unknown_side_waits_for_it,
);

/// When the relay candidate won, an agent's next offer or answer names the relay port its
/// checks came back from (a peer-reflexive candidate) as its address. Relaying there would send
/// to the relay itself, packet after packet; the relay keeps sending to the latched source.
fn an_address_that_is_the_relay_itself_is_not_followed(io: RelayIo) {
    let r = TestRelay::start_io(io, "ice-own", (44200, 44299), |_| {});
    let mut c = r.client();
    let caller = endpoint("127.0.0.2");
    let callee = endpoint("127.0.0.3");
    let (to_a, to_b) = ice_call(
        &mut c,
        "own-1",
        (caller.local_addr().unwrap(), true),
        (callee.local_addr().unwrap(), true),
    );
    // both latch
    caller.send_to(&binding_request(1), to_a).unwrap();
    assert_eq!(recv(&callee).0, binding_request(1));
    callee.send_to(&binding_response(1), to_b).unwrap();
    assert_eq!(recv(&caller).0, binding_response(1));
    // re-INVITE: each side names the relay port the other side's checks came from, as it
    // learned it (the caller's checks reach the callee from to_b, the callee's the caller from
    // to_a)
    for (kind, addr) in [(MessageType::Request, to_b), (MessageType::Reply, to_a)] {
        c.update(&update(
            kind,
            "own-1",
            2,
            "ft",
            "tt",
            vec![ice_audio(addr, true)],
        ))
        .expect("re-INVITE handled");
    }
    for seq in 1..=20u16 {
        caller.send_to(&rtp(0, seq, 0xA, 1), to_a).unwrap();
        assert_eq!(recv(&callee), (rtp(0, seq, 0xA, 1), to_b));
        callee.send_to(&rtp(0, seq, 0xB, 2), to_b).unwrap();
        assert_eq!(recv(&caller), (rtp(0, seq, 0xB, 2), to_a));
    }
    // no packet went round in the relay: exactly what the endpoints sent was relayed
    assert!(eventually(Duration::from_secs(5), || counter(
        &r.counters.packets_relayed
    ) >= 42));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counter(&r.counters.packets_relayed), 42);
    assert_eq!(counter(&r.counters.packets_dropped_no_session), 0);
    assert!(c.remove("own-1", "ft", "tt").is_ok());
}

backends!(an_address_that_is_the_relay_itself_is_not_followed);

/// MediaProxy's `icetest2`: both parties use ICE, probe through the relay for a while, then a
/// new offer (from the callee) and its answer, and media through the relay both ways; the
/// caller's BYE removes the session, which is an ordinary end (`timed_out` false, stream
/// closed, the media counted). (`icetest1` is [`stun_only_ice_stream_ends_unselected`].)
fn icetest2_relay_selected_after_the_checks(io: RelayIo) {
    let r = TestRelay::start_io(io, "ice-t2", (44300, 44399), |c| {
        c.setup_timeout = Duration::from_secs(3);
    });
    let mut c = r.client();
    let caller = endpoint("127.0.0.2");
    let callee = endpoint("127.0.0.3");
    let (ca, ce) = (caller.local_addr().unwrap(), callee.local_addr().unwrap());
    let (to_a, to_b) = ice_call(&mut c, "t2", (ca, true), (ce, true));
    for k in 1..=3u8 {
        caller.send_to(&binding_request(k), to_a).unwrap();
        assert_eq!(recv(&callee).0, binding_request(k));
        callee.send_to(&binding_request(50 + k), to_b).unwrap();
        assert_eq!(recv(&caller).0, binding_request(50 + k));
    }
    // the callee's new offer (CSeq 2 in its own space), the caller's answer
    let offer = c
        .update(&update(
            MessageType::Request,
            "t2",
            2,
            "tt",
            "ft",
            vec![ice_audio(ce, true)],
        ))
        .expect("re-offer");
    let answer = c
        .update(&update(
            MessageType::Reply,
            "t2",
            2,
            "tt",
            "ft",
            vec![ice_audio(ca, true)],
        ))
        .expect("answer");
    // the same relay ports as before
    assert_eq!(SocketAddr::new(offer.ip, offer.ports[0]), to_a);
    assert_eq!(SocketAddr::new(answer.ip, answer.ports[0]), to_b);
    for seq in 1..=10u16 {
        caller.send_to(&rtp(0, seq, 0xA, 1), to_a).unwrap();
        assert_eq!(recv(&callee).0, rtp(0, seq, 0xA, 1));
        callee.send_to(&rtp(0, seq, 0xB, 2), to_b).unwrap();
        assert_eq!(recv(&caller).0, rtp(0, seq, 0xB, 2));
    }
    let stats = c
        .remove("t2", "ft", "tt")
        .expect("removed")
        .expect("statistics");
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["timed_out"], false, "{v}");
    assert!(
        v.get("all_streams_ice").is_none(),
        "only expiries say it: {v}"
    );
    let st = &v["streams"][0];
    assert_eq!(st["status"], "closed", "{v}");
    assert_eq!(
        (st["caller_packets"].as_u64(), st["callee_packets"].as_u64()),
        (Some(10), Some(10))
    );
    assert_eq!(counter(&r.counters.sessions_ice_unselected), 0);
    assert_eq!(counter(&r.counters.sessions_timed_out), 0);
}

backends!(icetest2_relay_selected_after_the_checks);
