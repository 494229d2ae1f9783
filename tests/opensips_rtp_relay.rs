//! mediaproxy.so as the engine of OpenSIPS's rtp_relay module: OpenSIPS runs
//! `cfg-examples/opensips-rtp_relay.cfg` (`rtp_relay_engage("mediaproxy")` on the initial
//! INVITE, no `engage_media_proxy()`) in the NAT lab of `e2e_nat.rs`: a SIPp caller behind
//! masquerading NAT A, a SIPp callee behind NAT B, the proxy and its embedded relay on
//! 198.51.100.1 with no route to the private nets.
//!
//! 1. The module registered as engine "mediaproxy" (start-up log line).
//! 2. A call with RTP both ways: the relay's session (under the call's own Call-ID) shows
//!    packets from both sides, latched at the NATs' public addresses; MI `rtp_relay:list`
//!    shows the call with engine mediaproxy and the node the engine filled in.
//! 3. Hold and resume by re-INVITE: the relay shows the stream on hold, then active with media
//!    both ways again.
//! 4. The callee hangs up: the rtp_relay module's delete ends the relay session (its report is
//!    logged), and every relay port is free again.
//! 5. Every SDP the user agents received names the relay; nothing reached them but from the
//!    proxy host.
//! 6. CANCEL: the caller cancels while the callee rings; the relay session is ended, every
//!    port is free.
//! 7. Parallel forking: the callee has a second contact that rings and is cancelled when the
//!    first answers. Engaged in the request route, the branches share the call's relay
//!    session (both INVITEs name the same relay port): the CANCEL leaves it to the answered
//!    branch, which relays media both ways until the BYE; then nothing is left.
//! 8. Late offer: an INVITE without SDP, the offer in the 200 OK, the answer in the ACK;
//!    media both ways, every SDP names the relay.
//! 9. Early media: a reliable 183 with SDP and its PRACK, RTP both ways through the relay
//!    before the callee answers; the 200 OK with the same SDP names the same relay port.
//! 10. Live re-anchoring: MI `rtp_relay:update` with a new node sends each party a re-INVITE
//!     naming new relay ports; media flows through them both ways, the old session (and its
//!     ports) is ended.
//! 11. A call without media: the relay ends it after `setup_timeout` (3 s here) and its report
//!     ends the dialog (BYE to both sides), as with `engage_media_proxy()`.
//! 12. A B2B call (a second proxy with `cfg-examples/opensips-rtp_relay-b2b.cfg`): b2b_logic's
//!     topology hiding, the callee sees only the proxy (its own Call-ID, no caller address);
//!     media relayed both ways through one relay session; the callee's BYE ends it.
//!
//! 13. Engaged per branch (a third proxy with `cfg-examples/opensips-rtp_relay-branch.cfg`,
//!     `rtp_relay_engage()` in a branch route): the forked call's INVITEs name different relay
//!     ports; the cancelled branch's relay session ends by the relay's setup timeout (the
//!     rtp_relay module does not report a losing branch), the answered one relays media both
//!     ways until the BYE.
//!
//! At the end of each part the proxy stops with no error, critical line or warning of ours in
//! its log.
//!
//! Needs OpenSIPS with its rtp_relay module (OPENSIPS_BIN or opensips on PATH), root with
//! `ip netns`, nft and SIPp: it is `#[ignore]`d, and `scripts/test.sh` includes it when all of
//! that is there (the OpenSIPS build only).
#![cfg(not(feature = "kamailio"))]

mod support;

use support::natlab::{self, body, header, prerequisites, Lab, Side};
use support::netns;
use support::opensips;
use support::process::loud;

const TEST: &str = "rtp_relay_engine_calls_through_nat";
const RELAY_PORTS: (u16, u16) = (40100, 40199);
const MIN_PACKETS: u64 = 10;
/// A call that never carries media ends after this long.
const SETUP_TIMEOUT_S: u32 = 3;
/// The second callee's SIP and media ports (beside the first one's, behind NAT B).
const FORK_UA: (u16, u16) = (5070, 6100);

/// The MI command `rtp_relay:list` (4.0) / `rtp_relay_list` (3.6).
fn rtp_relay_list(lab: &Lab) -> Result<String, String> {
    let name = if lab.proxy.host.version.contains(" 4.0.") {
        "rtp_relay:list"
    } else {
        "rtp_relay_list"
    };
    opensips::mi(&lab.site, name, "{}")
}

#[test]
#[ignore = "needs the proxy, root, ip netns, nft and SIPp"]
fn rtp_relay_engine_calls_through_nat() {
    let mut proxy = prerequisites(TEST);
    proxy.use_config(opensips::render_rtp_relay_example);
    loud(&format!(
        "{TEST}: {} ({}) with {}",
        proxy.name,
        proxy.host.version,
        proxy.host.module_so.display()
    ));
    let extra = format!("modparam(\"mediaproxy\", \"setup_timeout\", {SETUP_TIMEOUT_S})");
    let mut w = Lab::start("rr", proxy, RELAY_PORTS, &extra);

    // ---- 1. the engine is registered ------------------------------------------------------
    if !w
        .run
        .log_text()
        .contains("registered as rtp_relay engine \"mediaproxy\"")
    {
        w.fail("the log does not show mediaproxy registered as an rtp_relay engine");
    }

    // ---- 2. a call with media both ways ---------------------------------------------------
    w.register_callee();
    let call = w.start_call("hold", true);
    let cid = call.call_id.clone();
    // the relay latched on the NATs' public addresses
    w.media_through_the_nats(&cid, MIN_PACKETS);
    let session = w.session(&cid).unwrap_or_default();
    let from_tag = session["from_tag"].as_str().unwrap_or("").to_string();
    if from_tag.is_empty() {
        w.fail(&format!("the relay session has no From tag: {session}"));
    }
    // MI: the rtp_relay module lists the call, on our engine, with the node we filled in
    let listed = match rtp_relay_list(&w) {
        Ok(l) => l,
        Err(e) => w.fail(&format!("MI rtp_relay list: {e}")),
    };
    let node = format!("\"node\":\"mediaproxy/{from_tag}\"");
    if !listed.contains("\"mediaproxy\"") || !listed.contains(&node) {
        w.fail(&format!(
            "MI rtp_relay list does not show engine mediaproxy with {node}: {listed}"
        ));
    }

    // ---- 3. hold and resume ---------------------------------------------------------------
    w.pace(Side::Caller, &cid);
    w.wait_for("the relay puts the stream on hold", |w| {
        let st = w.stream(&cid)?;
        (st["status"] == "on hold").then_some(())
    });
    let mut last = (u64::MAX, u64::MAX);
    let quiet = w.wait_for("media stops while on hold", |w| {
        let st = w.stream(&cid)?;
        let now = (
            st["caller_packets"].as_u64()?,
            st["callee_packets"].as_u64()?,
        );
        let same = now == last;
        last = now;
        std::thread::sleep(std::time::Duration::from_millis(300));
        same.then_some(now)
    });
    w.pace(Side::Caller, &cid);
    w.wait_for("media flows again after the hold", |w| {
        let st = w.stream(&cid)?;
        let ok = st["status"] == "active"
            && st["caller_packets"].as_u64()? > quiet.0
            && st["callee_packets"].as_u64()? > quiet.1;
        ok.then_some(())
    });

    // ---- 4. the callee hangs up: rtp_relay deletes the session ----------------------------
    w.pace(Side::Callee, &cid);
    w.expect_success(call.callee);
    w.expect_success(call.caller);
    w.expect_all_released("the callee's BYE");
    let ended = format!("Call-ID {cid} (rtp_relay): ");
    if !w.run.log_text().contains(&ended) {
        w.fail(&format!("the log has no session report \"{ended}...\""));
    }

    // ---- 5. what the user agents received ------------------------------------------------
    let mut problems = Vec::new();
    let (c, e) = (w.received(call.caller), w.received(call.callee));
    for (who, msgs) in [("caller", &c), ("callee", &e)] {
        let n = natlab::check_sdps(who, msgs, RELAY_PORTS, &mut problems);
        if n < 3 {
            problems.push(format!("{who}: {n} SDP bodies received, wanted 3"));
        }
    }
    if !e
        .iter()
        .any(|m| m.starts_with("INVITE ") && body(m).contains("a=sendonly"))
    {
        problems.push("the callee never received the sendonly (hold) re-INVITE".into());
    }
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

    // ---- 6. CANCEL: the caller gives up while the callee rings ----------------------------
    let cancel = w.start_call_with("cancel", "uac_cancel.xml", "uas_ring_cancel.xml", false);
    let ccid = cancel.call_id.clone();
    w.wait_for("the ringing call's relay session", |w| {
        w.session(&ccid).map(|_| ())
    });
    w.wait_for("the caller hears the ringing", |w| {
        w.received(cancel.caller)
            .iter()
            .any(|m| m.starts_with("SIP/2.0 180"))
            .then_some(())
    });
    w.pace(Side::Caller, &ccid);
    w.expect_success(cancel.callee);
    w.expect_success(cancel.caller);
    w.expect_all_released("the CANCEL");
    if !w
        .run
        .log_text()
        .contains(&format!("Call-ID {ccid} (rtp_relay): "))
    {
        w.fail("no report of the cancelled call's relay session");
    }

    // ---- 7. parallel forking: one branch answers, the other is cancelled ------------------
    // engaged in the request route, the branches share the call's relay session: the
    // cancelled one leaves it to the answered one, both INVITEs name the same relay port
    let fork = forked_call(&mut w);
    let (pa, pr) = (invite_port(&fork.answered), invite_port(&fork.rang));
    if fork.survivor != fork.call_id || pa.is_none() || pa != pr {
        w.fail(&format!(
            "the forked call should keep one relay session {} (kept {}), and both INVITEs \
             should name its port: {pa:?} and {pr:?}",
            fork.call_id, fork.survivor
        ));
    }

    // ---- 8. late offer: the 200 OK carries the offer, the ACK the answer -------------------
    let late = w.start_call_with("late", "uac_late.xml", "uas_call.xml", true);
    w.media_both_ways(&late.call_id, MIN_PACKETS);
    w.pace(Side::Callee, &late.call_id);
    w.expect_success(late.callee);
    w.expect_success(late.caller);
    w.expect_all_released("the late-offer call's BYE");
    let mut problems = Vec::new();
    let (c, e) = (w.received(late.caller), w.received(late.callee));
    let offers = natlab::check_sdps("late-offer caller", &c, RELAY_PORTS, &mut problems);
    let answers = natlab::check_sdps("late-offer callee", &e, RELAY_PORTS, &mut problems);
    if offers < 1
        || !e
            .iter()
            .any(|m| m.starts_with("ACK ") && body(m).contains("m=audio"))
    {
        problems.push(format!(
            "late offer: {offers} offer(s) at the caller, {answers} SDP(s) at the callee, \
             which wanted the answer in the ACK"
        ));
    }

    // ---- 9. early media in a 183 (PRACKed), then the 200 OK with the same SDP -------------
    let early = w.start_call_with("early", "uac_early.xml", "uas_early.xml", true);
    let ecid = early.call_id.clone();
    w.media_both_ways(&ecid, MIN_PACKETS);
    // the callee answers only when told: so far the media was early media
    let to_tag = |w: &Lab| {
        w.session(&ecid)
            .and_then(|s| s["to_tag"].as_str().map(str::to_string))
    };
    if to_tag(&w).as_deref() != Some("") {
        w.fail("the relay session of the early-media call has a To tag before the 200 OK");
    }
    w.pace(Side::Callee, &ecid);
    w.wait_for("the 200 OK reaches the relay", |w| {
        to_tag(w).filter(|t| !t.is_empty())
    });
    w.wait_for("the early-media callee gets the ACK", |w| {
        w.received(early.callee)
            .iter()
            .any(|m| m.starts_with("ACK "))
            .then_some(())
    });
    w.pace(Side::Callee, &ecid);
    w.expect_success(early.callee);
    w.expect_success(early.caller);
    w.expect_all_released("the early-media call's BYE");
    let c = w.received(early.caller);
    natlab::check_sdps("early-media caller", &c, RELAY_PORTS, &mut problems);
    // (the PRACK's 200 has no SDP)
    let port_of = |first: &str| {
        c.iter()
            .filter(|m| m.starts_with(first))
            .find_map(|m| sdp_port(m))
    };
    let (p183, p200) = (port_of("SIP/2.0 183"), port_of("SIP/2.0 200"));
    if p183.is_none() || p183 != p200 {
        problems.push(format!(
            "the 183 and the 200 should name the same relay port: {p183:?}, {p200:?}"
        ));
    }
    if !problems.is_empty() {
        w.fail(&problems.join("\n"));
    }

    // ---- 10. live re-anchoring: MI rtp_relay:update onto a new node ------------------------
    let upd = w.start_call_with("update", "uac_update.xml", "uas_update.xml", true);
    let ucid = upd.call_id.clone();
    let before = w.media_both_ways(&ucid, MIN_PACKETS);
    let update = if w.proxy.host.version.contains(" 4.0.") {
        "rtp_relay:update"
    } else {
        "rtp_relay_update"
    };
    let params = r#"{"engine":"mediaproxy","set":-1,"new_node":"fresh"}"#;
    let reply = match opensips::mi(&w.site, update, params) {
        Ok(r) => r,
        Err(e) => w.fail(&format!("MI {update}: {e}")),
    };
    if !reply.contains("Sessions: 1") && !reply.contains("Accepted") {
        w.fail(&format!("MI {update} {params}: {reply}"));
    }
    let moved = format!("{ucid};fresh");
    w.wait_for("the old relay session of the re-anchored call ends", |w| {
        w.session(&ucid).is_none().then_some(())
    });
    let after = w.media_both_ways(&moved, MIN_PACKETS);
    let port = |v: &serde_json::Value, k: &str| {
        v[k].as_str()
            .and_then(|a| a.rsplit_once(':'))
            .and_then(|(_, p)| p.parse::<u16>().ok())
    };
    // the relay names its parties by who offered first: on the new session that is the
    // callee (its SDP went into the first re-INVITE); tell them apart by their NAT
    let facing = |v: &serde_json::Value, nat: &str| {
        ["caller", "callee"]
            .iter()
            .find(|p| {
                v[format!("{p}_remote")]
                    .as_str()
                    .is_some_and(|r| r.starts_with(&format!("{nat}:")))
            })
            .and_then(|p| port(v, &format!("{p}_local")))
    };
    let (old_a, old_b) = (
        facing(&before, netns::NAT_A_PUBLIC),
        facing(&before, netns::NAT_B_PUBLIC),
    );
    let (new_a, new_b) = (
        facing(&after, netns::NAT_A_PUBLIC),
        facing(&after, netns::NAT_B_PUBLIC),
    );
    let reinvite_port = |msgs: Vec<String>| {
        msgs.iter()
            .rev()
            .find(|m| m.starts_with("INVITE "))
            .and_then(|m| sdp_port(m))
    };
    let (got_a, got_b) = (
        reinvite_port(w.received(upd.caller)),
        reinvite_port(w.received(upd.callee)),
    );
    if new_a.is_none()
        || new_b.is_none()
        || old_a.is_none()
        || new_a == old_a
        || new_b == old_b
        || got_a != new_a
        || got_b != new_b
    {
        w.fail(&format!(
            "re-anchoring: relay ports caller {old_a:?} -> {new_a:?}, callee {old_b:?} -> \
             {new_b:?}; the re-INVITEs named {got_a:?} (caller) and {got_b:?} (callee)"
        ));
    }
    if !w
        .run
        .log_text()
        .contains(&format!("Call-ID {ucid} (rtp_relay): "))
    {
        w.fail("no report of the re-anchored call's old relay session");
    }
    w.pace(Side::Callee, &ucid);
    w.expect_success(upd.callee);
    w.expect_success(upd.caller);
    w.expect_all_released("the re-anchored call's BYE");

    // ---- 11. a silent call: the relay's setup timeout ends the dialog ---------------------
    let silent = w.start_call("silent", false);
    w.expect_success(silent.callee);
    w.expect_success(silent.caller);
    w.expect_all_released("the silent call's timeout");
    let log = w.run.log_text();
    if !log.contains(&format!("ended dialog {} (media timeout)", silent.call_id)) {
        w.fail("the relay's timeout did not end the silent call's dialog");
    }

    w.stop_proxy();
    w.finish();

    // ---- 12. a B2B call: b2b_logic's topology hiding, media through the engine ------------
    let mut proxy = prerequisites(TEST);
    proxy.use_config(opensips::render_rtp_relay_b2b_example);
    let mut w = Lab::start("rb", proxy, RELAY_PORTS, "");
    w.register_callee();
    let b2b = w.start_call("call", true);
    let relayed = w.wait_for("one relay session for the B2B call", |w| {
        let s = w.sessions();
        (s.len() == 1).then(|| s[0]["call_id"].as_str().unwrap_or("").to_string())
    });
    w.media_both_ways(&relayed, MIN_PACKETS);
    // the callee's call is the B2BUA's, with a Call-ID of its own
    let callee_cid = w
        .received(b2b.callee)
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .and_then(|m| header(m, "Call-ID").map(str::to_string))
        .unwrap_or_default();
    if callee_cid.is_empty() || callee_cid == b2b.call_id {
        w.fail(&format!(
            "the callee's INVITE should carry the B2BUA's own Call-ID, not {:?}",
            b2b.call_id
        ));
    }
    w.pace(Side::Callee, &callee_cid);
    w.expect_success(b2b.callee);
    w.expect_success(b2b.caller);
    w.expect_all_released("the B2B call's BYE");
    let mut problems = Vec::new();
    let (c, e) = (w.received(b2b.caller), w.received(b2b.callee));
    natlab::check_sdps("B2B caller", &c, RELAY_PORTS, &mut problems);
    natlab::check_sdps("B2B callee", &e, RELAY_PORTS, &mut problems);
    // topology hiding: the callee never sees the caller's Call-ID nor its NAT's address
    if e.iter()
        .any(|m| m.contains(&b2b.call_id) || m.contains(netns::NAT_A_PUBLIC))
    {
        problems.push("the callee saw the caller's Call-ID or address through the B2BUA".into());
    }
    if !problems.is_empty() {
        w.fail(&problems.join("\n"));
    }
    // OpenSIPS's rtp_relay module itself, in B2B mode: it wants a dialog on the initial INVITE
    // (a B2BUA call has none) and, stopped with the call's transactions still kept, releases
    // one of its contexts once too often while the core cleans up
    w.stop_proxy_tolerating(&[
        "ERROR:rtp_relay:rtp_relay_dlg_req_callbacks: call engage after creating dialog!",
        "CRITICAL:rtp_relay:rtp_relay_ctx_release:",
    ]);
    w.finish();
    // ---- 13. engaged per branch: each branch has relay ports of its own -------------------
    let mut proxy = prerequisites(TEST);
    proxy.use_config(opensips::render_rtp_relay_branch_example);
    let mut w = Lab::start("rf", proxy, RELAY_PORTS, &extra);
    w.register_callee();
    let fork = forked_call(&mut w);
    let (pa, pr) = (invite_port(&fork.answered), invite_port(&fork.rang));
    let loser = if fork.survivor == fork.call_id {
        format!("{};mediaproxy-b1", fork.call_id)
    } else {
        fork.call_id.clone()
    };
    if pa.is_none() || pr.is_none() || pa == pr {
        w.fail(&format!(
            "engaged per branch, the INVITEs should name different relay ports: {pa:?}, {pr:?}"
        ));
    }
    // the rtp_relay module does not tell the engine about a branch that lost: its session ends
    // by the relay's setup timeout, without touching the call's dialog
    if !w
        .run
        .log_text()
        .contains(&format!("media timeout: Call-ID {loser} ("))
    {
        w.fail(&format!(
            "the cancelled branch's relay session {loser} did not time out (kept {})",
            fork.survivor
        ));
    }
    w.stop_proxy();
    w.finish();
}

/// What [`forked_call`] saw.
struct Forked {
    call_id: String,
    /// The Call-ID of the one relay session left for the call once a branch answered.
    survivor: String,
    /// What the answering and the cancelled callee received.
    answered: Vec<String>,
    rang: Vec<String>,
}

/// A call forked to the callee's two contacts (the second one registered here, at
/// [`FORK_UA`]): both ring, then the contact at the usual port answers with media and the
/// other is cancelled. Waits for one relay session left for the call with media both ways, then the
/// callee hangs up and every port must be free again.
fn forked_call(w: &mut Lab) -> Forked {
    let reg2 = w.start_ua_at(
        "register-2",
        Side::Callee,
        "register.xml",
        Some("register2-%u"),
        false,
        FORK_UA,
    );
    w.expect_success(reg2);
    let ringer = w.start_ua_at(
        "callee-ring",
        Side::Callee,
        "uas_ring_cancel.xml",
        None,
        false,
        FORK_UA,
    );
    w.wait_listening(Side::Callee, FORK_UA.0);
    let call = w.start_call_with("call", "uac_call.xml", "uas_answer_paced.xml", true);
    let cid = call.call_id.clone();
    // both ring before one answers: a branch is cancelled only once it replied, and OpenSIPS
    // may miss a CANCEL owed to a branch whose 180 crosses the other's 200
    for (who, ua) in [
        ("the ringing callee", ringer),
        ("the answering callee", call.callee),
    ] {
        w.wait_for(&format!("{who} rings"), |w| {
            w.sipps[ua]
                .sent()
                .iter()
                .any(|m| m.starts_with("SIP/2.0 180"))
                .then_some(())
        });
    }
    w.pace(Side::Callee, &cid);
    w.expect_success(ringer);
    w.wait_for("the answering callee gets the ACK", |w| {
        w.received(call.callee)
            .iter()
            .any(|m| m.starts_with("ACK "))
            .then_some(())
    });
    let survivor = w.wait_for("one relay session left for the forked call", |w| {
        let s: Vec<_> = w
            .sessions()
            .into_iter()
            .filter(|s| s["call_id"].as_str().is_some_and(|c| c.starts_with(&cid)))
            .collect();
        (s.len() == 1).then(|| s[0]["call_id"].as_str().unwrap_or("").to_string())
    });
    w.media_both_ways(&survivor, MIN_PACKETS);
    w.pace(Side::Callee, &cid);
    w.expect_success(call.callee);
    w.expect_success(call.caller);
    w.expect_all_released("the forked call's BYE");
    let mut problems = Vec::new();
    let (answered, rang) = (w.received(call.callee), w.received(ringer));
    natlab::check_sdps("answering callee", &answered, RELAY_PORTS, &mut problems);
    natlab::check_sdps("cancelled callee", &rang, RELAY_PORTS, &mut problems);
    if !problems.is_empty() {
        w.fail(&problems.join("\n"));
    }
    Forked {
        call_id: cid,
        survivor,
        answered,
        rang,
    }
}

/// The m=audio port of a SIP message's SDP.
fn sdp_port(msg: &str) -> Option<u16> {
    body(msg)
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The m=audio port of the first INVITE a user agent received.
fn invite_port(received: &[String]) -> Option<u16> {
    sdp_port(received.iter().find(|m| m.starts_with("INVITE "))?)
}
