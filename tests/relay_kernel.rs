//! The kernel fast path (`relay::kernel`) on real sockets, inside network namespaces this test
//! creates and removes (the program is never attached outside them): loopback (local
//! delivery) and a veth pair (the packet leaves through a NIC after a FIB and neighbour
//! lookup). Needs root (or CAP_BPF + CAP_NET_ADMIN + CAP_SYS_ADMIN for the namespaces) and a
//! build with the fast path (`cfg(mpx_ebpf)`, clang's BPF target); without them the tests fail
//! and say why rather than pass.
//!
//! The relay with `relay_kernel` `ebpf` (in a namespace of its own): latched streams leave the
//! worker, their packets are counted in the statistics, the media timeout sees them, a
//! stranger's packets are still dropped, a NAT rebinding is still followed, and no flow is
//! left in the kernel once the session ends; `mediaproxy-relay --kernel` where loading is
//! refused.

mod common;
use common::kernel::{ip, with_fast_path, Netns};
use common::{counter, eventually, new_call, recv, rtp, TestRelay};
use mediaproxy::control::codec::MessageType;
use mediaproxy::control::copy::{CopyAction, CopyEntry, CopyRequest};
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
        assert_eq!(attached_programs("lo").unwrap(), 0);
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

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn drop_bpf_capabilities() {
    const VERSION_3: u32 = 0x2008_0522;
    let mut hdr = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget(2) with a version-3 header and room for its two data blocks.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    assert_eq!(rc, 0, "capget: {}", std::io::Error::last_os_error());
    for cap in [
        12u32, /* NET_ADMIN */
        21,    /* SYS_ADMIN */
        38,    /* PERFMON */
        39,    /* BPF */
    ] {
        // out of the bounding set too, or a program this thread starts (as root) gets it back
        // SAFETY: prctl(2) PR_CAPBSET_DROP with a capability number; affects this thread only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
        assert_eq!(
            rc,
            0,
            "PR_CAPBSET_DROP {cap}: {}",
            std::io::Error::last_os_error()
        );
        let d = &mut data[(cap / 32) as usize];
        d.effective &= !(1 << (cap % 32));
        d.permitted &= !(1 << (cap % 32));
    }
    // SAFETY: capset(2) on the calling thread (pid 0) with the blocks capget filled.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}

/// Sends `n` RTP packets each way (sequence numbers from `seq`) and checks each arrives.
fn exchange(call: &common::Call, seq: u16, n: u16) {
    for k in seq..seq + n {
        call.caller.send_to(&rtp(0, k, 0xA, 1), call.to_a).unwrap();
        assert_eq!(recv(&call.callee).0, rtp(0, k, 0xA, 1), "caller's {k}");
        call.callee.send_to(&rtp(8, k, 0xB, 2), call.to_b).unwrap();
        assert_eq!(recv(&call.caller).0, rtp(8, k, 0xB, 2), "callee's {k}");
    }
}

/// Packets the kernel forwarded for every flow installed now.
fn kernel_packets(r: &TestRelay) -> u64 {
    let k = r.relay().kernel().expect("the fast path runs");
    k.flows()
        .unwrap()
        .iter()
        .filter_map(|f| k.counters(f).unwrap())
        .map(|c| c.packets)
        .sum()
}

fn stream_stats(c: &mut mediaproxy::control::client::Client, call_id: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&c.command("sessions").unwrap()).unwrap();
    v.as_array()
        .and_then(|a| a.iter().find(|s| s["call_id"] == call_id))
        .map(|s| s["streams"][0].clone())
        .unwrap_or_default()
}

#[test]
fn relay_hands_latched_streams_to_the_kernel_and_counts_them() {
    with_fast_path("relay", || {
        let r = TestRelay::start_io(
            mediaproxy::relay::RelayIo::Epoll,
            "kstats",
            (44100, 44199),
            |c| {
                c.media_timeout = Duration::from_secs(2);
            },
        );
        let mut c = r.client();
        let call = new_call(&mut c, "k-1");
        // the first packets latch both sides in the worker; from then on the kernel forwards
        exchange(&call, 0, 100);
        let k = r.relay().kernel().unwrap();
        assert_eq!(
            k.flows().unwrap().len(),
            2,
            "both directions of the RTP flow"
        );
        let in_kernel = kernel_packets(&r);
        assert!(in_kernel >= 150, "the kernel forwarded {in_kernel} of 200");

        // the statistics count every packet, wherever it was forwarded
        let mut st = serde_json::Value::Null;
        assert!(
            eventually(Duration::from_secs(5), || {
                st = stream_stats(&mut c, "k-1");
                st["caller_packets"] == 100 && st["callee_packets"] == 100
            }),
            "{st}"
        );
        assert_eq!(st["caller_bytes"], 100 * 172);
        assert_eq!(st["caller_codec"], "G711u");
        assert_eq!(st["callee_codec"], "G711a");
        assert!(eventually(Duration::from_secs(5), || counter(
            &r.counters.packets_relayed
        ) == 200));
        assert_eq!(counter(&r.counters.packets_kernel), in_kernel);

        // a stranger on the caller's port: not forwarded by the kernel, dropped by the worker
        let stranger = common::endpoint("127.0.0.4");
        stranger.send_to(&rtp(0, 500, 0xEE, 9), call.to_a).unwrap();
        call.caller
            .send_to(&rtp(0, 100, 0xA, 1), call.to_a)
            .unwrap();
        assert_eq!(recv(&call.callee).0, rtp(0, 100, 0xA, 1));
        assert!(eventually(Duration::from_secs(5), || counter(
            &r.counters.packets_dropped_strict
        ) == 1));

        // a re-INVITE that changes nothing: the kernel flows are replaced first (fresh
        // counters), media goes on, the statistics stay exact (checked at the end)
        let before = kernel_packets(&r);
        assert!(before > 0);
        for (kind, who) in [
            (MessageType::Request, &call.caller),
            (MessageType::Reply, &call.callee),
        ] {
            let streams = vec![common::audio(who.local_addr().unwrap())];
            c.update(&common::update(kind, "k-1", 2, "ft", "tt", streams))
                .unwrap();
        }
        assert!(
            eventually(Duration::from_secs(5), || kernel_packets(&r) < before),
            "the kernel flows were not replaced"
        );
        assert_eq!(k.flows().unwrap().len(), 2);

        // media for longer than the media timeout, all of it in the kernel: no expiry
        let deadline = std::time::Instant::now() + Duration::from_secs(4);
        let mut seq = 101;
        while std::time::Instant::now() < deadline && seq < 1000 {
            exchange(&call, seq, 1);
            seq += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            r.relay()
                .drain_events()
                .iter()
                .all(|e| !matches!(e, mediaproxy::relay::RelayEvent::Expired { .. })),
            "the session expired while media flowed through the kernel"
        );

        // a media copy of the caller while its flow is in the kernel: the flow comes back to
        // the worker, which sends the copies, and every packet reaches the copy; once the copy
        // is deleted the kernel takes the flow again
        let srs = common::endpoint("127.0.0.5");
        let req = |action| CopyRequest {
            call_id: "k-1".into(),
            from_tag: "ft".into(),
            to_tag: "tt".into(),
            copy_id: "rec-1".into(),
            action,
        };
        let caller_entry = CopyEntry {
            stream: 0,
            party: 0,
        };
        c.copy(&req(CopyAction::Offer {
            entries: vec![caller_entry],
            paused: false,
        }))
        .unwrap();
        c.copy(&req(CopyAction::Answer {
            targets: vec![(caller_entry, Some(srs.local_addr().unwrap()))],
        }))
        .unwrap();
        assert!(
            eventually(Duration::from_secs(5), || k.flows().unwrap().is_empty()),
            "the copied flow left the kernel: {:?}",
            k.flows()
        );
        for _ in 0..10 {
            exchange(&call, seq, 1);
            assert_eq!(recv(&srs).0, rtp(0, seq, 0xA, 1), "the copy of {seq}");
            seq += 1;
        }
        c.copy(&req(CopyAction::Delete)).unwrap();
        assert!(
            eventually(Duration::from_secs(5), || k.flows().unwrap().len() == 2),
            "back in the kernel without the copy: {:?}",
            k.flows()
        );

        // a NAT rebinding (same SSRC, continuing sequence, new port) is still followed, and
        // the kernel flow moves with it
        let rebound = common::endpoint("127.0.0.2");
        rebound.send_to(&rtp(0, seq, 0xA, 1), call.to_a).unwrap();
        assert_eq!(
            recv(&call.callee).0,
            rtp(0, seq, 0xA, 1),
            "the rebound source is followed"
        );
        call.callee
            .send_to(&rtp(8, seq, 0xB, 2), call.to_b)
            .unwrap();
        assert_eq!(
            recv(&rebound).0,
            rtp(8, seq, 0xB, 2),
            "media towards the caller follows it"
        );
        let rebound_addr = match rebound.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            a => panic!("{a}"),
        };
        assert!(
            k.flows().unwrap().iter().any(|f| f.source == rebound_addr),
            "{:?}",
            k.flows()
        );

        // silence: the media timeout ends the session, with every packet in its statistics
        // the caller sent 0..seq and the rebound one (seq), the callee 0..=seq except 100
        let ev = r
            .wait_event(Duration::from_secs(15), |e| {
                matches!(e, mediaproxy::relay::RelayEvent::Expired { .. })
            })
            .expect("the media timeout");
        let mediaproxy::relay::RelayEvent::Expired { stats_json, .. } = ev else {
            unreachable!()
        };
        let v: serde_json::Value = serde_json::from_str(&stats_json).unwrap();
        assert_eq!(
            v["streams"][0]["caller_packets"],
            u64::from(seq) + 1,
            "{stats_json}"
        );
        assert_eq!(
            v["streams"][0]["callee_packets"],
            u64::from(seq),
            "{stats_json}"
        );
        assert_eq!(attached_programs("lo").unwrap(), 1);
        assert!(
            eventually(Duration::from_secs(5), || k.flows().unwrap().is_empty()),
            "no flow left: {:?}",
            k.flows()
        );
        // the relay stopped: the program is detached
        drop(c);
        drop(r);
        assert_eq!(attached_programs("lo").unwrap(), 0);
    });
}

/// `mediaproxy-relay --kernel` in a thread that lost the capabilities BPF needs: `ebpf`
/// refuses to start and says why, `auto` starts without the fast path and says why.
#[test]
fn relay_without_bpf_permission() {
    let ns = Netns::new("relcap");
    let dir = std::env::temp_dir().join(format!("mp-it-kcap-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let run = |mode: &str| -> std::process::Output {
        let sock = dir.join(format!("{mode}.sock"));
        let args: Vec<String> = [
            "--socket",
            sock.to_str().unwrap(),
            "--listen-ip",
            "127.0.0.1",
            "--port-range",
            "44200-44299",
            "--kernel",
            mode,
            "--max-seconds",
            "1",
        ]
        .map(String::from)
        .to_vec();
        ns.run(move || {
            drop_bpf_capabilities();
            Command::new(env!("CARGO_BIN_EXE_mediaproxy-relay"))
                .args(args)
                .output()
                .unwrap()
        })
    };
    let out = run("ebpf");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("relay_kernel is ebpf but the kernel fast path is not available")
            && err.contains("not permitted"),
        "{err}"
    );
    let out = run("auto");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("relay_kernel auto: the kernel fast path is not available")
            && err.contains("kernel fast path off (not available:"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
