//! The call recorder's files read back by tshark, and what a full or read-only directory does.
//!
//! Each test mounts a small tmpfs of its own (removed at the end), so the disk-full and
//! read-only cases are real filesystem errors, not simulated ones.

use mediaproxy::relay::record::{RecordNote, Recorder};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// A tmpfs mounted on a fresh directory, unmounted and removed on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(tag: &str, size: &str, opts: &str) -> Tmpfs {
        let dir = std::env::temp_dir().join(format!("mpx-record-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mount point");
        let o = if opts.is_empty() {
            format!("size={size}")
        } else {
            format!("size={size},{opts}")
        };
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &o, "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount runs");
        assert!(st.success(), "mount tmpfs on {}", dir.display());
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn notes() -> (
    Box<dyn FnMut(RecordNote) + Send>,
    mpsc::Receiver<RecordNote>,
) {
    let (tx, rx) = mpsc::channel();
    (
        Box::new(move |n| {
            let _ = tx.send(n);
        }),
        rx,
    )
}

fn closed(rx: &mpsc::Receiver<RecordNote>, key: u64) -> (PathBuf, u64) {
    loop {
        match rx.recv_timeout(Duration::from_secs(10)).expect("a note") {
            RecordNote::Closed {
                key: k,
                path,
                packets,
                ..
            } if k == key => return (path, packets),
            _ => continue,
        }
    }
}

/// tshark's view of a file: one line per packet, "src srcport dst dstport checksum-status
/// udp-length"; a checksum status of 1 is tshark's "Good".
fn tshark_lines(path: &Path) -> Vec<String> {
    let out = Command::new("tshark")
        .args(["-n", "-o", "udp.check_checksum:TRUE", "-r"])
        .arg(path)
        .args([
            "-T",
            "fields",
            "-E",
            "separator= ",
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
            "-e",
            "udp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "ipv6.dst",
            "-e",
            "udp.dstport",
            "-e",
            "udp.checksum.status",
            "-e",
            "udp.length",
        ])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark -r {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
#[ignore = "needs root and tshark"]
fn a_recorded_call_reads_back_in_tshark_with_both_directions() {
    let fs = Tmpfs::mount("ok", "8m", "");
    let (notify, rx) = notes();
    let rec = Recorder::start(&fs.0, 1024, notify).expect("recorder");
    let h = rec.handle();
    let path = rec.open(1, "call/../../1@example.com");
    assert_eq!(
        path.parent(),
        Some(fs.0.as_path()),
        "file inside the directory"
    );
    let caller: SocketAddr = "192.0.2.10:4000".parse().unwrap();
    let callee: SocketAddr = "198.51.100.20:6000".parse().unwrap();
    let relay_a: SocketAddr = "203.0.113.5:50000".parse().unwrap();
    let relay_b: SocketAddr = "203.0.113.5:50002".parse().unwrap();
    let relay_a_rtcp: SocketAddr = "203.0.113.5:50001".parse().unwrap();
    let caller_rtcp: SocketAddr = "192.0.2.10:4001".parse().unwrap();
    let rtp = [0x80u8; 172];
    let (mut sent_ab, mut sent_ba, mut sent_rtcp) = (0, 0, 0);
    for i in 0..300u32 {
        let mut p = rtp;
        p[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        // the queue holds 1024: pace so none is dropped
        while !h.packet(1, caller, relay_a, &p) {
            std::thread::sleep(Duration::from_millis(1));
        }
        sent_ab += 1;
        if i % 3 != 0 {
            while !h.packet(1, callee, relay_b, &p[..161]) {
                std::thread::sleep(Duration::from_millis(1));
            }
            sent_ba += 1;
        }
        if i % 50 == 0 {
            while !h.packet(1, caller_rtcp, relay_a_rtcp, &[0x81, 200, 0, 6]) {
                std::thread::sleep(Duration::from_millis(1));
            }
            sent_rtcp += 1;
        }
    }
    rec.close(1);
    let (closed_path, packets) = closed(&rx, 1);
    assert_eq!(closed_path, path);
    assert_eq!(packets, sent_ab + sent_ba + sent_rtcp);
    let lines = tshark_lines(&path);
    assert_eq!(lines.len() as u64, packets);
    let count = |want: &str| lines.iter().filter(|l| l.as_str() == want).count() as u64;
    assert_eq!(count("192.0.2.10 4000 203.0.113.5 50000 1 180"), sent_ab);
    assert_eq!(count("198.51.100.20 6000 203.0.113.5 50002 1 169"), sent_ba);
    assert_eq!(count("192.0.2.10 4001 203.0.113.5 50001 1 12"), sent_rtcp);
    assert_eq!(
        rec.stats()
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[test]
#[ignore = "needs root and tshark"]
fn an_ipv6_stream_reads_back_with_good_checksums() {
    let fs = Tmpfs::mount("v6", "1m", "");
    let (notify, rx) = notes();
    let rec = Recorder::start(&fs.0, 64, notify).expect("recorder");
    let h = rec.handle();
    let path = rec.open(9, "v6-call");
    let a: SocketAddr = "[2001:db8::10]:4000".parse().unwrap();
    let r: SocketAddr = "[2001:db8::5]:50000".parse().unwrap();
    for _ in 0..20 {
        assert!(h.packet(9, a, r, &[0x80; 33]));
    }
    rec.close(9);
    let (_, packets) = closed(&rx, 9);
    assert_eq!(packets, 20);
    let lines = tshark_lines(&path);
    assert_eq!(lines.len(), 20);
    assert!(lines
        .iter()
        .all(|l| l == "2001:db8::10 4000 2001:db8::5 50000 1 41"));
}

#[test]
#[ignore = "needs root and tshark"]
fn a_full_disk_stops_the_recording_once_and_the_recorder_goes_on() {
    // 64 KiB: a few hundred records fit, then ENOSPC
    let fs = Tmpfs::mount("full", "64k", "");
    let (notify, rx) = notes();
    // a queue that holds every copy, so each is either written or dropped by the writer
    let rec = Recorder::start(&fs.0, 512, notify).expect("recorder");
    let h = rec.handle();
    let path = rec.open(2, "full-disk");
    let a: SocketAddr = "192.0.2.1:1000".parse().unwrap();
    let b: SocketAddr = "192.0.2.2:2000".parse().unwrap();
    let payload = [0u8; 1000];
    for _ in 0..400 {
        assert!(h.packet(2, a, b, &payload));
    }
    rec.close(2);
    let mut failed = 0;
    let packets = loop {
        match rx.recv_timeout(Duration::from_secs(10)).expect("a note") {
            RecordNote::Failed { path: p, error } => {
                assert_eq!(p, path);
                assert!(error.contains("space"), "{error}");
                failed += 1;
            }
            RecordNote::Closed {
                key: 2, packets, ..
            } => break packets,
            RecordNote::Closed { .. } => {}
        }
    };
    assert_eq!(failed, 1, "reported once");
    assert!(
        packets > 0 && packets < 400,
        "{packets} written before the disk filled"
    );
    let dropped = rec
        .stats()
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        dropped + packets,
        400,
        "every copy written or counted as dropped"
    );
    // what reached the disk is a pcap tshark reads up to where the disk filled (it may say
    // the last record is cut short, so its exit status is not asked)
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(&path)
        .output()
        .unwrap();
    let read = String::from_utf8_lossy(&out.stdout).lines().count() as u64;
    assert!(
        read > 0 && read <= packets,
        "tshark read {read} of {packets}"
    );
}

#[test]
#[ignore = "needs root and tshark"]
fn a_read_only_directory_is_reported_once_for_many_calls() {
    let fs = Tmpfs::mount("ro", "1m", "ro");
    let (notify, rx) = notes();
    let rec = Recorder::start(&fs.0, 64, notify).expect("recorder");
    let h = rec.handle();
    let a: SocketAddr = "192.0.2.1:1000".parse().unwrap();
    for key in 0..5 {
        let _ = rec.open(key, "ro-call");
        for _ in 0..3 {
            h.packet(key, a, a, b"x");
        }
        rec.close(key);
    }
    let mut failed = Vec::new();
    let mut closed_n = 0;
    while closed_n < 5 {
        match rx.recv_timeout(Duration::from_secs(10)).expect("a note") {
            RecordNote::Failed { error, .. } => failed.push(error),
            RecordNote::Closed { packets, .. } => {
                assert_eq!(packets, 0);
                closed_n += 1;
            }
        }
    }
    assert_eq!(failed.len(), 1, "one report for five calls: {failed:?}");
    assert!(failed[0].contains("Read-only"), "{}", failed[0]);
    let st = rec.stats();
    assert_eq!(st.failed.load(std::sync::atomic::Ordering::Relaxed), 5);
    assert_eq!(st.dropped.load(std::sync::atomic::Ordering::Relaxed), 15);
    assert_eq!(std::fs::read_dir(&fs.0).unwrap().count(), 0);
}
