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

mod forwarding;
