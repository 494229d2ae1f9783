//! The relay with `relay_kernel` `ebpf`, each test in a network namespace of its own (the
//! program is never attached outside it): latched streams leave the worker, their packets are
//! counted in the statistics, the media timeout sees them, a stranger's packets are still
//! dropped, a NAT rebinding is still followed, signalling and media copies take flows back, and
//! no flow is left in the kernel once the session ends; `mediaproxy-relay --kernel` where
//! loading is refused. Needs root and a build with the fast path (see `kernel_path.rs`).

mod common;
use common::kernel::{drop_bpf_capabilities, with_fast_path, Netns};
use common::{counter, eventually, new_call, recv, rtp, TestRelay};
use mediaproxy::control::codec::MessageType;
use mediaproxy::control::copy::{CopyAction, CopyEntry, CopyRequest};
use mediaproxy::relay::kernel::attached_programs;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

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
        // (taken back and installed again by the worker: wait for both steps)
        assert!(eventually(Duration::from_secs(5), || k
            .flows()
            .unwrap()
            .len()
            == 2));

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
        assert!(eventually(Duration::from_secs(5), || attached_programs(
            "lo"
        )
        .unwrap()
            == 0));
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
