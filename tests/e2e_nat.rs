//! End to end: calls through NAT with mediaproxy.so inside a real proxy: OpenSIPS running
//! `cfg-examples/opensips.cfg`, or with `--features kamailio` Kamailio running
//! `cfg-examples/kamailio.cfg` (the same scenario; only starting the proxy and reading its log
//! differ, see `support::proxy`).
//!
//! The proxy runs its example config (rendered by the shared harness, with a short
//! `setup_timeout` (3 s) and `media_timeout` (4 s) appended) in network namespace "proxy" on
//! 198.51.100.1. A SIPp caller sits behind masquerading NAT A, a SIPp callee behind NAT B (see
//! `support::netns` and `support::natlab`). The proxy has no route to the private nets, so every
//! packet to a user agent must go to its NAT's public address and port.
//!
//! 1. The callee REGISTERs (the registrar keeps its NAT address).
//! 2. Call 1 with RTP both ways: the relay's `sessions` shows packets from both sides, latched
//!    at the NATs' public addresses; the user agents count RTP arriving from the relay only.
//!    The caller puts the call on hold (re-INVITE, sendonly; the relay shows "on hold" with the
//!    hold timeout) and takes it back (media flows again). The callee hangs up: its BYE reaches
//!    the caller through NAT A only because fix_contact() rewrote the caller's Contact. The
//!    session is gone and every relay port is free again.
//! 3. Call 2 is silent (never any media) and call 3's media stops mid-call (no hold): the
//!    relay's timeout ends each (setup_timeout, resp. media_timeout, as its report shows), and
//!    the proxy sends a BYE to both sides, which both receive through their NATs (the dialog
//!    module uses the Contacts fix_contact() fixed). Again no session and no port is left.
//! 4. What the user agents received: every SDP's c= and m= lines name the relay;
//!    each Contact names the other side's NAT; nothing reached a user agent except from the
//!    proxy host (SIP from the proxy, RTP from the relay's ports, the odd ICMP error).
//! 5. The proxy stops cleanly (no control socket file left) and its log has no error, no
//!    critical line and no warning from this module.
//!
//! `calls_through_nat_with_the_kernel_fast_path` runs the same with `relay_kernel` `ebpf` and
//! checks that the kernel forwarded part of call 1's media.
//!
//! Needs the proxy's binary (OPENSIPS_BIN or opensips on PATH; KAMAILIO_BIN or kamailio on
//! PATH), root with `ip netns`, nft and SIPp: it is `#[ignore]`d, and `scripts/test.sh`
//! includes it when all of them are there.

mod support;

use serde_json::Value;
use support::natlab::{self, body, header, prerequisites, Lab, Side};
use support::netns;
use support::process::loud;

const TEST: &str = "calls_through_nat_relay_media_hold_bye_and_media_timeout";
const RELAY_PORTS: (u16, u16) = (40000, 40099);
const SETUP_TIMEOUT_S: u32 = 3;
const MEDIA_TIMEOUT_S: u32 = 4;
/// The example config's hold_timeout (kept: the test checks the relay switches to it).
const HOLD_TIMEOUT_S: u64 = 7200;
/// Packets each way before a call counts as carrying media (a stream, not a stray packet).
const MIN_PACKETS: u64 = 10;

/// A call the relay must end by itself: `e2e-<name>-1` with scenarios `uac_<name>.xml` and
/// `uas_<name>.xml`. With `media`, RTP flows both ways first and the test then tells both
/// sides to fall silent. Both user agents must get the proxy's BYE (through their NATs), the
/// relay must report the timeout with `timeout_wait` = `wait_s`, and nothing may be left.
/// Returns the (caller, callee) SIPp runs.
fn timeout_call(lab: &mut Lab, name: &str, media: bool, wait_s: u32) -> (usize, usize) {
    let timed_out_before = lab.summary()["sessions_timed_out"].as_u64().unwrap_or(0);
    let call = lab.start_call(name, media);
    let call_id = call.call_id.clone();
    if media {
        lab.media_both_ways(&call_id, MIN_PACKETS);
        lab.pace(Side::Caller, &call_id);
        lab.pace(Side::Callee, &call_id);
    }
    lab.expect_success(call.callee);
    lab.expect_success(call.caller);
    lab.expect_all_released(&format!("the timeout of {call_id}"));
    let log = lab.run.log_text();
    let report = log
        .lines()
        .find_map(|l| l.split_once(&format!("media timeout: Call-ID {call_id} (")))
        .and_then(|(_, rest)| rest.split_once("): "))
        .and_then(|(_, json)| serde_json::from_str::<Value>(json).ok());
    let Some(report) = report else {
        lab.fail(&format!(
            "the log has no media timeout report for {call_id}"
        ));
    };
    let stream = &report["streams"][0];
    if report["timed_out"] != true
        || stream["status"] != "no-traffic timeout"
        || stream["timeout_wait"].as_u64() != Some(u64::from(wait_s))
    {
        lab.fail(&format!(
            "{call_id} should have timed out after {wait_s} s without traffic: {report}"
        ));
    }
    if !log.contains(&format!("ended dialog {call_id} (media timeout)")) {
        lab.fail(&format!("the log does not show the dialog {call_id} ended"));
    }
    if lab.summary()["sessions_timed_out"].as_u64().unwrap_or(0) <= timed_out_before {
        lab.fail(&format!(
            "summary's sessions_timed_out did not count {call_id}"
        ));
    }
    (call.caller, call.callee)
}

fn udp_port(addr: &str) -> Option<u16> {
    addr.rsplit_once(':')?.1.parse().ok()
}

fn in_relay_range(port: u16) -> bool {
    (RELAY_PORTS.0..=RELAY_PORTS.1).contains(&port)
}

fn check_sdps(who: &str, received: &[String], problems: &mut Vec<String>) -> usize {
    natlab::check_sdps(who, received, RELAY_PORTS, problems)
}

#[test]
#[ignore = "needs the proxy, root, ip netns, nft and SIPp"]
fn calls_through_nat_relay_media_hold_bye_and_media_timeout() {
    calls_through_nat(false);
}

/// The same calls with `relay_kernel` `ebpf`: latched media forwarded by the kernel fast path
/// (which must have forwarded some), the same statistics, hold and timeouts.
#[test]
#[ignore = "needs the proxy, root, ip netns, nft, SIPp and a build with the fast path"]
fn calls_through_nat_with_the_kernel_fast_path() {
    calls_through_nat(true);
}

fn calls_through_nat(kernel: bool) {
    let proxy = prerequisites(TEST);
    loud(&format!(
        "{TEST}: {} ({}) with {}{}",
        proxy.name,
        proxy.host.version,
        proxy.host.module_so.display(),
        if kernel { ", relay_kernel ebpf" } else { "" }
    ));

    // ---- the network and the proxy -------------------------------------------------------
    let mut extra = format!(
        "modparam(\"mediaproxy\", \"setup_timeout\", {SETUP_TIMEOUT_S})\n\
         modparam(\"mediaproxy\", \"media_timeout\", {MEDIA_TIMEOUT_S})"
    );
    if kernel {
        extra.push_str("\nmodparam(\"mediaproxy\", \"relay_kernel\", \"ebpf\")");
    }
    let mut w = Lab::start(
        if kernel { "e2ek" } else { "e2e" },
        proxy,
        RELAY_PORTS,
        &extra,
    );

    // ---- 1. the callee registers through NAT B -------------------------------------------
    w.register_callee();

    // ---- 2. call 1: media both ways, hold, resume, BYE from the callee -------------------
    let call1 = w.start_call("hold", true);
    let cid1 = call1.call_id.clone();
    // the relay latched on the NATs' public addresses
    let up = w.media_through_the_nats(&cid1, MIN_PACKETS);
    for k in ["caller_local", "callee_local"] {
        let local = up[k].as_str().unwrap_or("");
        if !local.starts_with(&format!("{}:", netns::PROXY_IP))
            || !udp_port(local).is_some_and(in_relay_range)
        {
            w.fail(&format!("{k} is not a relay port: {up}"));
        }
    }
    if up["status"] != "active" {
        w.fail(&format!("stream not active during the call: {up}"));
    }

    // hold: the caller re-INVITEs with sendonly, the callee answers recvonly; both go silent
    w.pace(Side::Caller, &cid1);
    let held = w.wait_for("the relay puts the stream on hold", |w| {
        let st = w.stream(&cid1)?;
        (st["status"] == "on hold").then_some(st)
    });
    if held["timeout_wait"].as_u64() != Some(HOLD_TIMEOUT_S) {
        w.fail(&format!(
            "on hold, the stream should wait hold_timeout ({HOLD_TIMEOUT_S} s): {held}"
        ));
    }
    // media stops while on hold: two equal readings in a row (bounded)
    let mut last = (u64::MAX, u64::MAX);
    let quiet = w.wait_for("media stops while on hold", |w| {
        let st = w.stream(&cid1)?;
        let now = (
            st["caller_packets"].as_u64()?,
            st["callee_packets"].as_u64()?,
        );
        let same = now == last;
        last = now;
        std::thread::sleep(std::time::Duration::from_millis(300));
        same.then_some(now)
    });
    let held_a = w.counters(Side::Caller).rtp_from_relay;
    let held_b = w.counters(Side::Callee).rtp_from_relay;

    // back from hold: sendrecv again, media flows again both ways
    w.pace(Side::Caller, &cid1);
    w.wait_for("media flows again after the hold", |w| {
        let st = w.stream(&cid1)?;
        let ok = st["status"] == "active"
            && st["caller_packets"].as_u64()? > quiet.0
            && st["callee_packets"].as_u64()? > quiet.1
            && w.counters(Side::Caller).rtp_from_relay > held_a
            && w.counters(Side::Callee).rtp_from_relay > held_b;
        ok.then_some(())
    });

    // the callee hangs up: the BYE must reach the caller through NAT A
    w.pace(Side::Callee, &cid1);
    w.expect_success(call1.callee);
    w.expect_success(call1.caller);
    w.expect_all_released("the callee's BYE");
    if w.summary()["packets_relayed"].as_u64().unwrap_or(0) == 0 {
        w.fail("summary's packets_relayed is 0 after a call with media");
    }
    if kernel && w.summary()["packets_kernel"].as_u64().unwrap_or(0) == 0 {
        w.fail("relay_kernel ebpf: the kernel fast path forwarded no packet of call 1");
    }

    // ---- 3. calls ended by the relay's timeouts, with a BYE to both sides ----------------
    // call 2 never carries media (setup_timeout); call 3's media stops mid-call, without a
    // hold (media_timeout)
    let (caller2, callee2) = timeout_call(&mut w, "silent", false, SETUP_TIMEOUT_S);
    let (caller3, callee3) = timeout_call(&mut w, "stops", true, MEDIA_TIMEOUT_S);

    // ---- 4. what the user agents received ------------------------------------------------
    let mut problems = Vec::new();
    let (c1, e1, c2, e2, c3, e3) = (
        w.received(call1.caller),
        w.received(call1.callee),
        w.received(caller2),
        w.received(callee2),
        w.received(caller3),
        w.received(callee3),
    );
    // call 1: 200 OK + two re-INVITE answers at the caller; INVITE + two re-INVITEs at the
    // callee; calls 2 and 3: one each
    for (who, msgs, want) in [
        ("caller (call 1)", &c1, 3),
        ("callee (call 1)", &e1, 3),
        ("caller (call 2)", &c2, 1),
        ("callee (call 2)", &e2, 1),
        ("caller (call 3)", &c3, 1),
        ("callee (call 3)", &e3, 1),
    ] {
        let n = check_sdps(who, msgs, &mut problems);
        if n < want {
            problems.push(format!("{who}: {n} SDP bodies received, wanted {want}"));
        }
    }
    // the hold offer kept its direction through the rewrite
    if !e1
        .iter()
        .any(|m| m.starts_with("INVITE ") && body(m).contains("a=sendonly"))
    {
        problems.push("the callee never received the sendonly (hold) re-INVITE".into());
    }
    // each side learned the other's NAT address as its Contact (fix_contact)
    for (who, msgs, first_line, nat) in [
        ("callee", &e1, "INVITE ", netns::NAT_A_PUBLIC),
        ("caller", &c1, "SIP/2.0 200", netns::NAT_B_PUBLIC),
    ] {
        let contact = msgs
            .iter()
            .find(|m| m.starts_with(first_line))
            .and_then(|m| header(m, "Contact"));
        if !contact.is_some_and(|c| c.contains(&format!("@{nat}:"))) {
            problems.push(format!(
                "the {who} got Contact {contact:?}, not the other side's NAT address {nat}"
            ));
        }
    }
    // the BYEs: from the callee (call 1) and from the proxy to both sides (calls 2 and 3)
    for (who, msgs) in [
        ("caller (call 1)", &c1),
        ("caller (call 2)", &c2),
        ("callee (call 2)", &e2),
        ("caller (call 3)", &c3),
        ("callee (call 3)", &e3),
    ] {
        if !msgs.iter().any(|m| m.starts_with("BYE ")) {
            problems.push(format!("the {who} received no BYE"));
        }
    }
    // nothing reached a user agent except from the proxy host: SIP from the proxy, RTP from the
    // relay's ports (and ICMP, e.g. port unreachable for RTP SIPp still sent after the BYE)
    let (ca, cb) = (w.counters(Side::Caller), w.counters(Side::Callee));
    loud(&format!("{TEST}: packets into ua-a {ca:?}, ua-b {cb:?}"));
    for (who, c) in [("ua-a", ca), ("ua-b", cb)] {
        if c.sip_from_proxy == 0 || c.rtp_from_relay == 0 || c.other_in != 0 {
            problems.push(format!("{who} packet counters: {c:?}"));
        }
    }
    if !problems.is_empty() {
        w.fail(&problems.join("\n"));
    }

    // ---- 5. a clean stop: no error, no critical line, no warning of ours ----------------
    // (a Contact left private shows up here as "Network is unreachable")
    w.stop_proxy();
    // MPX_KEEP=1 keeps the config, the logs and SIPp's message traces of a passing run
    w.finish();
}
