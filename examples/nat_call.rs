//! The demo of the README's first command (`scripts/main.sh` runs it after installing the
//! module): one call between two SIPp user agents, each behind a masquerading NAT in a network
//! namespace of its own, through the proxy this build is for (OpenSIPS, or Kamailio with
//! `--features kamailio`) running its example config with mediaproxy.so. It prints what the
//! relay saw during the call (its control socket's `sessions`: each stream's packets both ways,
//! codecs and addresses), then checks that the callee's BYE reached the caller through NAT A
//! and that the relay freed every port, and stops the proxy.
//!
//! ```text
//! nat_call [--module PATH] [--seconds N]
//! ```
//!
//! `--module` loads that copy of mediaproxy.so (e.g. the installed one) instead of the one
//! cargo built beside this example; `--seconds` is how long the media flows (default 3, at most
//! 60). The proxy's binary comes from OPENSIPS_BIN / KAMAILIO_BIN or PATH, as for the tests.
//! Needs root (network namespaces), nft and SIPp (`scripts/deps.sh` installs them).
//!
//! Everything it starts is stopped, and its namespaces (with their veths and nft tables) are
//! deleted, when it ends: normally, on a failure, or on Ctrl-C / SIGTERM. It exits 0 only when
//! media went both ways through the relay and the call ended cleanly.

#[path = "../tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use support::natlab::{self, nap, Lab, Side};
use support::netns;

const RELAY_PORTS: (u16, u16) = (40000, 40099);
/// Packets each way before the call counts as carrying media.
const MIN_PACKETS: u64 = 10;

fn say(line: &str) {
    println!("nat_call: {line}");
}

struct Args {
    module: Option<PathBuf>,
    seconds: u64,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        module: None,
        seconds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--module" => {
                let p = PathBuf::from(it.next().ok_or("--module needs a path")?);
                if !p.is_file() {
                    return Err(format!("--module {}: no such file", p.display()));
                }
                a.module = Some(std::fs::canonicalize(&p).map_err(|e| e.to_string())?);
            }
            "--seconds" => {
                let n = it.next().ok_or("--seconds needs a number")?;
                a.seconds = n
                    .parse()
                    .ok()
                    .filter(|s| (1..=60).contains(s))
                    .ok_or(format!("--seconds {n}: wanted 1 to 60"))?;
            }
            "-h" | "--help" => {
                return Err("usage: nat_call [--module PATH] [--seconds N]".into());
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(a)
}

/// The relay's view of one session, as the demo prints it.
fn describe(session: &Value) -> Vec<String> {
    let s = |v: &Value| v.as_str().unwrap_or("?").to_string();
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let streams = session["streams"].as_array().cloned().unwrap_or_default();
    let mut out = vec![format!(
        "session {}: {} -> {}, {} stream(s), {} s so far",
        s(&session["call_id"]),
        s(&session["from_uri"]),
        s(&session["to_uri"]),
        streams.len(),
        n(&session["duration"])
    )];
    for (i, st) in streams.iter().enumerate() {
        out.push(format!(
            "  stream {} ({}, {}): caller {} <-> relay {} | relay {} <-> callee {}",
            i + 1,
            s(&st["media_type"]),
            s(&st["status"]),
            s(&st["caller_remote"]),
            s(&st["caller_local"]),
            s(&st["callee_local"]),
            s(&st["callee_remote"]),
        ));
        out.push(format!(
            "    caller->callee: {} packets ({} bytes), callee->caller: {} packets ({} bytes), \
             codec {} / {}",
            n(&st["caller_packets"]),
            n(&st["caller_bytes"]),
            n(&st["callee_packets"]),
            n(&st["callee_bytes"]),
            s(&st["caller_codec"]),
            s(&st["callee_codec"]),
        ));
    }
    out
}

/// The call; panics (after which the lab cleans up while unwinding) on any failure.
fn demo(args: &Args, mut proxy: support::proxy::Proxy) {
    if let Some(so) = &args.module {
        proxy.use_module(so.clone());
    }
    say(&format!(
        "{} ({}) with {}",
        proxy.name,
        proxy.host.version,
        proxy.host.module_so.display()
    ));
    let mut lab = Lab::start("demo", proxy, RELAY_PORTS, "");
    say(&format!(
        "proxy and relay on {} (namespace {}), relay ports {}-{}",
        lab.proxy_addr(),
        lab.topo.proxy,
        RELAY_PORTS.0,
        RELAY_PORTS.1
    ));
    say(&format!(
        "caller {} behind NAT A ({}), callee {} behind NAT B ({}); both NATs masquerade with \
         random ports",
        netns::UA_A_IP,
        netns::NAT_A_PUBLIC,
        netns::UA_B_IP,
        netns::NAT_B_PUBLIC
    ));

    lab.register_callee();
    say("the callee registered through NAT B");
    let call = lab.start_call("call", true);
    let call_id = call.call_id.clone();
    lab.media_both_ways(&call_id, MIN_PACKETS);
    say(&format!(
        "call {call_id} answered, RTP (PCMU) flowing both ways; letting it run {} s",
        args.seconds
    ));
    nap(Duration::from_secs(args.seconds));

    // what the relay saw, from its control socket during the call
    let Some(session) = lab.session(&call_id) else {
        lab.fail(&format!(
            "the relay has no session {call_id} during the call"
        ));
    };
    println!();
    println!(
        "relay sessions during the call (control socket {}, command `sessions`):",
        lab.control_socket().display()
    );
    for line in describe(&session) {
        println!("  {line}");
    }
    println!();
    let st = &session["streams"][0];
    let (up, down) = (
        st["caller_packets"].as_u64().unwrap_or(0),
        st["callee_packets"].as_u64().unwrap_or(0),
    );
    if up < MIN_PACKETS || down < MIN_PACKETS {
        lab.fail(&format!(
            "the relay did not relay media both ways: {up} / {down} packets"
        ));
    }

    // the callee hangs up: its BYE reaches the caller only through NAT A (fix_contact)
    lab.pace(Side::Callee, &call_id);
    lab.expect_success(call.callee);
    lab.expect_success(call.caller);
    if !lab
        .received(call.caller)
        .iter()
        .any(|m| m.starts_with("BYE "))
    {
        lab.fail("the caller never received the callee's BYE");
    }
    say("the callee hung up; its BYE reached the caller through NAT A");
    lab.expect_all_released("the BYE");
    let summary = lab.summary();
    let count = |k: &str| summary[k].as_u64().unwrap_or(0);
    let relayed = count("packets_relayed");
    let not_relayed = count("packets_dropped_no_session") + count("packets_dropped_strict");
    say(&format!(
        "the relay ended the session and freed its ports: {} session(s), {} port(s) in use; \
         in all it received {} packet(s) (the counts above grew until the BYE): {relayed} \
         relayed, {not_relayed} not relayed",
        summary["session_count"],
        summary["ports_in_use"],
        relayed + not_relayed,
    ));
    let (ca, cb) = (lab.counters(Side::Caller), lab.counters(Side::Callee));
    say(&format!(
        "RTP packets that arrived from the relay (nft counters in the user agents' \
         namespaces): caller {} + callee {} = {}; from anywhere else: {}",
        ca.rtp_from_relay,
        cb.rtp_from_relay,
        ca.rtp_from_relay + cb.rtp_from_relay,
        ca.other_in + cb.other_in
    ));
    if not_relayed > 0 {
        // the relay learns a party's public (NAT) address from that party's first packet; the
        // SDP names only a private one, which the relay cannot reach
        say(&format!(
            "not relayed: {not_relayed} packet(s) that reached the relay before the other \
             party's first one, while it knew only that party's private SDP address"
        ));
    }
    let name = lab.proxy.name;
    lab.stop_proxy();
    say(&format!(
        "{name} stopped cleanly; no error in its log (MPX_KEEP=1 keeps {})",
        lab.site.dir.display()
    ));
    lab.finish();
}

fn main() {
    // first: from here on a signal ends the run through the lab's cleanup
    natlab::stop_on_signals();
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nat_call: {e}");
            std::process::exit(2);
        }
    };
    if let Some(why) = netns::unavailable() {
        eprintln!("nat_call: cannot build the NAT network here: {why}");
        std::process::exit(1);
    }
    let proxy = support::proxy::find("nat_call");
    // a failure panics inside; the lab's guards stop everything and delete the namespaces while
    // it unwinds, before this reports it
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| demo(&args, proxy)));
    match ok {
        Ok(()) => {
            say("OK: media relayed both ways through NAT; namespaces and processes cleaned up")
        }
        Err(_) if natlab::interrupted() => {
            eprintln!("nat_call: interrupted; stopped everything and deleted its namespaces");
            std::process::exit(130);
        }
        Err(_) => {
            eprintln!(
                "nat_call: FAILED (see above); stopped everything and deleted its namespaces"
            );
            std::process::exit(1);
        }
    }
}
