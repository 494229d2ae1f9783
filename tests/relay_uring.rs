//! What the io_uring back end must get right, on a real relay over loopback (each check also
//! runs on epoll, where it applies): a port closed and reused by the next session gets no stale
//! packets of the old one; bursts larger than the receive buffers are relayed completely and in
//! order (buffer exhaustion and re-arming); when io_uring cannot be set up, `auto` falls back to
//! epoll and says so, `io_uring` refuses to start.
//!
//! The deterministic versions of exhaustion, re-arm counts and stale completions (packets queued
//! before the worker owns the socket) are the unit tests in `src/relay/io/tests/`.

mod common;
use common::*;
use mediaproxy::control::client::ClientError;
use mediaproxy::control::codec::MessageType;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One stream's worth of ports (4) and no quarantine: the second session must get the ports the
/// first one had. Its caller-facing socket had a burst in flight when the first session ended.
fn port_reuse(io: RelayIo) {
    let r = TestRelay::start_io(io, "reuse", (43400, 43403), |c| c.threads = 1);
    let mut c = r.client();
    let Call {
        caller: caller1,
        callee: callee1,
        to_a,
        to_b,
    } = new_call(&mut c, "reuse-1");
    caller1.send_to(&rtp(0, 0, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee1).0, rtp(0, 0, 0xA, 1));
    for seq in 1..200 {
        caller1.send_to(&rtp(0, seq, 0xA, 1), to_a).unwrap();
    }
    c.remove("reuse-1", "ft", "tt").unwrap();

    let caller2 = endpoint("127.0.0.4");
    let callee2 = endpoint("127.0.0.5");
    let offer = update(
        MessageType::Request,
        "reuse-2",
        1,
        "ft2",
        "",
        vec![audio(caller2.local_addr().unwrap())],
    );
    // the worker lets go of the old sockets shortly after the remove: retry (bounded)
    let deadline = Instant::now() + Duration::from_secs(10);
    let a = loop {
        match c.update(&offer) {
            Ok(a) => break a,
            Err(ClientError::Relay) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("{io}: the ports never came back: {e:?}"),
        }
    };
    let to_b2 = SocketAddr::new(a.ip, a.ports[0]);
    let b = c
        .update(&update(
            MessageType::Reply,
            "reuse-2",
            1,
            "ft2",
            "tt2",
            vec![audio(callee2.local_addr().unwrap())],
        ))
        .unwrap();
    let to_a2 = SocketAddr::new(b.ip, b.ports[0]);
    let mut old = [to_a.port(), to_b.port()];
    let mut new = [to_a2.port(), to_b2.port()];
    old.sort();
    new.sort();
    assert_eq!(old, new, "{io}: the second session reuses the ports");

    let dropped = counter(&r.counters.packets_dropped_strict);
    for seq in 0..20 {
        caller2.send_to(&rtp(8, seq, 0xC, 2), to_a2).unwrap();
        let (p, from) = recv(&callee2);
        assert_eq!(
            p,
            rtp(8, seq, 0xC, 2),
            "{io}: only the new session's packets"
        );
        assert_eq!(from, to_b2);
        callee2.send_to(&rtp(8, seq, 0xD, 3), to_b2).unwrap();
        assert_eq!(recv(&caller2).0, rtp(8, seq, 0xD, 3));
    }
    assert_eq!(
        counter(&r.counters.packets_dropped_strict),
        dropped,
        "{io}: the new latch was never offered an old packet"
    );
    let stats = c.remove("reuse-2", "ft2", "tt2").unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["streams"][0]["caller_packets"], 20, "{stats}");
    assert_eq!(
        v["streams"][0]["caller_remote"],
        caller2.local_addr().unwrap().to_string()
    );
}

/// Windows of 64 packets sent back to back, 300 times, through a relay with 2 receive buffers
/// per worker (io_uring): receives run out of buffers over and over and are armed again; every
/// packet arrives, in order, and the counters add up.
fn bursts_larger_than_the_buffers(io: RelayIo) {
    let r = TestRelay::start_io(io, "burst", (43500, 43599), |c| {
        c.threads = 1;
        c.ring_buffers = 2;
        // 19 200 packets as fast as loopback goes: far over the default per-stream ceiling
        c.max_packet_rate = 0;
    });
    let mut c = r.client();
    let Call {
        caller,
        callee,
        to_a,
        to_b,
    } = new_call(&mut c, "burst-1");
    callee.send_to(&rtp(0, 0, 0xB, 9), to_b).unwrap();
    assert_eq!(recv(&caller).0, rtp(0, 0, 0xB, 9));
    let mut seq: u16 = 0;
    for _ in 0..300 {
        for k in 0..64 {
            caller
                .send_to(&rtp(0, seq.wrapping_add(k), 0xA, 1), to_a)
                .unwrap();
        }
        for _ in 0..64 {
            let (p, _) = recv(&callee);
            assert_eq!(p, rtp(0, seq, 0xA, 1), "{io}: packet {seq} in order");
            seq = seq.wrapping_add(1);
        }
    }
    let total = 300 * 64 + 1;
    assert!(eventually(Duration::from_secs(5), || counter(
        &r.counters.packets_relayed
    ) == total));
    assert_eq!(counter(&r.counters.packets_dropped_no_session), 0);
    let stats = c.remove("burst-1", "ft", "tt").unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["streams"][0]["caller_packets"], 300 * 64);
}

backends!(port_reuse, bursts_larger_than_the_buffers);

/// Runs the standalone relay with `args` in a child whose `io_uring_setup` fails with ENOSYS
/// (a seccomp filter, as a container runtime would install one). The filter goes on a thread
/// of its own, which the child inherits; the test process is not affected.
fn relay_without_io_uring(args: Vec<String>) -> std::process::Output {
    std::thread::spawn(move || {
        use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};
        let filter: BpfProgram = SeccompFilter::new(
            [(libc::SYS_io_uring_setup, vec![])].into_iter().collect(),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            std::env::consts::ARCH
                .try_into()
                .expect("a seccomp architecture"),
        )
        .unwrap()
        .try_into()
        .unwrap();
        seccompiler::apply_filter(&filter).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_mediaproxy-relay"))
            .args(args)
            .output()
            .unwrap()
    })
    .join()
    .unwrap()
}

#[test]
fn without_io_uring_auto_falls_back_to_epoll_and_io_uring_refuses_to_start() {
    let dir = std::env::temp_dir().join(format!("mp-it-noring-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let args = |io: &str| -> Vec<String> {
        [
            "--socket",
            dir.join(format!("{io}.sock")).to_str().unwrap(),
            "--listen-ip",
            "127.0.0.1",
            "--port-range",
            "43600-43699",
            "--relay-io",
            io,
            "--max-seconds",
            "1",
        ]
        .map(String::from)
        .to_vec()
    };
    let out = relay_without_io_uring(args("auto"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("I/O epoll (io_uring not available: io_uring_setup:"),
        "{err}"
    );
    let out = relay_without_io_uring(args("io_uring"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(
            "cannot start: relay_io is io_uring but io_uring is not available: io_uring_setup:"
        ),
        "{err}"
    );
    // and without the filter the same binary runs io_uring
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mediaproxy-relay"))
        .args(args("io_uring"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("I/O io_uring"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
