//! An attacker against a real relay with its default latching settings, over loopback: the
//! relay on 127.0.0.1, callers on 127.0.0.2, callees on 127.0.0.3, the attacker on 127.0.0.9
//! (another host, off the path: it sees no packet of the calls, it only knows or guesses the
//! relay's ports). Every test counts: what the attacker received (leaked), what the parties
//! received that was not their peer's (injected), that the parties' media arrived complete and
//! in order, and the drop counters by reason. Each runs on both I/O back ends.

mod common;
use common::*;
use mediaproxy::control::client::{Client, ClientError};
use mediaproxy::control::codec::MessageType;
use mediaproxy::media::StreamDesc;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

const ATTACKER: &str = "127.0.0.9";
const CALLS: usize = 5;

/// One call with RTP and RTCP sockets on both ends; `to_a`/`to_b` where the caller/callee
/// send RTP (RTCP: port + 1).
struct Leg {
    caller: UdpSocket,
    caller_rtcp: UdpSocket,
    callee: UdpSocket,
    callee_rtcp: UdpSocket,
    to_a: SocketAddr,
    to_b: SocketAddr,
    ssrc: [u32; 2],
}

fn plus1(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip(), a.port() + 1)
}

fn leg(c: &mut Client, call_id: &str, k: usize) -> Leg {
    let (caller, caller_rtcp) = endpoint_pair("127.0.0.2");
    let (callee, callee_rtcp) = endpoint_pair("127.0.0.3");
    let (to_a, to_b) = setup_call(
        c,
        call_id,
        caller.local_addr().unwrap(),
        callee.local_addr().unwrap(),
    );
    Leg {
        caller,
        caller_rtcp,
        callee,
        callee_rtcp,
        to_a,
        to_b,
        ssrc: [0xA000 + k as u32, 0xB000 + k as u32],
    }
}

fn legs(c: &mut Client, tag: &str) -> Vec<Leg> {
    (0..CALLS)
        .map(|k| leg(c, &format!("{tag}-{k}"), k))
        .collect()
}

/// Every relay port of every call (RTP and RTCP, both sides).
fn ports(legs: &[Leg]) -> Vec<SocketAddr> {
    legs.iter()
        .flat_map(|l| [l.to_a, plus1(l.to_a), l.to_b, plus1(l.to_b)])
        .collect()
}

/// `rounds` media packets each way per call, one at a time, each checked at the peer (content
/// and the relay port it came from): nothing else may arrive in between.
fn media(legs: &[Leg], seq0: u16, rounds: u16) {
    for l in legs {
        for seq in seq0..seq0 + rounds {
            let p = rtp(0, seq, l.ssrc[0], 1);
            l.caller.send_to(&p, l.to_a).unwrap();
            assert_eq!(recv(&l.callee), (p, l.to_b), "caller to callee, seq {seq}");
            let p = rtp(0, seq, l.ssrc[1], 2);
            l.callee.send_to(&p, l.to_b).unwrap();
            assert_eq!(recv(&l.caller), (p, l.to_a), "callee to caller, seq {seq}");
        }
    }
}

/// Whatever is queued at `s` now (after a short grace for packets in flight).
fn drain(s: &UdpSocket) -> usize {
    std::thread::sleep(Duration::from_millis(50));
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while s.recv_from(&mut buf).is_ok() {
        n += 1;
    }
    s.set_nonblocking(false).unwrap();
    n
}

/// Nothing but what the test expected reached any party.
fn no_injection(legs: &[Leg]) {
    for l in legs {
        for s in [&l.caller, &l.caller_rtcp, &l.callee, &l.callee_rtcp] {
            assert_eq!(drain(s), 0, "injected at {}", s.local_addr().unwrap());
        }
    }
}

/// The attacker sprays a perfect RTP stream (one SSRC, sequence + 1 each time) and RTCP with
/// `rtcp_ssrc` to every port, `n` rounds.
fn spray(attacker: &UdpSocket, targets: &[SocketAddr], n: u16, seq0: u16, rtcp_ssrc: u32) -> u64 {
    let mut sent = 0;
    for seq in seq0..seq0 + n {
        for &t in targets {
            attacker.send_to(&rtp(0, seq, 0xBAD, 9), t).unwrap();
            attacker.send_to(&rtcp_sr(rtcp_ssrc), t).unwrap();
            sent += 2;
        }
    }
    sent
}

fn dropped(r: &TestRelay) -> (u64, u64) {
    (
        counter(&r.counters.packets_dropped_strict),
        counter(&r.counters.packets_dropped_unlearned),
    )
}

/// The attacker sprays every relay port right after set-up, inside the learning window, before
/// the parties send. Before: every side latched to the attacker. Now: none does.
fn spray_before_media(io: RelayIo) {
    let r = TestRelay::start_io(io, "hj-before", (47000, 47099), |_| {});
    let mut c = r.client();
    let legs = legs(&mut c, "before");
    let attacker = endpoint(ATTACKER);
    let sent = spray(&attacker, &ports(&legs), 10, 0, 0xBAD);
    assert!(
        eventually(Duration::from_secs(5), || dropped(&r).1 == sent),
        "{io}: every sprayed packet dropped as not learned: {:?} of {sent}",
        dropped(&r)
    );
    media(&legs, 0, 20);
    assert_eq!(drain(&attacker), 0, "{io}: leaked to the attacker");
    no_injection(&legs);
    assert_eq!(
        counter(&r.counters.packets_relayed),
        (CALLS * 40) as u64,
        "{io}"
    );
    assert_eq!(dropped(&r), (0, sent), "{io}");
    println!(
        "{io}: spray before media: sprayed {sent}, leaked 0, injected 0, relayed {}",
        CALLS * 40
    );
}

/// The same while both sides are latched and media flows.
fn spray_during_media(io: RelayIo) {
    let r = TestRelay::start_io(io, "hj-during", (47100, 47199), |_| {});
    let mut c = r.client();
    let legs = legs(&mut c, "during");
    media(&legs, 0, 5);
    let attacker = endpoint(ATTACKER);
    let mut sent = 0;
    for round in 0..10u16 {
        sent += spray(&attacker, &ports(&legs), 1, round, 0xA000);
        media(&legs, 5 + round, 1);
    }
    let (strict, unlearned) = dropped(&r);
    assert!(
        eventually(Duration::from_secs(5), || {
            let (s, u) = dropped(&r);
            s + u == sent
        }),
        "{io}: {strict} + {unlearned} of {sent}"
    );
    assert_eq!(drain(&attacker), 0, "{io}: leaked");
    no_injection(&legs);
    assert_eq!(counter(&r.counters.packets_relayed), (CALLS * 30) as u64);
    println!(
        "{io}: spray during media: sprayed {sent}, leaked 0, injected 0, relayed {}",
        CALLS * 30
    );
}

/// The takeover of the old rules: RTCP `80 c8 00 01 <caller SSRC>` from anywhere to the
/// caller's relay port, then one RTP of another SSRC. Before: the side re-latched to the
/// attacker. Now: both dropped as strict source, media stays.
fn rtcp_takeover(io: RelayIo) {
    let r = TestRelay::start_io(io, "hj-rtcp", (47200, 47299), |_| {});
    let mut c = r.client();
    let legs = legs(&mut c, "rtcp");
    media(&legs, 0, 5);
    let attacker = endpoint(ATTACKER);
    let mut sent = 0u64;
    for l in &legs {
        for (k, to) in [l.to_a, l.to_b].into_iter().enumerate() {
            let mut take = vec![0x80, 0xc8, 0x00, 0x01];
            take.extend_from_slice(&l.ssrc[k].to_be_bytes());
            attacker.send_to(&take, to).unwrap();
            attacker.send_to(&rtp(0, 6, 0xBAD, 9), to).unwrap();
            sent += 2;
        }
    }
    assert!(eventually(Duration::from_secs(5), || dropped(&r).0 == sent));
    media(&legs, 5, 20);
    assert_eq!(drain(&attacker), 0, "{io}: leaked");
    no_injection(&legs);
    assert_eq!(dropped(&r), (sent, 0), "{io}");
    assert_eq!(counter(&r.counters.packets_relayed), (CALLS * 50) as u64);
    println!(
        "{io}: RTCP takeover: attempts {sent}, leaked 0, injected 0, relayed {}",
        CALLS * 50
    );
}

/// RTP flows, RTCP has not started (its sides have not latched); the attacker sprays the RTCP
/// ports, hoping the first RTCP of a party (which carries its SSRC) comes its way, then uses
/// whatever SSRC it could know. Before: every call was taken. Now: RTCP latches only to the
/// address its RTP latched to; the parties' RTCP reaches their peers and nobody else.
fn late_rtcp_chain(io: RelayIo) {
    let r = TestRelay::start_io(io, "hj-late", (47300, 47399), |_| {});
    let mut c = r.client();
    let legs = legs(&mut c, "late");
    media(&legs, 0, 5);
    let attacker = endpoint(ATTACKER);
    let rtcp_ports: Vec<SocketAddr> = legs
        .iter()
        .flat_map(|l| [plus1(l.to_a), plus1(l.to_b)])
        .collect();
    let mut sent = spray(&attacker, &rtcp_ports, 5, 0, 0xBAD);
    // the parties' first RTCP, late
    for l in &legs {
        l.callee_rtcp
            .send_to(&rtcp_sr(l.ssrc[1]), plus1(l.to_b))
            .unwrap();
        assert_eq!(recv(&l.caller_rtcp), (rtcp_sr(l.ssrc[1]), plus1(l.to_a)));
        l.caller_rtcp
            .send_to(&rtcp_sr(l.ssrc[0]), plus1(l.to_a))
            .unwrap();
        assert_eq!(recv(&l.callee_rtcp), (rtcp_sr(l.ssrc[0]), plus1(l.to_b)));
    }
    assert_eq!(drain(&attacker), 0, "{io}: an RTCP packet leaked");
    // the chain's second step, with the SSRCs it would have learnt
    for l in &legs {
        for (k, to) in [l.to_a, l.to_b].into_iter().enumerate() {
            attacker.send_to(&rtcp_sr(l.ssrc[k]), to).unwrap();
            attacker.send_to(&rtp(0, 7, 0xBAD, 9), to).unwrap();
            sent += 2;
        }
    }
    assert!(eventually(Duration::from_secs(5), || {
        let (s, u) = dropped(&r);
        s + u == sent
    }));
    media(&legs, 5, 20);
    assert_eq!(drain(&attacker), 0, "{io}: leaked");
    no_injection(&legs);
    assert_eq!(
        counter(&r.counters.packets_relayed),
        (CALLS * (50 + 2)) as u64
    );
    println!(
        "{io}: late RTCP chain: sprayed {sent}, leaked 0, injected 0, relayed {}",
        CALLS * 52
    );
}

/// The caller's NAT rebinds mid-call (same SSRC, sequence continues) while the attacker sprays:
/// media follows the caller at once, the attacker gets nothing.
fn rebinding_still_follows(io: RelayIo) {
    let r = TestRelay::start_io(io, "hj-rebind", (47400, 47499), |_| {});
    let mut c = r.client();
    let mut legs = legs(&mut c, "rebind");
    media(&legs, 0, 5);
    let attacker = endpoint(ATTACKER);
    let sent = spray(&attacker, &ports(&legs), 3, 0, 0xA000);
    for l in &mut legs {
        let moved = endpoint("127.0.0.2");
        let p = rtp(0, 5, l.ssrc[0], 3);
        moved.send_to(&p, l.to_a).unwrap();
        assert_eq!(recv(&l.callee), (p, l.to_b), "{io}: the rebound caller");
        let old = std::mem::replace(&mut l.caller, moved);
        media(std::slice::from_ref(l), 6, 10);
        assert_eq!(drain(&old), 0, "{io}: nothing to the old binding");
    }
    assert!(eventually(Duration::from_secs(5), || {
        let (s, u) = dropped(&r);
        s + u == sent
    }));
    assert_eq!(drain(&attacker), 0, "{io}: leaked");
    no_injection(&legs);
    assert_eq!(
        counter(&r.counters.packets_relayed),
        (CALLS * (10 + 1 + 20)) as u64
    );
    println!("{io}: rebinding under spray: sprayed {sent}, leaked 0, followed {CALLS} of {CALLS}");
}

fn sdp_at(addr: SocketAddr) -> StreamDesc {
    audio(addr)
}

/// SDP naming one of the relay's own ports (new calls' offers): refused with `error`, counted;
/// a re-offer naming one of its own stream's ports is answered and that address ignored; the
/// relay relays nothing in circles. Before: one packet looped at
/// 145-203 k packets/s until `remove`.
fn self_loop(io: RelayIo) {
    let r = TestRelay::start_io(io, "hj-loop", (47500, 47599), |_| {});
    let mut c = r.client();
    let l = leg(&mut c, "loop-ok", 0);
    for (call_id, kind, to_tag, target) in [
        ("loop-1", MessageType::Request, "", l.to_b),
        ("loop-2", MessageType::Request, "", plus1(l.to_a)),
        // the RTCP port of the SDP's port is a relay port
        (
            "loop-3",
            MessageType::Request,
            "",
            SocketAddr::new(l.to_a.ip(), l.to_a.port() - 1),
        ),
    ] {
        let mut u = update(kind, call_id, 2, "ft", to_tag, vec![sdp_at(target)]);
        u.signaling_ip = "127.0.0.2".into();
        assert!(
            matches!(c.update(&u), Err(ClientError::Relay)),
            "{io}: {call_id} to {target} refused"
        );
    }
    // multicast and broadcast too
    for bad in ["224.0.0.1:4000", "255.255.255.255:4000"] {
        let u = update(
            MessageType::Request,
            "loop-mc",
            1,
            "ft",
            "",
            vec![sdp_at(bad.parse().unwrap())],
        );
        assert!(matches!(c.update(&u), Err(ClientError::Relay)), "{bad}");
    }
    assert_eq!(counter(&r.counters.updates_refused_address), 5);
    // a re-offer of the live call naming one of its own relay ports (what an ICE agent does
    // when the relay candidate won): answered, and the address is ignored, not followed
    let mut u = update(
        MessageType::Request,
        "loop-ok",
        2,
        "ft",
        "tt",
        vec![sdp_at(l.to_b)],
    );
    u.signaling_ip = "127.0.0.2".into();
    c.update(&u)
        .expect("a re-offer naming the stream's own port");
    assert_eq!(counter(&r.counters.updates_refused_address), 5);
    // the live call is untouched and nothing circles
    media(std::slice::from_ref(&l), 0, 10);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(counter(&r.counters.packets_relayed), 20, "{io}");
    no_injection(std::slice::from_ref(&l));
    println!("{io}: self-loop: 5 updates refused, 1 ignored, relayed 20 (the call's own)");
}

/// One `update` with 251 streams: refused before any port is taken; the next call is served
/// at once although ports rest 10 s after use. And a request refused half-way (port range
/// exhausted after some streams opened) gives those ports back at once, not into quarantine.
fn oversized_update(io: RelayIo) {
    let r = TestRelay::start_io(io, "hj-big", (47600, 47607), |c| {
        c.port_quarantine = Duration::from_secs(10)
    });
    let mut c = r.client();
    let caller = endpoint("127.0.0.2");
    let many = |n: usize| -> Vec<StreamDesc> {
        (0..n)
            .map(|k| {
                let mut d = audio(caller.local_addr().unwrap());
                d.port += 2 * k as u16;
                d
            })
            .collect()
    };
    let big = update(MessageType::Request, "big", 1, "ft", "", many(251));
    assert!(matches!(c.update(&big), Err(ClientError::Relay)));
    assert_eq!(counter(&r.counters.updates_refused_limit), 1);
    assert_eq!(counter(&r.counters.ports_in_use), 0);
    assert_eq!(counter(&r.counters.ports_free), 8);
    // within the limit but more than the 4 pairs can hold: two streams open, the third fails
    let three = update(MessageType::Request, "three", 1, "ft", "", many(3));
    assert!(matches!(c.update(&three), Err(ClientError::Relay)));
    assert_eq!(counter(&r.counters.port_exhaustion), 1);
    assert_eq!(counter(&r.counters.ports_in_use), 0);
    assert_eq!(
        counter(&r.counters.ports_free),
        8,
        "{io}: the rollback left no port resting"
    );
    // a normal call now: served, media flows (the worker may still be closing the sockets the
    // rollback opened: retry briefly)
    let mut got = None;
    assert!(eventually(Duration::from_secs(5), || {
        let mut c = r.client();
        let (cr, ce) = (endpoint("127.0.0.2"), endpoint("127.0.0.3"));
        let offer = update(
            MessageType::Request,
            "after",
            1,
            "ft",
            "",
            vec![audio(cr.local_addr().unwrap())],
        );
        match c.update(&offer) {
            Ok(_) => {
                got = Some((c, cr, ce));
                true
            }
            Err(_) => false,
        }
    }));
    let (mut c, cr, ce) = got.unwrap();
    let b = c
        .update(&update(
            MessageType::Reply,
            "after",
            1,
            "ft",
            "tt",
            vec![audio(ce.local_addr().unwrap())],
        ))
        .unwrap();
    let to_a = SocketAddr::new(b.ip, b.ports[0]);
    cr.send_to(&rtp(0, 1, 1, 1), to_a).unwrap();
    assert_eq!(recv(&ce).0, rtp(0, 1, 1, 1));
    println!("{io}: oversized update refused, rollback freed 4 ports at once, next call served");
}

/// `relay_max_sessions`: a new session beyond it is refused; existing ones go on.
fn session_limit(io: RelayIo) {
    let r = TestRelay::start_io(io, "hj-sess", (47700, 47799), |c| c.max_sessions = 2);
    let mut c = r.client();
    let l1 = leg(&mut c, "s-1", 0);
    let _l2 = leg(&mut c, "s-2", 1);
    let x = endpoint("127.0.0.2");
    let u = update(
        MessageType::Request,
        "s-3",
        1,
        "ft",
        "",
        vec![audio(x.local_addr().unwrap())],
    );
    assert!(matches!(c.update(&u), Err(ClientError::Relay)));
    assert_eq!(counter(&r.counters.updates_refused_limit), 1);
    // a re-offer of an existing session is not a new one
    let u = update(
        MessageType::Request,
        "s-1",
        2,
        "ft",
        "tt",
        vec![audio(l1.caller.local_addr().unwrap())],
    );
    c.update(&u).expect("re-offer of a live session");
    media(std::slice::from_ref(&l1), 0, 3);
}

/// A symmetric NAT whose public address is not the signalling one: no IP matches, the first
/// source with a continuous RTP stream inside the learning window latches (after its third
/// packet); afterwards a sprayer is a stranger.
fn symmetric_nat_still_latches(io: RelayIo) {
    let r = TestRelay::start_io(io, "hj-symnat", (47800, 47899), |_| {});
    let mut c = r.client();
    let public = endpoint("127.0.0.4"); // the NAT's address for media
    let callee = endpoint("127.0.0.3");
    let mut offer = update(
        MessageType::Request,
        "symnat",
        1,
        "ft",
        "",
        vec![sdp_at("10.0.0.5:4000".parse().unwrap())],
    );
    offer.signaling_ip = "127.0.0.2".into();
    let a = c.update(&offer).unwrap();
    let to_b = SocketAddr::new(a.ip, a.ports[0]);
    let b = c
        .update(&update(
            MessageType::Reply,
            "symnat",
            1,
            "ft",
            "tt",
            vec![audio(callee.local_addr().unwrap())],
        ))
        .unwrap();
    let to_a = SocketAddr::new(b.ip, b.ports[0]);
    for seq in 0..3 {
        public.send_to(&rtp(0, seq, 0x5EED, 1), to_a).unwrap();
    }
    assert_eq!(recv(&callee).0, rtp(0, 2, 0x5EED, 1), "{io}: third latches");
    callee.send_to(&rtp(0, 0, 0xCA11, 2), to_b).unwrap();
    assert_eq!(recv(&public), (rtp(0, 0, 0xCA11, 2), to_a));
    assert_eq!(counter(&r.counters.packets_dropped_unlearned), 2);
    let attacker = endpoint(ATTACKER);
    for seq in 0..5 {
        attacker.send_to(&rtp(0, seq, 0xBAD, 9), to_a).unwrap();
    }
    assert!(eventually(Duration::from_secs(5), || counter(
        &r.counters.packets_dropped_strict
    ) == 5));
    public.send_to(&rtp(0, 3, 0x5EED, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 3, 0x5EED, 1));
    assert_eq!(drain(&attacker), 0);
}

/// One address belongs to one side in the whole relay, whichever worker relays the sessions
/// (the test relay runs two): the first call's caller latches from its socket; the same socket
/// then sends to the caller port of three more calls (the same IP as their SDP, which latches at
/// once otherwise). Each of those packets is dropped as owned and none reaches a callee; once
/// the first call is gone, the address may latch elsewhere.
fn one_address_one_side_across_workers(io: RelayIo) {
    let r = TestRelay::start_io(io, "hj-owned", (47900, 47999), |_| {});
    let mut c = r.client();
    let legs = legs(&mut c, "owned");
    media(&legs[..1], 0, 2);
    for l in &legs[1..4] {
        legs[0]
            .caller
            .send_to(&rtp(0, 9, 0xF00D, 3), l.to_a)
            .unwrap();
    }
    assert!(
        eventually(Duration::from_secs(5), || counter(
            &r.counters.packets_dropped_owned
        ) == 3),
        "{io}: owned drops {}",
        counter(&r.counters.packets_dropped_owned)
    );
    for l in &legs[1..4] {
        assert_eq!(drain(&l.callee), 0, "{io}: relayed from an owned address");
    }
    // the other calls' own parties still latch and talk
    media(&legs[1..], 0, 2);
    no_injection(&legs);
    assert_eq!(drain(&legs[0].callee), 0, "{io}");
    println!("{io}: one address, one side across workers: 3 of 3 dropped as owned, 0 relayed");
}

backends!(
    one_address_one_side_across_workers,
    spray_before_media,
    spray_during_media,
    rtcp_takeover,
    late_rtcp_chain,
    rebinding_still_follows,
    self_loop,
    oversized_update,
    session_limit,
    symmetric_nat_still_latches,
);
