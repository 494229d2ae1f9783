//! The kernel fast path's loader and program (`relay::kernel::KernelPath`) on real sockets,
//! inside network namespaces this test creates and removes (the program is never attached
//! outside them): loopback (local delivery) and a veth pair (the packet leaves through the
//! interface its peer's packets come from). Needs root (or CAP_BPF + CAP_NET_ADMIN +
//! CAP_SYS_ADMIN for the namespaces) and a build with the fast path (`cfg(mpx_ebpf)`, clang's
//! BPF target); without them the tests fail and say why rather than pass. The relay with the
//! fast path on is `relay_kernel.rs`.

mod common;
use common::kernel::{drop_bpf_capabilities, ip, Netns};
use common::recv;
use mediaproxy::relay::kernel::{attached_programs, Flow, FlowKey, KernelPath, LoadError};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::time::Duration;

fn bind(addr: &str) -> UdpSocket {
    let s = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn v4(s: &UdpSocket) -> SocketAddrV4 {
    match s.local_addr().unwrap() {
        SocketAddr::V4(a) => a,
        a => panic!("not IPv4: {a}"),
    }
}

/// An RTP packet (version 2) of 12 + 20 bytes carrying `seq`.
fn rtp32(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend([0xd5; 20]);
    p
}

fn load(ifaces: &[&str]) -> KernelPath {
    KernelPath::load(ifaces).unwrap_or_else(|e| panic!("the fast path did not load: {e}"))
}

/// Two "phones" and a "relay" (two ports): what the kernel forwards, what it leaves to user
/// space, and the counters. `relay_ip`, `caller_ip` and `callee_ip` are local to where `f`
/// runs; `stranger_ip` too.
struct Pair {
    relay_a: UdpSocket,
    relay_b: UdpSocket,
    caller: UdpSocket,
    callee: UdpSocket,
    stranger: UdpSocket,
}

impl Pair {
    /// caller → relay A → (from relay B) → callee
    fn flow(&self) -> Flow {
        Flow {
            key: FlowKey {
                source: v4(&self.caller),
                relay_port: v4(&self.relay_a).port(),
            },
            new_source: v4(&self.relay_b),
            destination: v4(&self.callee),
        }
    }

    /// callee → relay B → (from relay A) → caller
    fn back(&self) -> Flow {
        Flow {
            key: FlowKey {
                source: v4(&self.callee),
                relay_port: v4(&self.relay_b).port(),
            },
            new_source: v4(&self.relay_a),
            destination: v4(&self.caller),
        }
    }

    /// What every topology must do, with both flows installed in `kp`.
    fn check(&self, kp: &KernelPath) {
        let (flow, back) = (self.flow(), self.back());
        let to_a = self.relay_a.local_addr().unwrap();
        let to_b = self.relay_b.local_addr().unwrap();
        kp.install(&flow).unwrap();
        kp.install(&back).unwrap();
        let mut keys = kp.flows().unwrap();
        keys.sort_by_key(|k| k.relay_port);
        let mut want = vec![flow.key, back.key];
        want.sort_by_key(|k| k.relay_port);
        assert_eq!(keys, want);

        // the callee's first packet: the kernel does not know yet where the caller is (no
        // packet of the caller's flow seen), so user space gets it
        self.callee.send_to(&rtp32(200), to_b).unwrap();
        assert_eq!(
            recv(&self.relay_b),
            (rtp32(200), self.callee.local_addr().unwrap())
        );

        // from the latched source: forwarded by the kernel, with the relay's other port as
        // source, bytes unchanged
        for seq in 0..20 {
            self.caller.send_to(&rtp32(seq), to_a).unwrap();
            let (p, from) = recv(&self.callee);
            assert_eq!(p, rtp32(seq), "payload of packet {seq}");
            assert_eq!(
                from,
                SocketAddr::V4(flow.new_source),
                "source of packet {seq}"
            );
        }
        let c = kp
            .counters(&flow.key)
            .unwrap()
            .expect("the flow is installed");
        assert_eq!((c.packets, c.bytes), (20, 20 * 32));
        assert!(c.last_seen.is_some());
        assert_eq!(
            c.last_rtp,
            Some((7, 19)),
            "SSRC and sequence of the last one"
        );
        // and now the other way too
        for seq in 0..5 {
            self.callee.send_to(&rtp32(300 + seq), to_b).unwrap();
            assert_eq!(recv(&self.caller), (rtp32(300 + seq), to_a));
        }
        let c = kp.counters(&back.key).unwrap().unwrap();
        assert_eq!(
            (c.packets, c.bytes),
            (5, 5 * 32),
            "the first one went to user space"
        );

        // a stranger, a short packet and a STUN-like one from the latched source: user space
        let stun = {
            let mut p = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
            p.extend([9u8; 12]);
            p
        };
        self.stranger.send_to(&rtp32(100), to_a).unwrap();
        self.caller.send_to(&[0x80, 0, 0, 1], to_a).unwrap();
        self.caller.send_to(&stun, to_a).unwrap();
        let (p, from) = recv(&self.relay_a);
        assert_eq!(
            (p, from),
            (rtp32(100), self.stranger.local_addr().unwrap()),
            "the stranger's packet reaches user space, and it is the first there (the kernel \
             forwarded the caller's 20)"
        );
        assert_eq!(recv(&self.relay_a).0, vec![0x80, 0, 0, 1]);
        assert_eq!(recv(&self.relay_a).0, stun);
        // the callee's next packet is the caller's next one, not the stranger's
        self.caller.send_to(&rtp32(21), to_a).unwrap();
        assert_eq!(recv(&self.callee).0, rtp32(21));
        let c = kp.counters(&flow.key).unwrap().unwrap();
        assert_eq!((c.packets, c.bytes), (21, 21 * 32));

        // removed: its final counters, and the next packet goes to user space
        let last = kp.remove(&flow.key).unwrap().expect("it was installed");
        assert_eq!((last.packets, last.bytes), (21, 21 * 32));
        assert_eq!(kp.counters(&flow.key).unwrap(), None);
        assert_eq!(kp.remove(&flow.key).unwrap(), None);
        self.caller.send_to(&rtp32(22), to_a).unwrap();
        assert_eq!(
            recv(&self.relay_a),
            (rtp32(22), self.caller.local_addr().unwrap())
        );
        // the other direction lost its path with it: user space again
        self.callee.send_to(&rtp32(400), to_b).unwrap();
        assert_eq!(
            recv(&self.relay_b),
            (rtp32(400), self.callee.local_addr().unwrap())
        );
        assert_eq!(kp.flows().unwrap(), vec![back.key]);
        assert!(kp.remove(&back.key).unwrap().is_some());
        assert!(kp.flows().unwrap().is_empty(), "no map entry left");
    }
}

#[test]
fn loopback_forwards_the_latched_source_only_and_counts() {
    let ns = Netns::new("lo");
    ns.run(|| {
        let kp = load(&["lo"]);
        assert_eq!(kp.interfaces().collect::<Vec<_>>(), ["lo"]);
        let call = Pair {
            relay_a: bind("127.0.0.1:0"),
            relay_b: bind("127.0.0.1:0"),
            caller: bind("127.0.0.2:0"),
            callee: bind("127.0.0.3:0"),
            stranger: bind("127.0.0.4:0"),
        };
        call.check(&kp);
        // clear() empties the map, as dropping the path does
        kp.install(&call.flow()).unwrap();
        kp.install(&call.back()).unwrap();
        assert_eq!(kp.clear().unwrap(), 2);
        assert!(kp.flows().unwrap().is_empty());
        // dropping it detaches the program
        assert_eq!(attached_programs("lo").unwrap(), 1);
        drop(kp);
        // (the kernel may finish the detach a moment after the close: bounded wait)
        assert!(common::eventually(Duration::from_secs(5), || {
            attached_programs("lo").unwrap() == 0
        }));
    });
}

#[test]
fn veth_forwards_out_of_the_interface_after_a_route_and_neighbour_lookup() {
    // relay namespace (10.77.0.1 on r0, no IP forwarding) ── veth ── phones (10.77.0.2, .3, .4)
    let relay = Netns::new("r");
    let phones = Netns::new("p");
    relay.ip(&[
        "link", "add", "r0", "type", "veth", "peer", "name", "p0", "netns", &phones.0,
    ]);
    relay.ip(&["addr", "add", "10.77.0.1/24", "dev", "r0"]);
    relay.ip(&["link", "set", "r0", "up"]);
    for a in ["10.77.0.2/24", "10.77.0.3/24", "10.77.0.4/24"] {
        phones.ip(&["addr", "add", a, "dev", "p0"]);
    }
    phones.ip(&["link", "set", "p0", "up"]);
    // no checksum offload either way: the phones' kernel verifies every UDP checksum the
    // program rewrote (a wrong one is dropped, and the test fails)
    for (ns, dev) in [(&relay, "r0"), (&phones, "p0")] {
        ip(&[
            "netns", "exec", &ns.0, "ethtool", "-K", dev, "rx", "off", "tx", "off",
        ]);
    }
    let (caller, callee, stranger) = phones.run(|| {
        (
            bind("10.77.0.2:0"),
            bind("10.77.0.3:0"),
            bind("10.77.0.4:0"),
        )
    });
    let (kp, relay_a, relay_b) =
        relay.run(|| (load(&["r0"]), bind("10.77.0.1:0"), bind("10.77.0.1:0")));
    let call = Pair {
        relay_a,
        relay_b,
        caller,
        callee,
        stranger,
    };
    call.check(&kp);
    let csum_errors = Command::new("ip")
        .args([
            "netns",
            "exec",
            &phones.0,
            "nstat",
            "-az",
            "UdpInCsumErrors",
        ])
        .output()
        .expect("nstat");
    let text = String::from_utf8_lossy(&csum_errors.stdout);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().take(2).eq(["UdpInCsumErrors", "0"])),
        "{text}"
    );
    drop(kp);
}

#[test]
fn refused_load_is_an_error_value() {
    match KernelPath::load(&["mpx-no-such-if"]) {
        Err(LoadError::NoInterface(m)) => assert!(m.contains("mpx-no-such-if"), "{m}"),
        other => panic!("expected NoInterface, got {other:?}"),
    }
    assert!(matches!(
        KernelPath::load(&[]),
        Err(LoadError::NoInterface(_))
    ));

    // without CAP_BPF, CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_PERFMON (capabilities are per
    // thread: only this thread, in its own namespace, loses them)
    let ns = Netns::new("cap");
    let err = ns.run(|| {
        drop_bpf_capabilities();
        KernelPath::load(&["lo"]).expect_err("loaded without the capabilities")
    });
    assert!(matches!(err, LoadError::Permission(..)), "{err:?}");
    let line = err.to_string();
    assert!(
        line.contains("not permitted") && line.contains("CAP_BPF"),
        "{line}"
    );
}
