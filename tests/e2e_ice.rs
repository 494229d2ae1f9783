//! End to end with real ICE user agents: two baresip phones (full ICE) through the proxy this
//! build is for (OpenSIPS, or Kamailio with `--features kamailio`) running its example config,
//! which adds the relay as a `low-priority` ICE candidate, with `setup_timeout` 15 s. The NAT lab
//! (`support::natlab`) puts the caller behind NAT A and the callee behind NAT B; a STUN server
//! on the proxy's address gives them server-reflexive candidates.
//!
//! 1. Only the relay works (both NATs masquerade with random ports, the private nets do not
//!    reach each other): ICE selects the relay candidate, media goes through the relay both
//!    ways, and the call stays up well past `setup_timeout` (no BYE, the session still there).
//!    The caller hangs up; the session is gone and every port is free.
//! 2. The private nets reach each other directly: ICE selects the direct pair, RTP flows
//!    between the phones and none through the relay. Once `setup_timeout` has passed the relay
//!    ends the session as "removed because ICE was used" (`timed_out` false, `all_streams_ice`
//!    true, the stream `unselected ICE candidate`), frees its ports, and the proxy does *not*
//!    end the dialog: no BYE reaches either phone, and media keeps flowing between them.
//!    With OpenSIPS, its `E_MEDIAPROXY_SESSION_END` (the example logs it) has the reason
//!    `unselected ICE candidate` and `timed_out` 0.
//! 3. The proxy stops cleanly with no problem in its log.
//!
//! Calls without ICE are the other end-to-end tests' (`e2e_nat`), unchanged.
//!
//! Needs what `e2e_nat` needs plus Debian's baresip (`baresip-core`, which `scripts/deps.sh`
//! installs): it is `#[ignore]`d, and `scripts/test.sh` includes it with the NAT lab.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::baresip::{self, Baresip, StunServer};
use support::natlab::{nap, prerequisites, stop_on_signals, Lab};
use support::netns;
use support::process::loud;

const TEST: &str = "ice_calls_relay_selected_and_direct";
const RELAY_PORTS: (u16, u16) = (40200, 40299);
/// Longer than baresip's checks take here (about 10 s: its host and server-reflexive pairs
/// time out first), so that the relay is still there when they reach it.
const SETUP_TIMEOUT_S: u64 = 15;
/// RTP packets (20 ms each) that count as media flowing.
const MIN_PACKETS: u64 = 50;

/// A baresip account: `user` at the proxy, ICE with the STUN server at `stun`.
fn account(user: &str, stun: &str, extra: &str) -> String {
    format!(
        "<sip:{user}@{proxy}>;regint={extra};medianat=ice;stunserver=stun:{stun}:3478;\
         audio_codecs=PCMU",
        proxy = netns::PROXY_IP
    )
}

/// Starts the callee and waits until it has registered.
fn start_callee(w: &mut Lab, name: &str, stun: &str) -> Baresip {
    let dir = w.site.dir.clone();
    let callee = Baresip::start(
        &dir,
        name,
        &w.topo.ua_b,
        netns::UA_B_IP,
        &account("bob", stun, "600;answermode=auto"),
        &[],
    );
    w.wait_for(&format!("baresip ({name}) registers"), |_| {
        callee
            .received_first_lines()
            .iter()
            .any(|l| l.starts_with("SIP/2.0 200"))
            .then_some(())
    });
    callee
}

/// The only session the relay has, once there is one with a stream.
fn only_session(w: &mut Lab) -> Value {
    w.wait_for("the relay has the call's session", |w| {
        let s = w.sessions();
        (s.len() == 1 && s[0]["streams"].get(0).is_some()).then(|| s[0].clone())
    })
}

fn byes(ua: &Baresip) -> Vec<String> {
    ua.received_first_lines()
        .into_iter()
        .filter(|l| l.starts_with("BYE "))
        .collect()
}

#[test]
#[ignore = "needs the proxy, root, ip netns, nft, SIPp and baresip"]
fn ice_calls_relay_selected_and_direct() {
    let proxy = prerequisites(TEST);
    if let Some(why) = baresip::available() {
        panic!("{TEST} cannot run: {why}");
    }
    stop_on_signals();
    let extra = format!(
        "modparam(\"mediaproxy\", \"setup_timeout\", {SETUP_TIMEOUT_S})\n\
         modparam(\"mediaproxy\", \"media_timeout\", {SETUP_TIMEOUT_S})"
    );
    let mut w = Lab::start("ice", proxy, RELAY_PORTS, &extra);
    let _stun = StunServer::start(
        w.topo
            .udp_socket_in(&w.topo.proxy, &format!("{}:3478", netns::PROXY_IP)),
    );
    let dir = w.site.dir.clone();
    let mut callee = start_callee(&mut w, "callee", netns::PROXY_IP);
    let dial = format!("/dial sip:bob@{}", netns::PROXY_IP);

    // ---- 1. only the relay works: ICE selects it, the call stays up -----------------------
    let mut caller = Baresip::start(
        &dir,
        "caller",
        &w.topo.ua_a,
        netns::UA_A_IP,
        &account("alice", netns::PROXY_IP, "0"),
        &[&dial],
    );
    let s = only_session(&mut w);
    let cid1 = s["call_id"].as_str().unwrap_or("").to_string();
    let up = w.media_both_ways(&cid1, MIN_PACKETS);
    if up["status"] != "active" {
        w.fail(&format!("the relayed ICE stream is not active: {up}"));
    }
    // well past setup_timeout: the session is still there and media still flows
    nap(Duration::from_secs(SETUP_TIMEOUT_S + 3));
    let later = w
        .stream(&cid1)
        .unwrap_or_else(|| w.fail(&format!("{cid1} is gone after {}s", SETUP_TIMEOUT_S + 3)));
    let grew = |k: &str| later[k].as_u64() > up[k].as_u64();
    if !(grew("caller_packets") && grew("callee_packets")) {
        w.fail(&format!(
            "media stopped through the relay: {up} then {later}"
        ));
    }
    if !byes(&caller).is_empty() || !byes(&callee).is_empty() || !caller.running() {
        w.fail("the relayed ICE call was hung up");
    }
    caller.stop();
    callee.stop();
    w.expect_all_released("the caller hung up (relayed ICE call)");

    // ---- 2. the phones reach each other: ICE selects the direct pair ---------------------
    // Each phone's STUN server is on its own net, so it learns no other address than its own
    // (as on a network without NAT): its offer and answer name its host address, the pair ICE
    // selects, and it has no reason for a re-INVITE.
    w.topo.route_private_nets();
    let _stun_a = StunServer::start(
        w.topo
            .udp_socket_in(&w.topo.ua_a, &format!("{}:3478", netns::UA_A_IP)),
    );
    let _stun_b = StunServer::start(
        w.topo
            .udp_socket_in(&w.topo.ua_b, &format!("{}:3478", netns::UA_B_IP)),
    );
    let mut callee = start_callee(&mut w, "callee2", netns::UA_B_IP);
    let mut caller = Baresip::start(
        &dir,
        "caller2",
        &w.topo.ua_a,
        netns::UA_A_IP,
        &account("alice", netns::UA_A_IP, "0"),
        &[&dial],
    );
    let s = only_session(&mut w);
    let cid2 = s["call_id"].as_str().unwrap_or("").to_string();
    let (ua_a, ua_b) = (w.topo.ua_a.clone(), w.topo.ua_b.clone());
    let peer = |w: &Lab| {
        (
            w.topo.named_counter(&ua_a, "media_from_peer"),
            w.topo.named_counter(&ua_b, "media_from_peer"),
        )
    };
    w.wait_for("RTP flows directly between the phones, both ways", |w| {
        let (a, b) = peer(w);
        (a >= MIN_PACKETS && b >= MIN_PACKETS).then_some(())
    });
    let report = w.wait_for("the relay removes the session because ICE was used", |w| {
        let log = w.run.log_text();
        log.lines()
            .find_map(|l| l.split_once(&format!("removed because ICE was used: Call-ID {cid2} (")))
            .and_then(|(_, rest)| rest.split_once("the call goes on: "))
            .and_then(|(_, json)| serde_json::from_str::<Value>(json).ok())
    });
    let st = &report["streams"][0];
    if report["timed_out"] != false
        || report["all_streams_ice"] != true
        || st["status"] != "unselected ICE candidate"
    {
        w.fail(&format!(
            "{cid2}: not reported as an unselected ICE candidate: {report}"
        ));
    }
    w.expect_all_released("the ICE session was removed");
    if w.summary()["sessions_ice_unselected"].as_u64().unwrap_or(0) != 1 {
        w.fail("summary's sessions_ice_unselected is not 1");
    }
    // the call goes on: media keeps flowing directly, nobody sent a BYE
    let then = peer(&w);
    w.wait_for("media keeps flowing between the phones", |w| {
        let now = peer(w);
        (now.0 >= then.0 + MIN_PACKETS && now.1 >= then.1 + MIN_PACKETS).then_some(())
    });
    let log = w.run.log_text();
    if log.contains(&format!("ended dialog {cid2}"))
        || log.contains(&format!("media timeout: Call-ID {cid2}"))
    {
        w.fail(&format!("the proxy treated {cid2} as a media timeout"));
    }
    if !byes(&caller).is_empty() || !byes(&callee).is_empty() || !caller.running() {
        w.fail(&format!(
            "the direct ICE call was hung up: caller got {:?}, callee got {:?}",
            byes(&caller),
            byes(&callee)
        ));
    }
    // OpenSIPS: the example's event_route logs E_MEDIAPROXY_SESSION_END, with its own reason
    if w.proxy.name == "OpenSIPS" {
        let ev = log
            .lines()
            .filter_map(|l| l.split_once("mediaproxy-acct: ").map(|(_, j)| j))
            .filter_map(|j| serde_json::from_str::<Value>(j).ok())
            .find(|v| v["call_id"] == cid2.as_str());
        let ok = ev
            .as_ref()
            .is_some_and(|v| v["reason"] == "unselected ICE candidate" && v["timed_out"] == 0);
        if !ok {
            w.fail(&format!("E_MEDIAPROXY_SESSION_END for {cid2}: {ev:?}"));
        }
    }
    loud(&format!("{TEST}: direct call {cid2}: {report}"));
    caller.stop();
    callee.stop();

    // ---- 3. a clean stop ---------------------------------------------------------------
    w.stop_proxy();
    w.finish();
}
