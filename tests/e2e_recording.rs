//! Recording end to end: calls through the NAT lab (see `tests/e2e_nat.rs`) with the module's
//! `recording_dir` set and `start_recording()` called by the script on every 200 OK, in the
//! proxy this build is for (OpenSIPS running `cfg-examples/opensips.cfg`, or with
//! `--features kamailio` Kamailio running `cfg-examples/kamailio.cfg`, the line added to their
//! `onreply_route`).
//!
//! The recording directory is a small tmpfs of the test's own.
//! 1. A call with RTP both ways that falls silent and is ended by the relay's media timeout
//!    (so no packet is in flight when it ends): its pcap file, read back with tshark, holds
//!    per direction exactly the packets the relay reports for that session (caller → relay
//!    from NAT A's public address, callee → relay from NAT B's), each to the relay port that
//!    party sends to; the relay's report and the session-end event name the file.
//! 2. The tmpfs is made read-only; a second call (hung up by the callee) carries media both
//!    ways as usual, its session ends normally (the session-end event, not timed out), and the log has exactly
//!    one line about the failed recording; nothing is left in the directory.
//!
//! Needs the proxy's binary, root with `ip netns`, nft, SIPp and tshark.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::natlab::{prerequisites, Lab, Side};
use support::netns;
use support::process::loud;

const TEST: &str = "recorded_calls_through_nat_match_the_relay_and_survive_a_read_only_directory";
const RELAY_PORTS: (u16, u16) = (40400, 40499);
const MEDIA_TIMEOUT_S: u32 = 3;
const MIN_PACKETS: u64 = 20;
/// The example configs' reply route, and the line the test adds to it.
const ONREPLY: &str = "onreply_route {";
const START: &str = "\tif ($rs == \"200\" && $rm == \"INVITE\") start_recording();";

/// A tmpfs on a fresh directory; unmounted and removed on drop (after the lab).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount() -> Tmpfs {
        let dir = std::env::temp_dir().join(format!("mpx-e2e-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("recording dir");
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount runs");
        assert!(st.success(), "mount a tmpfs on {}", dir.display());
        Tmpfs(dir)
    }

    fn read_only(&self) {
        let st = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .expect("mount runs");
        assert!(st.success(), "remount {} read-only", self.0.display());
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.0)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Per packet of a pcap: (source IP, destination "ip:port").
fn tshark(path: &Path) -> Result<Vec<(String, String)>, String> {
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
            "ip.dst",
            "-e",
            "udp.dstport",
        ])
        .output()
        .map_err(|e| format!("tshark: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tshark -r {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.len() == 3).then(|| (f[0].to_string(), format!("{}:{}", f[1], f[2])))
        })
        .collect())
}

fn sum(report: &Value, k: &str) -> u64 {
    report["streams"]
        .as_array()
        .map(|s| s.iter().filter_map(|x| x[k].as_u64()).sum())
        .unwrap_or(0)
}

#[test]
#[ignore = "needs the proxy, root, ip netns, nft, SIPp and tshark"]
fn recorded_calls_through_nat_match_the_relay_and_survive_a_read_only_directory() {
    let proxy = prerequisites(TEST);
    loud(&format!(
        "{TEST}: {} ({}) with {}",
        proxy.name,
        proxy.host.version,
        proxy.host.module_so.display()
    ));
    let fs = Tmpfs::mount();
    let extra = format!(
        "modparam(\"mediaproxy\", \"recording_dir\", \"{}\")\n\
         modparam(\"mediaproxy\", \"media_timeout\", {MEDIA_TIMEOUT_S})",
        fs.0.display()
    );
    // the script records every answered call: start_recording() on the 200 OK
    let mut w = Lab::start_edited("rec", proxy, RELAY_PORTS, &extra, |cfg| {
        assert!(cfg.contains(ONREPLY), "the example has an onreply_route");
        cfg.replacen(ONREPLY, &format!("{ONREPLY}\n{START}"), 1)
    });
    w.register_callee();

    // ---- 1. a recorded call, ended by the media timeout -------------------------------------
    let call = w.start_call("stops", true);
    let cid = call.call_id.clone();
    let up = w.media_through_the_nats(&cid, MIN_PACKETS);
    let recording = w
        .session(&cid)
        .and_then(|s| s["recording"].as_str().map(PathBuf::from));
    let Some(recording) = recording else {
        w.fail(&format!("the session of {cid} names no recording"));
    };
    if recording.parent() != Some(fs.0.as_path()) {
        w.fail(&format!("{} is not in recording_dir", recording.display()));
    }
    w.pace(Side::Caller, &cid);
    w.pace(Side::Callee, &cid);
    w.expect_success(call.callee);
    w.expect_success(call.caller);
    w.expect_all_released(&format!("the media timeout of {cid}"));
    let closed = format!("recording {} closed", recording.display());
    w.wait_for("the recording's file is closed", |l| {
        l.run.log_text().contains(&closed).then_some(())
    });
    let log = w.run.log_text();
    let report = log
        .lines()
        .find_map(|l| l.split_once(&format!("media timeout: Call-ID {cid} (")))
        .and_then(|(_, rest)| rest.split_once("): "))
        .and_then(|(_, json)| serde_json::from_str::<Value>(json).ok());
    let Some(report) = report else {
        w.fail(&format!("the log has no media timeout report for {cid}"));
    };
    if report["recording"].as_str() != recording.to_str() {
        w.fail(&format!("the report does not name the file: {report}"));
    }
    // the session-end event (both example configs log it, the field named `recording`)
    let named = log.lines().any(|l| {
        l.contains(&cid)
            && (l.contains(&format!("recording={}", recording.display()))
                || l.contains(&format!("\"recording\":\"{}\"", recording.display())))
    });
    if !named {
        w.fail("the session-end event's log line does not name the recording");
    }
    let packets = match tshark(&recording) {
        Ok(p) => p,
        Err(e) => w.fail(&e),
    };
    let from = |ip: &str| packets.iter().filter(|(s, _)| s == ip).count() as u64;
    let (a, b) = (from(netns::NAT_A_PUBLIC), from(netns::NAT_B_PUBLIC));
    let (want_a, want_b) = (
        sum(&report, "caller_packets"),
        sum(&report, "callee_packets"),
    );
    loud(&format!(
        "{TEST}: {}: caller→relay {a} (relay: {want_a}), callee→relay {b} (relay: {want_b}), {} in all",
        recording.display(),
        packets.len()
    ));
    if a != want_a || b != want_b || a < MIN_PACKETS || b < MIN_PACKETS {
        w.fail(&format!(
            "the pcap holds {a} packets from the caller and {b} from the callee; the relay \
             reports {want_a} and {want_b}"
        ));
    }
    if packets.len() as u64 != a + b {
        w.fail(&format!("the pcap holds other packets: {packets:?}"));
    }
    // each to the relay port that party sends to (caller_local: the caller-facing port)
    for (ip, k) in [
        (netns::NAT_A_PUBLIC, "caller_local"),
        (netns::NAT_B_PUBLIC, "callee_local"),
    ] {
        let local = up[k].as_str().unwrap_or("").to_string();
        if !packets.iter().any(|(s, d)| s == ip && *d == local) {
            w.fail(&format!("no packet from {ip} to {k} {local}: {up}"));
        }
    }

    // ---- 2. a read-only directory: the call goes on, one log line -----------------------
    fs.read_only();
    let call = w.start_call("call", true);
    let cid2 = call.call_id.clone();
    w.media_through_the_nats(&cid2, MIN_PACKETS);
    w.pace(Side::Callee, &cid2);
    w.expect_success(call.callee);
    w.expect_success(call.caller);
    w.expect_all_released("the callee's BYE");
    let log = w.run.log_text();
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("recording to ") && l.contains("failed"))
        .collect();
    if failed.len() != 1 || !failed[0].contains("the calls go on") {
        w.fail(&format!(
            "want one line about the failed recording: {failed:?}"
        ));
    }
    let ended_normally = log.lines().any(|l| {
        l.contains(&format!("call_id={cid2} ")) && l.contains("timed_out=0")
            || l.contains(&format!("\"call_id\":\"{cid2}\""))
                && l.contains("mediaproxy-acct")
                && l.contains("\"timed_out\":0")
    });
    if !ended_normally {
        w.fail(&format!("no session-end event of a normal end for {cid2}"));
    }
    if fs.files() != vec![recording.clone()] {
        w.fail(&format!("files in the directory: {:?}", fs.files()));
    }
    w.stop_proxy_tolerating(&["recording to "]);
    w.finish();
}
