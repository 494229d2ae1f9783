//! A worker thread driven directly, with sockets the test made: packets can be queued on a
//! relay socket *before* the worker owns it, which makes the io_uring back end's buffer
//! exhaustion, re-arming and stale completions happen deterministically. Every test runs for
//! both back ends.

use super::*;
use crate::relay::counters::Counters;
use crate::relay::events::{EventSink, RelayEvent};
use crate::relay::guard::Guard;
use crate::relay::latch::{LatchPolicy, SideConfig};
use crate::relay::sys::EventFd;
use crate::relay::worker::{Cmd, Core, FlowInit, LatchEvent, StreamShared};
use crossbeam_channel::Receiver;
use std::net::SocketAddr;
use std::net::UdpSocket;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use std::time::Instant;

struct Harness {
    tx: Sender<Cmd>,
    wake: Arc<EventFd>,
    handle: Option<JoinHandle<()>>,
    counters: &'static Counters,
    _latches: Receiver<LatchEvent>,
    _events: Receiver<RelayEvent>,
}

impl Harness {
    /// A worker with the default latch policy but no learning window: only sources that
    /// match signalling latch, and a better match never takes over (the tests here are about
    /// the I/O; the window is [`Side`]'s and the hijack tests').
    fn start(backend: IoBackend) -> Harness {
        Self::start_with(
            backend,
            LatchPolicy {
                learn_window_ms: 0,
                ..LatchPolicy::default()
            },
            Guard::new("127.0.0.1".parse().unwrap(), None, 0),
        )
    }

    fn start_with(backend: IoBackend, policy: LatchPolicy, guard: Guard) -> Harness {
        let counters = Counters::leak();
        let (sink, events) = EventSink::new().unwrap();
        let wake = Arc::new(EventFd::new().unwrap());
        let (tx, rx) = crossbeam_channel::unbounded();
        let (latch_tx, latches) = crossbeam_channel::bounded(4096);
        let core = Core::new(
            0,
            wake.clone(),
            rx,
            policy,
            Arc::new(guard),
            Instant::now(),
            counters,
            latch_tx,
            sink,
        );
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let handle = std::thread::spawn(move || backend.run(core, ready_tx));
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the worker answers")
            .expect("the worker starts");
        Harness {
            tx,
            wake,
            handle: Some(handle),
            counters,
            _latches: latches,
            _events: events,
        }
    }

    /// Queues every command, then wakes the worker once (they are applied in one batch).
    fn send(&self, cmds: Vec<Cmd>) {
        for c in cmds {
            self.tx.send(c).unwrap();
        }
        self.wake.notify();
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.tx.send(Cmd::Stop);
        self.wake.notify();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn sock(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// A relay-side socket (non-blocking, as the engine makes them) with room for a queued burst.
fn relay_sock() -> UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    let _ = s.set_recv_buffer_size(1 << 20);
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.set_nonblocking(true).unwrap();
    s.into()
}

fn rtp(seq: u16, tag: u8) -> Vec<u8> {
    let mut v = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    v[2..4].copy_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&[tag; 160]);
    v
}

/// A flow whose caller signalled from `caller_ip` (so its first packet from there latches) and
/// whose callee's SDP address is `callee`.
fn add(slot: u32, socks: [UdpSocket; 2], caller_ip: &str, callee: SocketAddr) -> Vec<Cmd> {
    vec![
        Cmd::Add {
            slot,
            flow: Box::new(FlowInit {
                socks,
                shared: Arc::new(StreamShared::default()),
                stream_id: u64::from(slot) + 1,
                rtcp: false,
                v6: false,
            }),
        },
        Cmd::Configure {
            slot,
            party: 0,
            cfg: SideConfig {
                signaling_ip: Some(caller_ip.parse().unwrap()),
                ..SideConfig::default()
            },
        },
        // media towards the callee goes to its SDP address until it latches
        Cmd::Configure {
            slot,
            party: 1,
            cfg: SideConfig {
                sdp: Some(callee),
                ..SideConfig::default()
            },
        },
    ]
}

fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

/// Every one of `ports` can be bound again soon: the worker closed its sockets (and their
/// connected twins), even those whose receive was still armed in the kernel.
fn assert_ports_free(backend: IoBackend, ports: &[SocketAddr]) {
    for &p in ports {
        assert!(
            eventually(Duration::from_secs(5), || UdpSocket::bind(p).is_ok()),
            "{backend:?}: {p} still bound"
        );
    }
}

fn both(test: fn(IoBackend)) {
    test(IoBackend::Epoll);
    for twins in [false, true] {
        test(IoBackend::IoUring(UringSettings {
            buffers: 2,
            files: 256,
            batch_us: 0,
            twins,
        }));
    }
    test(IoBackend::IoUring(UringSettings {
        buffers: 2,
        files: 256,
        batch_us: 200,
        twins: true,
    }));
}

/// 100 packets wait in the caller-facing socket before the worker gets it. With two receive
/// buffers, every multishot receive takes at most two of them and then finds no buffer
/// (ENOBUFS) while packets are still queued, so the kernel ends it and the worker must arm it
/// again, at least 49 times; every packet still arrives, in order.
fn queued_burst(backend: IoBackend) {
    let h = Harness::start(backend);
    let (a, b) = (relay_sock(), relay_sock());
    let caller = sock("127.0.0.2");
    let callee = sock("127.0.0.3");
    let to_a = a.local_addr().unwrap();
    let from_b = b.local_addr().unwrap();
    const N: u16 = 100;
    for seq in 0..N {
        caller.send_to(&rtp(seq, 7), to_a).unwrap();
    }
    h.send(add(0, [a, b], "127.0.0.2", callee.local_addr().unwrap()));
    let mut buf = [0u8; 2048];
    for seq in 0..N {
        let (n, from) = callee
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("{backend:?}: packet {seq}: {e}"));
        assert_eq!(from, from_b);
        assert_eq!(&buf[..n], &rtp(seq, 7)[..], "{backend:?}: in order");
    }
    assert!(eventually(Duration::from_secs(5), || Counters::get(
        &h.counters.packets_relayed
    ) == u64::from(N)));
    if let IoBackend::IoUring(UringSettings { .. }) = backend {
        let rearms = Counters::get(&h.counters.rx_rearms);
        let nobufs = Counters::get(&h.counters.rx_no_buffers);
        assert!(rearms >= 49, "re-armed {rearms} times");
        assert!(nobufs >= 49, "ENOBUFS {nobufs} times");
    }
    // and the flow keeps working after the burst
    caller.send_to(&rtp(N, 8), to_a).unwrap();
    let (n, _) = callee.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], &rtp(N, 8)[..]);
}

#[test]
fn queued_burst_with_two_buffers_is_relayed_completely_and_in_order() {
    both(queued_burst);
}

/// A flow whose socket has packets queued is added, removed and its slot given to a new flow,
/// all in one command batch: completions of the old socket (old generation) must not be judged
/// or forwarded as the new flow's, and the old socket must really close (its port can be bound
/// again), even though the kernel still had a receive armed on it.
fn slot_reuse(backend: IoBackend) {
    let h = Harness::start(backend);
    let (a1, b1) = (relay_sock(), relay_sock());
    let (a2, b2) = (relay_sock(), relay_sock());
    let old_port = a1.local_addr().unwrap();
    let caller1 = sock("127.0.0.2");
    let callee1 = sock("127.0.0.3");
    let caller2 = sock("127.0.0.4");
    let callee2 = sock("127.0.0.5");
    for seq in 0..20 {
        caller1.send_to(&rtp(seq, 1), old_port).unwrap();
    }
    let mut cmds = add(0, [a1, b1], "127.0.0.2", callee1.local_addr().unwrap());
    cmds.push(Cmd::Remove { slot: 0 });
    cmds.extend(add(0, [a2, b2], "127.0.0.4", callee2.local_addr().unwrap()));
    let to_a2 = match &cmds[4] {
        Cmd::Add { flow, .. } => flow.socks[0].local_addr().unwrap(),
        _ => unreachable!(),
    };
    h.send(cmds);
    for seq in 0..5 {
        caller2.send_to(&rtp(seq, 2), to_a2).unwrap();
    }
    let mut buf = [0u8; 2048];
    for seq in 0..5 {
        let (n, _) = callee2.recv_from(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            &rtp(seq, 2)[..],
            "{backend:?}: only the new flow's packets, in order"
        );
    }
    assert_eq!(
        Counters::get(&h.counters.packets_dropped_strict),
        0,
        "no old packet was judged by the new flow's latch"
    );
    assert_ports_free(backend, &[old_port]);
    // nothing of the old flow went anywhere afterwards either
    callee2.set_nonblocking(true).unwrap();
    assert!(callee2.recv_from(&mut buf).is_err());
}

#[test]
fn a_reused_slot_never_gets_the_old_flows_packets() {
    both(slot_reuse);
}

/// Sockets of removed flows close (no socket, no buffer left behind) and the worker stops.
/// One caller per flow (no two sides latch to one address); the next round's flows latch to
/// the same callers again (a removed flow gives its addresses up).
fn many_flows_come_and_go(backend: IoBackend) {
    let h = Harness::start(backend);
    let callers: Vec<UdpSocket> = (0..20).map(|_| sock("127.0.0.2")).collect();
    let callee = sock("127.0.0.3");
    let mut ports = Vec::new();
    for round in 0..5u32 {
        let mut cmds = Vec::new();
        let mut to = Vec::new();
        for slot in 0..20u32 {
            let (a, b) = (relay_sock(), relay_sock());
            to.push(a.local_addr().unwrap());
            ports.push(a.local_addr().unwrap());
            ports.push(b.local_addr().unwrap());
            cmds.extend(add(slot, [a, b], "127.0.0.2", callee.local_addr().unwrap()));
        }
        h.send(cmds);
        for (i, t) in to.iter().enumerate() {
            callers[i].send_to(&rtp(i as u16, round as u8), *t).unwrap();
            let mut buf = [0u8; 2048];
            let (n, _) = callee.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], &rtp(i as u16, round as u8)[..]);
        }
        h.send((0..20).map(|slot| Cmd::Remove { slot }).collect());
    }
    assert_ports_free(backend, &ports);
}

#[test]
fn flows_come_and_go_and_their_sockets_close() {
    both(many_flows_come_and_go);
}

fn rtp_from(ssrc: u32, seq: u16, tag: u8) -> Vec<u8> {
    let mut v = rtp(seq, tag);
    v[8..12].copy_from_slice(&ssrc.to_be_bytes());
    v
}

/// Expects `pkt` at `s` from `from` (within its read timeout).
fn expect(s: &UdpSocket, pkt: &[u8], from: SocketAddr, what: &str) {
    let mut buf = [0u8; 2048];
    let (n, f) = s
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!((&buf[..n], f), (pkt, from), "{what}");
}

/// Nothing arrives at `s` for a while.
fn silent(s: &UdpSocket, what: &str) {
    let mut buf = [0u8; 2048];
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let r = s.recv_from(&mut buf);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(r.is_err(), "{what}: got {r:?}");
}

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
