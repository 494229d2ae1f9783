//! Remote relays end to end: three hosts as network namespaces — the proxy with mediaproxy.so
//! in `relay_mode = "remote"` (no media threads in the proxy) accepting relays over TLS on
//! 198.51.100.1:25060, and two media boxes (198.51.100.31, .32) running
//! `mediaproxy-relay --dispatcher` — with the NAT lab's user agents (SIPp behind masquerading
//! NATs, see `support::natlab`).
//!
//! 1. Both relays connect (mutual X.509, certificates made for the test) and show `active`.
//! 2. Calls spread: a call lands on relay1 (both idle, ties by name); with relay1 holding a
//!    session, the next call lands on relay2; each call's RTP goes both ways through the NATs
//!    and its own relay only, and the BYE ends its session there.
//! 3. relay1 killed (SIGKILL) while holding a session: the proxy stays up, shows it
//!    `disconnected`, logs the session as lost (a `remove` for it is an error at once), and the
//!    next call goes to relay2 (which the name tie-break would not pick).
//! 4. relay1 back, a call on it, then SIGTERM: it shows `halting`, new sessions go to relay2,
//!    the running call keeps its media until the BYE, then relay1 exits by itself (status 0).
//! 5. A relay whose certificate comes from another CA is refused (the proxy logs why) and never
//!    listed.
//! 6. relay2, idle, drained by the management command (RPC `mediaproxy.relay_drain` /
//!    MI `mediaproxy:relay_drain`): it exits by itself; an unknown name is an error.
//! 7. The proxy stops cleanly; its log has no problem but the expected warnings about the
//!    relays this test killed and refused.
//!
//! Needs the proxy (Kamailio with `--features kamailio`, OpenSIPS otherwise), root with
//! `ip netns`, nft and SIPp: `#[ignore]`d, `scripts/test.sh` runs it when all are there.

mod common;
mod remote;
mod support;

use mediaproxy::remote::tls::TlsFiles;
use remote::{relay_args, signal, wait_exit, Pki, Proc};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use support::natlab::{prerequisites, Lab, Side};
use support::netns::{self, BOX_IPS};
use support::process::loud;

const TEST: &str = "calls_spread_over_remote_relays_survive_a_kill_a_drain_and_a_stranger";
const PORTS: (u16, u16) = (45000, 45099);
const LINK_PORT: u16 = 25060;
const MIN_PACKETS: u64 = 10;

/// One control-socket request (a block or a one-liner) and its reply line.
fn control(sock: &Path, request: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(sock).expect("control socket");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    let _ = BufReader::new(&s).read_line(&mut line);
    line.trim_end().to_string()
}

/// A session created by hand on the proxy's control socket (as a SIP worker would).
fn hand_session(lab: &Lab, call_id: &str) -> String {
    control(
        &lab.control_socket(),
        &format!(
            "update\r\ntype: request\r\ncall_id: {call_id}\r\ncseq: 1\r\nfrom_uri: a@x\r\n\
             to_uri: b@x\r\nfrom_tag: ft\r\nto_tag: \r\nuser_agent: t\r\n\
             signaling_ip: {}\r\nmedia: audio:{}:4000:sendrecv:ice=no\r\n\r\n",
            netns::NAT_A_PUBLIC,
            netns::NAT_A_PUBLIC
        ),
    )
}

fn hand_remove(lab: &Lab, call_id: &str) -> String {
    control(
        &lab.control_socket(),
        &format!("remove\r\ncall_id: {call_id}\r\nfrom_tag: ft\r\n\r\n"),
    )
}

/// The proxy's summary: one entry per relay.
fn relays(lab: &Lab) -> Vec<Value> {
    lab.relay("summary")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn relay_state(lab: &Lab, name: &str) -> Option<String> {
    relays(lab)
        .into_iter()
        .find(|r| r["relay"] == name)
        .and_then(|r| r["relay_state"].as_str().map(String::from))
}

fn wait_state(lab: &mut Lab, name: &str, want: &str) {
    lab.wait_for(&format!("relay {name} is {want}"), |l| {
        (relay_state(l, name).as_deref() == Some(want)).then_some(())
    });
}

/// `mediaproxy-relay --dispatcher` in namespace `ns` on `ip`, logging into the site directory.
fn relay_box(lab: &Lab, label: &str, ns: &str, ip: &str, files: &TlsFiles) -> Proc {
    let log = std::fs::File::create(lab.site.dir.join(format!("{label}.log"))).unwrap();
    let ports = format!("{}-{}", PORTS.0, PORTS.1);
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(env!("CARGO_BIN_EXE_mediaproxy-relay"))
        .args(relay_args(
            files,
            &format!("{}:{LINK_PORT}", netns::PROXY_IP),
            ip,
            &ports,
            600,
        ))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .map(Proc)
        .expect("start mediaproxy-relay in its namespace")
}

/// A call with media through the NATs on whichever relay the proxy picks; the callee hangs up
/// at the test's signal. Returns (the relay that carried it, the SIPp runs, its Call-ID).
fn start_call(lab: &mut Lab, name: &str) -> (String, (usize, usize), String) {
    let call = lab.start_call_with(name, "uac_call.xml", "uas_call.xml", true);
    let cid = call.call_id.clone();
    lab.media_through_the_nats(&cid, MIN_PACKETS);
    let relay = lab
        .session(&cid)
        .and_then(|s| s["relay"].as_str().map(String::from))
        .unwrap_or_default();
    (relay, (call.caller, call.callee), cid)
}

fn end_call(lab: &mut Lab, runs: (usize, usize), cid: &str) {
    lab.pace(Side::Callee, cid);
    lab.expect_success(runs.1);
    lab.expect_success(runs.0);
    lab.wait_for(&format!("{cid}'s session is gone"), |l| {
        l.session(cid).is_none().then_some(())
    });
}

/// Drains relay `name` by the proxy's management command (RPC `mediaproxy.relay_drain`, MI
/// `mediaproxy:relay_drain`); returns the reply.
#[cfg(feature = "kamailio")]
fn drain_by_name(w: &Lab, name: &str) -> String {
    support::kamailio::kamcmd(&w.site, &["mediaproxy.relay_drain", name]).1
}

#[cfg(not(feature = "kamailio"))]
fn drain_by_name(w: &Lab, name: &str) -> String {
    use support::opensips::{mi, mi_name};
    let cmd = mi_name(&w.proxy.host, "relay_drain");
    mi(&w.site, &cmd, &format!("{{\"name\":\"{name}\"}}")).unwrap_or_else(|e| e)
}

#[test]
#[ignore = "needs the proxy, root, ip netns, nft and SIPp"]
fn calls_spread_over_remote_relays_survive_a_kill_a_drain_and_a_stranger() {
    let proxy = prerequisites(TEST);
    loud(&format!(
        "{TEST}: {} ({}) with {}",
        proxy.name,
        proxy.host.version,
        proxy.host.module_so.display()
    ));
    let pki = Pki::new("nat");
    let rogue = Pki::new("nat-rogue");
    let tls = pki.issue("proxy");
    // the documented lines (cfg-examples/remote-relays.cfg) with this test's files and address
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("cfg-examples/remote-relays.cfg"),
    )
    .expect("read cfg-examples/remote-relays.cfg");
    let mut extra = doc.replace(
        "tls:0.0.0.0:25060",
        &format!("tls:{}:{LINK_PORT}", netns::PROXY_IP),
    );
    for (from, to) in [
        ("/etc/opensips/tls/proxy.pem", &tls.cert),
        ("/etc/opensips/tls/proxy.key", &tls.key),
        ("/etc/opensips/tls/ca.pem", &tls.ca),
    ] {
        assert!(extra.contains(from), "{from} in remote-relays.cfg");
        extra = extra.replace(from, &to.display().to_string());
    }
    let mut w = Lab::start_unready("remote", proxy, PORTS, &extra);
    let ns1 = w.topo.add_box("relay1", BOX_IPS[0]);
    let ns2 = w.topo.add_box("relay2", BOX_IPS[1]);
    let ns3 = w.topo.add_box("relay3", BOX_IPS[2]);

    // ---- 1. both relays connect ------------------------------------------------------------
    let mut r1 = relay_box(&w, "relay1", &ns1, BOX_IPS[0], &pki.issue("relay1"));
    let r2 = relay_box(&w, "relay2", &ns2, BOX_IPS[1], &pki.issue("relay2"));
    wait_state(&mut w, "relay1", "active");
    wait_state(&mut w, "relay2", "active");
    w.register_callee();

    // ---- 2. calls spread -------------------------------------------------------------------
    let (on, runs, cid) = start_call(&mut w, "first");
    if on != "relay1" {
        w.fail(&format!(
            "the first call went to {on:?}, not relay1 (both idle, ties by name)"
        ));
    }
    end_call(&mut w, runs, &cid);
    let held = hand_session(&w, "held-on-relay1");
    if !held.starts_with(BOX_IPS[0]) {
        w.fail(&format!("the hand-made session got {held:?}, not relay1"));
    }
    let (on, runs, cid) = start_call(&mut w, "second");
    if on != "relay2" {
        w.fail(&format!(
            "with relay1 busy the call went to {on:?}, not relay2"
        ));
    }
    end_call(&mut w, runs, &cid);

    // ---- 3. relay1 killed (holding the hand-made session) -----------------------------------
    r1.0.kill().unwrap();
    let _ = r1.0.wait();
    wait_state(&mut w, "relay1", "disconnected");
    if !matches!(w.run.child.try_wait(), Ok(None)) {
        w.fail("the proxy died with its relay");
    }
    // its session's end is reported, and a remove for it is answered at once
    w.wait_for("the proxy reports the session lost with relay1", |l| {
        l.run
            .log_text()
            .contains("session held-on-relay1 (from_tag ft) lost with relay relay1")
            .then_some(())
    });
    let gone = hand_remove(&w, "held-on-relay1");
    if gone != "error" {
        w.fail(&format!(
            "remove of a session lost with its relay answered {gone:?}"
        ));
    }
    let (on, runs, cid) = start_call(&mut w, "after-kill");
    if on != "relay2" {
        w.fail(&format!("with relay1 dead the call went to {on:?}"));
    }
    end_call(&mut w, runs, &cid);

    // ---- 4. relay1 back, drained with a call running ---------------------------------------
    let mut r1 = relay_box(&w, "relay1-again", &ns1, BOX_IPS[0], &pki.issue("relay1"));
    wait_state(&mut w, "relay1", "active");
    let (on, runs, cid) = start_call(&mut w, "drained");
    if on != "relay1" {
        w.fail(&format!(
            "the call before the drain went to {on:?}, not relay1"
        ));
    }
    signal(&r1, "-TERM");
    wait_state(&mut w, "relay1", "halting");
    let other = hand_session(&w, "during-drain");
    if !other.starts_with(BOX_IPS[1]) {
        w.fail(&format!(
            "a new session during the drain got {other:?}, not relay2"
        ));
    }
    hand_remove(&w, "during-drain");
    // the running call keeps its media: more packets each way than before
    let before = w.stream(&cid).unwrap_or(Value::Null);
    let more = |k: &str| before[k].as_u64().unwrap_or(0) + MIN_PACKETS;
    let (want_a, want_b) = (more("caller_packets"), more("callee_packets"));
    w.wait_for("the drained relay still relays the running call", |l| {
        let st = l.stream(&cid)?;
        (st["caller_packets"].as_u64()? >= want_a && st["callee_packets"].as_u64()? >= want_b)
            .then_some(())
    });
    if r1.0.try_wait().ok().flatten().is_some() {
        w.fail("the drained relay exited with a call running");
    }
    end_call(&mut w, runs, &cid);
    match wait_exit(&mut r1.0, std::time::Duration::from_secs(20)) {
        Some(st) if st.success() => {}
        other => w.fail(&format!(
            "the drained relay did not exit cleanly: {other:?}"
        )),
    }
    wait_state(&mut w, "relay1", "disconnected");

    // ---- 5. a stranger's certificate ---------------------------------------------------------
    let _r3 = relay_box(&w, "relay3", &ns3, BOX_IPS[2], &rogue.issue("relay3"));
    w.wait_for("the proxy refuses the stranger", |l| {
        l.run
            .log_text()
            .contains("refused: TLS handshake failed")
            .then_some(())
    });
    if relay_state(&w, "relay3").is_some() {
        w.fail("the stranger was listed as a relay");
    }

    // ---- 6. relay2 drained by the management command: idle, it exits at once ---------------
    let mut r2 = r2;
    let reply = drain_by_name(&w, "relay2");
    if !reply.contains("halting") {
        w.fail(&format!("relay_drain relay2 answered {reply:?}"));
    }
    match wait_exit(&mut r2.0, std::time::Duration::from_secs(20)) {
        Some(st) if st.success() => {}
        other => w.fail(&format!("relay2 did not exit after its drain: {other:?}")),
    }
    wait_state(&mut w, "relay2", "disconnected");
    let reply = drain_by_name(&w, "nosuchrelay");
    if reply.contains("halting") {
        w.fail(&format!("draining an unknown relay answered {reply:?}"));
    }

    // ---- 7. clean stop -----------------------------------------------------------------------
    w.stop_proxy_tolerating(&[
        "refused: TLS handshake failed",
        "disconnected (",
        "lost with relay relay1",
        "did not answer within",
        "drain: no relay named nosuchrelay",
    ]);
    w.finish();
}
