//! Recording through a real relay on loopback (the `record` command, `recording_dir`,
//! `record_all`): the pcap file read back by tshark holds exactly the packets the relay
//! forwarded while recording, each as it arrived (party → relay port), RTP and RTCP, both
//! parties, streams a re-offer added included; the session's statistics name the file; a
//! read-only directory logs once and leaves the call alone.

mod common;
use common::*;
use mediaproxy::control::client::Client;
use mediaproxy::control::codec::MessageType;
use mediaproxy::control::record::RecordRequest;
use mediaproxy::media::StreamDesc;
use mediaproxy::relay::{LogLevel, RelayEvent};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn record(c: &mut Client, call_id: &str, start: bool) -> Result<Option<String>, String> {
    c.record(&RecordRequest {
        call_id: call_id.into(),
        from_tag: "ft".into(),
        to_tag: "tt".into(),
        start,
    })
    .map_err(|e| e.to_string())
}

fn plus1(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip(), a.port() + 1)
}

/// tshark's view of a pcap: one "src:port>dst:port" line per packet.
fn tshark(path: &Path) -> Vec<String> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args([
            "-T",
            "fields",
            "-E",
            "separator=,",
            "-e",
            "ip.src",
            "-e",
            "udp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
        ])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{}:{}>{}:{}", f[0], f[1], f[2], f[3])
        })
        .collect()
}

fn count(lines: &[String], from: SocketAddr, to: SocketAddr) -> usize {
    let want = format!("{from}>{to}");
    lines.iter().filter(|l| **l == want).count()
}

fn media(kind: &str, a: SocketAddr) -> StreamDesc {
    StreamDesc {
        media_type: kind.into(),
        ..audio(a)
    }
}

/// Waits (bounded) for the log line of the file's close; every event seen is kept in `seen`.
fn wait_closed(r: &TestRelay, path: &str, seen: &mut Vec<RelayEvent>) {
    let closed = format!("recording {path} closed");
    let is_close =
        |e: &RelayEvent| matches!(e, RelayEvent::Log { text, .. } if text.starts_with(&closed));
    let found = eventually(Duration::from_secs(10), || {
        seen.extend(r.relay().drain_events());
        seen.iter().any(is_close)
    });
    assert!(found, "the recording is closed: {seen:?}");
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mp-recdir-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("recording dir");
    d
}

fn a_recorded_call_holds_what_the_relay_forwarded(io: RelayIo) {
    let dir = temp_dir(&format!("ok-{io}"));
    let d2 = dir.clone();
    let r = TestRelay::start_io(io, "rec", (46000, 46099), move |c| {
        c.recording_dir = Some(d2)
    });
    let mut c = r.client();
    let (a, a_rtcp) = endpoint_pair("127.0.0.2");
    let (b, b_rtcp) = endpoint_pair("127.0.0.3");
    let call = "rec-1@host/../x";
    let (to_a, to_b) = setup_call(
        &mut c,
        call,
        a.local_addr().unwrap(),
        b.local_addr().unwrap(),
    );
    // before the start: forwarded, not recorded
    a.send_to(&rtp(0, 1, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&b).0, rtp(0, 1, 0xA, 1));
    b.send_to(&rtp(0, 1, 0xB, 2), to_b).unwrap();
    assert_eq!(recv(&a).0, rtp(0, 1, 0xB, 2));

    let path = record(&mut c, call, true).unwrap().expect("a file");
    let p = PathBuf::from(&path);
    assert_eq!(p.parent(), Some(dir.as_path()), "in recording_dir: {path}");
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("rec-1@host_.._x-") && name.ends_with(".pcap"),
        "{name}"
    );
    // a second start keeps the file
    assert_eq!(record(&mut c, call, true).unwrap(), Some(path.clone()));

    for seq in 2..32u16 {
        a.send_to(&rtp(0, seq, 0xA, 1), to_a).unwrap();
        assert_eq!(recv(&b).0, rtp(0, seq, 0xA, 1));
    }
    for seq in 2..22u16 {
        b.send_to(&rtp(0, seq, 0xB, 2), to_b).unwrap();
        assert_eq!(recv(&a).0, rtp(0, seq, 0xB, 2));
    }
    for _ in 0..3 {
        a_rtcp.send_to(&rtcp_sr(0xA), plus1(to_a)).unwrap();
        assert_eq!(recv(&b_rtcp).0, rtcp_sr(0xA));
        b_rtcp.send_to(&rtcp_sr(0xB), plus1(to_b)).unwrap();
        assert_eq!(recv(&a_rtcp).0, rtcp_sr(0xB));
    }
    // a re-offer adds video: recorded too
    let (va, _) = endpoint_pair("127.0.0.2");
    let (vb, _) = endpoint_pair("127.0.0.3");
    let offer = c
        .update(&update(
            MessageType::Request,
            call,
            2,
            "ft",
            "tt",
            vec![
                audio(a.local_addr().unwrap()),
                media("video", va.local_addr().unwrap()),
            ],
        ))
        .unwrap();
    let vto_b = SocketAddr::new(offer.ip, offer.ports[1]);
    let ans = c
        .update(&update(
            MessageType::Reply,
            call,
            2,
            "ft",
            "tt",
            vec![
                audio(b.local_addr().unwrap()),
                media("video", vb.local_addr().unwrap()),
            ],
        ))
        .unwrap();
    let vto_a = SocketAddr::new(ans.ip, ans.ports[1]);
    for seq in 1..6u16 {
        va.send_to(&rtp(96, seq, 0xC, 3), vto_a).unwrap();
        assert_eq!(recv(&vb).0, rtp(96, seq, 0xC, 3));
        vb.send_to(&rtp(96, seq, 0xD, 4), vto_b).unwrap();
        assert_eq!(recv(&va).0, rtp(96, seq, 0xD, 4));
    }
    let stats = c.remove(call, "ft", "tt").unwrap().expect("statistics");
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["recording"], path.as_str(), "{stats}");
    wait_closed(&r, &path, &mut Vec::new());

    let lines = tshark(&p);
    let (a, b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    assert_eq!(count(&lines, a, to_a), 30, "caller RTP: {lines:?}");
    assert_eq!(count(&lines, b, to_b), 20, "callee RTP");
    let (ar, br) = (a_rtcp.local_addr().unwrap(), b_rtcp.local_addr().unwrap());
    assert_eq!(count(&lines, ar, plus1(to_a)), 3, "caller RTCP");
    assert_eq!(count(&lines, br, plus1(to_b)), 3, "callee RTCP");
    assert_eq!(count(&lines, va.local_addr().unwrap(), vto_a), 5, "video");
    assert_eq!(count(&lines, vb.local_addr().unwrap(), vto_b), 5, "video");
    assert_eq!(lines.len(), 66, "nothing else: {lines:?}");
    // the relay's own count of the audio stream, minus the packet before the start
    let audio = &v["streams"][0];
    assert_eq!(
        audio["caller_packets"].as_u64(),
        Some(1 + 30 + 3),
        "{stats}"
    );
    assert_eq!(
        audio["callee_packets"].as_u64(),
        Some(1 + 20 + 3),
        "{stats}"
    );
    assert!(eventually(Duration::from_secs(3), || counter(
        &r.counters.recorded_packets
    ) == 66));
    assert_eq!(counter(&r.counters.recorded_calls), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

fn stop_closes_and_record_all_records_from_the_answer(io: RelayIo) {
    let dir = temp_dir(&format!("all-{io}"));
    let d2 = dir.clone();
    let r = TestRelay::start_io(io, "recall", (46200, 46299), move |c| {
        c.recording_dir = Some(d2);
        c.record_all = true;
    });
    let mut c = r.client();
    let Call {
        caller,
        callee,
        to_a,
        to_b: _,
    } = new_call(&mut c, "all-1");
    let v: serde_json::Value = serde_json::from_str(&c.command("sessions").unwrap()).unwrap();
    let path = v[0]["recording"].as_str().expect("recorded").to_string();
    for seq in 1..5u16 {
        caller.send_to(&rtp(0, seq, 0xA, 1), to_a).unwrap();
        assert_eq!(recv(&callee).0, rtp(0, seq, 0xA, 1));
    }
    assert_eq!(record(&mut c, "all-1", false).unwrap(), None);
    wait_closed(&r, &path, &mut Vec::new());
    // after the stop: forwarded, not recorded
    caller.send_to(&rtp(0, 9, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 9, 0xA, 1));
    c.remove("all-1", "ft", "tt").unwrap();
    let lines = tshark(Path::new(&path));
    assert_eq!(
        count(&lines, caller.local_addr().unwrap(), to_a),
        4,
        "{lines:?}"
    );
    assert_eq!(lines.len(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without `recording_dir`, `record start` is an error and the call goes on.
fn recording_off_is_an_error_reply(io: RelayIo) {
    let r = TestRelay::start_io(io, "recoff", (46400, 46499), |_| {});
    let mut c = r.client();
    let Call {
        caller,
        callee,
        to_a,
        ..
    } = new_call(&mut c, "off-1");
    assert!(record(&mut c, "off-1", true).is_err());
    assert!(record(&mut c, "nosuch", true).is_err());
    caller.send_to(&rtp(0, 1, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 1, 0xA, 1));
    let stats = c.remove("off-1", "ft", "tt").unwrap().unwrap();
    assert!(!stats.contains("\"recording\""), "{stats}");
}

backends!(recording_off_is_an_error_reply);

/// The tests that read pcap files back with tshark, once per back end (in `scripts/test.sh`'s
/// category "needs root and tshark").
macro_rules! with_tshark {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                #[ignore = "needs root and tshark"]
                fn io_uring() {
                    super::$name(mediaproxy::relay::RelayIo::IoUring)
                }
                #[test]
                #[ignore = "needs root and tshark"]
                fn epoll() {
                    super::$name(mediaproxy::relay::RelayIo::Epoll)
                }
            }
        )*
    };
}

with_tshark!(
    a_recorded_call_holds_what_the_relay_forwarded,
    stop_closes_and_record_all_records_from_the_answer
);

/// A read-only directory (a tmpfs mounted `ro`): one error line at the first recording, the
/// call relayed both ways as if nothing happened, its session ends normally.
#[test]
#[ignore = "needs root and tshark"]
fn a_read_only_directory_logs_once_and_leaves_calls_alone() {
    let dir = std::env::temp_dir().join(format!("mp-recro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,ro", "tmpfs"])
        .arg(&dir)
        .status()
        .expect("mount runs");
    assert!(st.success());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _m = Unmount(dir.clone());
    let d2 = dir.clone();
    let r = TestRelay::start("recro", (46600, 46699), move |c| {
        c.recording_dir = Some(d2);
        c.record_all = true;
    });
    let mut c = r.client();
    let mut seen = Vec::new();
    for call in ["ro-1", "ro-2"] {
        let Call {
            caller,
            callee,
            to_a,
            to_b,
        } = new_call(&mut c, call);
        for seq in 1..21u16 {
            caller.send_to(&rtp(0, seq, 0xA, 1), to_a).unwrap();
            assert_eq!(recv(&callee).0, rtp(0, seq, 0xA, 1));
            callee.send_to(&rtp(0, seq, 0xB, 2), to_b).unwrap();
            assert_eq!(recv(&caller).0, rtp(0, seq, 0xB, 2));
        }
        let stats = c.remove(call, "ft", "tt").unwrap().expect("statistics");
        let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
        assert_eq!(v["streams"][0]["caller_packets"].as_u64(), Some(20));
        assert_eq!(v["streams"][0]["callee_packets"].as_u64(), Some(20));
        let path = v["recording"].as_str().expect("named").to_string();
        wait_closed(&r, &path, &mut seen);
        assert!(!Path::new(&path).exists());
    }
    let errors: Vec<&String> = seen
        .iter()
        .filter_map(|e| match e {
            RelayEvent::Log {
                level: LogLevel::Error,
                text,
            } if text.starts_with("recording to ") => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "one line for two calls: {errors:?}");
    assert!(errors[0].contains("the calls go on"), "{}", errors[0]);
    assert!(eventually(Duration::from_secs(3), || counter(
        &r.counters.recording_dropped
    ) >= 80));
    assert_eq!(counter(&r.counters.recorded_calls), 0);
}

/// The kernel fast path never takes a recorded flow (its packets would not reach the
/// recording): a recording started while the stream is in the kernel takes it back to the
/// worker, every packet after it is recorded, and after the stop the kernel takes it again.
#[test]
#[ignore = "needs root and tshark"]
fn a_recorded_flow_leaves_the_kernel_fast_path() {
    common::kernel::with_fast_path("rec", || {
        let dir = temp_dir("kernel");
        let d2 = dir.clone();
        let r = TestRelay::start_io(RelayIo::Epoll, "reck", (46800, 46899), move |c| {
            c.recording_dir = Some(d2)
        });
        let mut c = r.client();
        let call = new_call(&mut c, "kr-1");
        let exchange = |from: u16, to: u16| {
            for seq in from..to {
                call.caller
                    .send_to(&rtp(0, seq, 0xA, 1), call.to_a)
                    .unwrap();
                assert_eq!(recv(&call.callee).0, rtp(0, seq, 0xA, 1));
                call.callee
                    .send_to(&rtp(8, seq, 0xB, 2), call.to_b)
                    .unwrap();
                assert_eq!(recv(&call.caller).0, rtp(8, seq, 0xB, 2));
            }
        };
        exchange(0, 50);
        let k = r.relay().kernel().expect("the fast path runs");
        assert!(
            eventually(Duration::from_secs(5), || k.flows().unwrap().len() == 2),
            "the latched stream is in the kernel"
        );
        let path = record(&mut c, "kr-1", true).unwrap().expect("a file");
        assert!(
            eventually(Duration::from_secs(5), || k.flows().unwrap().is_empty()),
            "the recorded flow left the kernel: {:?}",
            k.flows()
        );
        exchange(50, 70);
        assert_eq!(record(&mut c, "kr-1", false).unwrap(), None);
        wait_closed(&r, &path, &mut Vec::new());
        assert!(
            eventually(Duration::from_secs(5), || k.flows().unwrap().len() == 2),
            "back in the kernel after the stop: {:?}",
            k.flows()
        );
        let lines = tshark(Path::new(&path));
        let (a, b) = (
            call.caller.local_addr().unwrap(),
            call.callee.local_addr().unwrap(),
        );
        assert_eq!(count(&lines, a, call.to_a), 20, "{lines:?}");
        assert_eq!(count(&lines, b, call.to_b), 20, "{lines:?}");
        assert_eq!(lines.len(), 40);
        let _ = std::fs::remove_dir_all(&dir);
    });
}
