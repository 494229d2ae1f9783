//! End to end: calls through NAT with mediaproxy.so inside a real OpenSIPS.
//!
//! OpenSIPS runs `cfg-examples/opensips.cfg` (rendered by the shared harness, with a short
//! `setup_timeout` (3 s) and `media_timeout` (4 s) appended) in network namespace "proxy" on
//! 198.51.100.1. A SIPp caller sits behind masquerading NAT A, a SIPp callee behind NAT B (see
//! `support::netns`). The proxy has no route to the private nets, so every packet to a user
//! agent must go to its NAT's public address and port.
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
//!    OpenSIPS sends a BYE to both sides, which both receive through their NATs (the dialog
//!    module uses the Contacts fix_contact() fixed). Again no session and no port is left.
//! 4. What the user agents received: every SDP's c= and m= lines name the relay;
//!    each Contact names the other side's NAT; nothing reached a user agent except from the
//!    proxy host (SIP from OpenSIPS, RTP from the relay's ports, the odd ICMP error).
//! 5. OpenSIPS stops cleanly and its log has no ERROR or CRITICAL line at all.
//!
//! Needs OPENSIPS_BIN (or opensips on PATH), root with `ip netns`, nft and SIPp; otherwise it
//! prints SKIPPED and passes.

#![cfg(not(feature = "kamailio"))]

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::netns::{self, Topology, UaCounters};
use support::opensips::{self as os, ask, loud, Running, Site};
use support::sipp::{Run, Sipp};

const TEST: &str = "calls_through_nat_relay_media_hold_bye_and_media_timeout";
const RELAY_PORTS: (u16, u16) = (40000, 40099);
const SETUP_TIMEOUT_S: u32 = 3;
const MEDIA_TIMEOUT_S: u32 = 4;
/// The example config's hold_timeout (kept: the test checks the relay switches to it).
const HOLD_TIMEOUT_S: u64 = 7200;
/// Packets each way before a call counts as carrying media (a stream, not a stray packet).
const MIN_PACKETS: u64 = 10;
/// Upper bound for any single wait (the checks themselves never depend on timing).
const WAIT: Duration = Duration::from_secs(20);
/// SIPp's own global timeout (seconds), a backstop behind the test's waits.
const SIPP_TIMEOUT_S: u32 = 60;

/// Everything one run holds. Fields drop in order: the SIPp runs, then OpenSIPS, then the
/// namespaces (which must be empty of processes to go away).
struct World {
    sipps: Vec<Sipp>,
    osips: Running,
    site: Site,
    topo: Topology,
    /// Source of the INFO messages that pace the scenarios (one per user agent namespace).
    pace_a: UdpSocket,
    pace_b: UdpSocket,
    pace_n: u32,
}

impl World {
    fn diagnostics(&mut self) -> String {
        let mut out = String::new();
        let sock = self.site.control_socket();
        out += &format!(
            "--- relay sessions ---\n{}\n--- relay summary ---\n{}\n",
            ask(&sock, "sessions").unwrap_or_else(|e| format!("({e})")),
            ask(&sock, "summary").unwrap_or_else(|e| format!("({e})"))
        );
        for (name, ns) in [("ua-a", &self.topo.ua_a), ("ua-b", &self.topo.ua_b)] {
            out += &format!("--- {name} counters: {:?}\n", self.topo.counters(ns));
        }
        for s in &mut self.sipps {
            out += &s.report();
        }
        let log = self.osips.log_text();
        let lines: Vec<&str> = log.lines().collect();
        out += &format!(
            "--- OpenSIPS log (last 150 lines of {}) ---\n{}\n",
            self.osips.log.display(),
            lines[lines.len().saturating_sub(150)..].join("\n")
        );
        out
    }

    fn fail(&mut self, what: &str) -> ! {
        let d = self.diagnostics();
        panic!("{what}\n{d}");
    }

    /// Polls `f` until it returns `Some` (bounded by [`WAIT`]); fails with `what` otherwise.
    fn wait_for<T>(&mut self, what: &str, mut f: impl FnMut(&mut World) -> Option<T>) -> T {
        let t0 = Instant::now();
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            if t0.elapsed() >= WAIT {
                self.fail(&format!("gave up after {WAIT:?} waiting for: {what}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn relay(&self, cmd: &str) -> Option<Value> {
        let line = ask(&self.site.control_socket(), cmd).ok()?;
        serde_json::from_str(line.trim()).ok()
    }

    fn sessions(&self) -> Vec<Value> {
        self.relay("sessions")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    fn summary(&self) -> Value {
        self.relay("summary")
            .and_then(|v| v.get(0).cloned())
            .unwrap_or(Value::Null)
    }

    /// The first stream of the session with this Call-ID.
    fn stream(&self, call_id: &str) -> Option<Value> {
        self.sessions()
            .into_iter()
            .find(|s| s["call_id"] == call_id)
            .and_then(|s| s["streams"].get(0).cloned())
    }

    fn counters_a(&self) -> UaCounters {
        self.topo.counters(&self.topo.ua_a)
    }

    fn counters_b(&self) -> UaCounters {
        self.topo.counters(&self.topo.ua_b)
    }

    fn start_sipp(&mut self, r: Run<'_>) -> usize {
        let s = Sipp::start(&self.site.dir, &r);
        self.sipps.push(s);
        self.sipps.len() - 1
    }

    /// Sends the INFO a scenario waits for (`<recv request="INFO"/>`), from inside the user
    /// agent's own namespace to its own SIP address: the test's pacing, not part of the call.
    fn pace(&mut self, side_a: bool, call_id: &str) {
        self.pace_n += 1;
        let (sock, ua_ip) = if side_a {
            (&self.pace_a, netns::UA_A_IP)
        } else {
            (&self.pace_b, netns::UA_B_IP)
        };
        let local = sock.local_addr().expect("pace socket address");
        let n = self.pace_n;
        let msg = format!(
            "INFO sip:pace@{ua_ip}:{port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-mpx-pace-{n}\r\n\
             From: <sip:test@{ua_ip}>;tag=mpx-pace\r\n\
             To: <sip:pace@{ua_ip}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {n} INFO\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            port = netns::UA_SIP_PORT
        );
        sock.send_to(msg.as_bytes(), (ua_ip, netns::UA_SIP_PORT))
            .expect("send pacing INFO");
    }

    /// Waits (bounded) for SIPp run `i` to end and requires success.
    fn expect_success(&mut self, i: usize) {
        let st = self.sipps[i].wait(WAIT);
        match st {
            Some(st) if st.success() => {}
            other => {
                let name = self.sipps[i].name.clone();
                self.fail(&format!("SIPp {name} did not succeed: {other:?}"))
            }
        }
    }

    /// A call the relay must end by itself: `e2e-<name>-1` with scenarios `uac_<name>.xml` and
    /// `uas_<name>.xml`. With `rtp_play`, media flows both ways first and the test then tells
    /// both sides to fall silent. Both user agents must get the proxy's BYE (through their NATs),
    /// the relay must report the timeout with `timeout_wait` = `wait_s`, and nothing may be
    /// left. Returns the (caller, callee) SIPp runs.
    fn timeout_call(
        &mut self,
        proxy: &str,
        name: &str,
        rtp_play: Option<&str>,
        wait_s: u32,
    ) -> (usize, usize) {
        let call_id = format!("e2e-{name}-1");
        let cid = format!("e2e-{name}-%u");
        let (ua_a, ua_b) = (self.topo.ua_a.clone(), self.topo.ua_b.clone());
        let keys: Vec<(&str, &str)> = rtp_play.map(|r| ("rtp_play", r)).into_iter().collect();
        let run = |label: String, ns: &str, scenario: String, ip, remote, cid| {
            (label, ns.to_string(), scenario, ip, remote, cid)
        };
        let mut ids = Vec::new();
        for (label, ns, scenario, ip, remote, cid) in [
            run(
                format!("callee-{name}"),
                &ua_b,
                format!("uas_{name}.xml"),
                netns::UA_B_IP,
                None,
                None,
            ),
            run(
                format!("caller-{name}"),
                &ua_a,
                format!("uac_{name}.xml"),
                netns::UA_A_IP,
                Some(proxy),
                Some(cid.as_str()),
            ),
        ] {
            if remote.is_some() {
                // the callee's SIPp (started first) must be listening before the INVITE
                self.wait_for_callee_port();
            }
            ids.push(self.start_sipp(Run {
                name: &label,
                netns: &ns,
                scenario: &scenario,
                ip,
                sip_port: netns::UA_SIP_PORT,
                media_port: netns::UA_MEDIA_PORT,
                remote,
                service: "bob",
                call_id: cid,
                keys: &keys,
                timeout_s: SIPP_TIMEOUT_S,
            }));
        }
        let (callee, caller) = (ids[0], ids[1]);
        let timed_out_before = self.summary()["sessions_timed_out"].as_u64().unwrap_or(0);
        if rtp_play.is_some() {
            self.wait_for(&format!("RTP relayed both ways in {call_id}"), |w| {
                let st = w.stream(&call_id)?;
                (st["caller_packets"].as_u64()? >= MIN_PACKETS
                    && st["callee_packets"].as_u64()? >= MIN_PACKETS)
                    .then_some(())
            });
            self.pace(true, &call_id);
            self.pace(false, &call_id);
        }
        self.expect_success(callee);
        self.expect_success(caller);
        self.expect_all_released(&format!("the timeout of {call_id}"));
        let log = self.osips.log_text();
        let report = log
            .lines()
            .find_map(|l| l.split_once(&format!("media timeout: Call-ID {call_id} (")))
            .and_then(|(_, rest)| rest.split_once("): "))
            .and_then(|(_, json)| serde_json::from_str::<Value>(json).ok());
        let Some(report) = report else {
            self.fail(&format!(
                "the log has no media timeout report for {call_id}"
            ));
        };
        let stream = &report["streams"][0];
        if report["timed_out"] != true
            || stream["status"] != "no-traffic timeout"
            || stream["timeout_wait"].as_u64() != Some(u64::from(wait_s))
        {
            self.fail(&format!(
                "{call_id} should have timed out after {wait_s} s without traffic: {report}"
            ));
        }
        if !log.contains(&format!("ended dialog {call_id} (media timeout)")) {
            self.fail(&format!("the log does not show the dialog {call_id} ended"));
        }
        if self.summary()["sessions_timed_out"].as_u64().unwrap_or(0) <= timed_out_before {
            self.fail(&format!(
                "summary's sessions_timed_out did not count {call_id}"
            ));
        }
        (caller, callee)
    }

    fn wait_for_callee_port(&mut self) {
        self.wait_for("the callee's SIPp binds its SIP port", |w| {
            let out = netns::exec(&w.topo.ua_b, &["ss", "-Hlun", "sport", "= :5060"]);
            (!out.stdout.is_empty()).then_some(())
        });
    }

    /// No relay session left and every port back in the pool.
    fn expect_all_released(&mut self, after: &str) {
        self.wait_for(
            &format!("no session and ports_in_use 0 after {after}"),
            |w| {
                let s = w.summary();
                (w.sessions().is_empty()
                    && s["session_count"] == 0
                    && s["ports_in_use"] == 0
                    && s["ports_free"].as_u64().is_some_and(|n| n > 0))
                .then_some(())
            },
        );
    }
}

fn udp_port(addr: &str) -> Option<u16> {
    addr.rsplit_once(':')?.1.parse().ok()
}

fn in_relay_range(port: u16) -> bool {
    (RELAY_PORTS.0..=RELAY_PORTS.1).contains(&port)
}

fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n")
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
}

/// Every SDP a user agent received must name the relay (address and a port of its range) in
/// every connection and media line. Returns the number of SDP bodies checked.
fn check_sdps(who: &str, received: &[String], problems: &mut Vec<String>) -> usize {
    let mut n = 0;
    for m in received {
        let b = body(m);
        if !b.contains("m=audio") {
            continue;
        }
        n += 1;
        let first = m.lines().next().unwrap_or("");
        // every connection line names the relay (the o= line is an identifier, which
        // MediaProxy leaves alone)
        let relay_c = format!("c=IN IP4 {}", netns::PROXY_IP);
        let c_lines: Vec<&str> = b.lines().filter(|l| l.starts_with("c=")).collect();
        let c_ok = !c_lines.is_empty() && c_lines.iter().all(|l| l.trim() == relay_c);
        let port_ok = b.lines().any(|l| {
            l.strip_prefix("m=audio ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|p| p.parse::<u16>().ok())
                .is_some_and(in_relay_range)
        });
        if !c_ok || !port_ok {
            problems.push(format!(
                "{who} received an SDP not rewritten to the relay ({first}):\n{b}"
            ));
        }
    }
    n
}

#[test]
fn calls_through_nat_relay_media_hold_bye_and_media_timeout() {
    let Some(host) = os::host(TEST) else {
        return;
    };
    if let Some(why) = netns::unavailable() {
        loud(&format!("SKIPPED {TEST}: {why}"));
        return;
    }

    // ---- the network and the proxy -------------------------------------------------------
    let topo = Topology::build(RELAY_PORTS);
    let site = Site::new("e2e-nat", 5060, RELAY_PORTS).in_netns(&topo.proxy, netns::PROXY_IP);
    let extra = format!(
        "modparam(\"mediaproxy\", \"setup_timeout\", {SETUP_TIMEOUT_S})\n\
         modparam(\"mediaproxy\", \"media_timeout\", {MEDIA_TIMEOUT_S})"
    );
    let cfg = os::render_example(&host, &site, &extra);
    let check = os::check_config(&host, &cfg);
    assert!(
        check.status.success(),
        "opensips -c failed: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let osips = os::start(&host, &site, &cfg);
    let pace_a = topo.udp_socket_in(&topo.ua_a, &format!("{}:0", netns::UA_A_IP));
    let pace_b = topo.udp_socket_in(&topo.ua_b, &format!("{}:0", netns::UA_B_IP));
    let mut w = World {
        sipps: Vec::new(),
        osips,
        site,
        topo,
        pace_a,
        pace_b,
        pace_n: 0,
    };
    w.wait_for("the relay's control socket answers summary", |w| {
        w.summary().get("session_count").map(|_| ())
    });

    // 20 ms PCMU frames of silence, played in a loop by both user agents
    let rtp_file = w.site.dir.join("silence.pcmu");
    std::fs::write(&rtp_file, [0xffu8; 1600]).expect("write the RTP payload file");
    let rtp_play = format!("{},-1,0", rtp_file.display());
    let proxy = format!("{}:5060", netns::PROXY_IP);
    let (ua_a, ua_b) = (w.topo.ua_a.clone(), w.topo.ua_b.clone());
    let ua = |name, ns, scenario, ip, remote, call_id, keys| Run {
        name,
        netns: ns,
        scenario,
        ip,
        sip_port: netns::UA_SIP_PORT,
        media_port: netns::UA_MEDIA_PORT,
        remote,
        service: "bob",
        call_id,
        keys,
        timeout_s: SIPP_TIMEOUT_S,
    };

    // ---- 1. the callee registers through NAT B -------------------------------------------
    let reg = w.start_sipp(ua(
        "register",
        &ua_b,
        "register.xml",
        netns::UA_B_IP,
        Some(&proxy),
        Some("e2e-register-%u"),
        &[],
    ));
    w.expect_success(reg);

    // ---- 2. call 1: media both ways, hold, resume, BYE from the callee -------------------
    let call1 = "e2e-hold-1";
    let keys: &[(&str, &str)] = &[("rtp_play", &rtp_play)];
    let callee1 = w.start_sipp(ua(
        "callee-hold",
        &ua_b,
        "uas_hold.xml",
        netns::UA_B_IP,
        None,
        None,
        keys,
    ));
    // the callee's SIPp must be listening before the INVITE arrives
    w.wait_for_callee_port();
    let caller1 = w.start_sipp(ua(
        "caller-hold",
        &ua_a,
        "uac_hold.xml",
        netns::UA_A_IP,
        Some(&proxy),
        Some("e2e-hold-%u"),
        keys,
    ));

    let up = w.wait_for(
        "RTP relayed both ways (sessions: caller_packets and callee_packets >= MIN_PACKETS; \
         both user agents receive as many RTP packets from the relay)",
        |w| {
            let st = w.stream(call1)?;
            let ok = st["caller_packets"].as_u64()? >= MIN_PACKETS
                && st["callee_packets"].as_u64()? >= MIN_PACKETS
                && w.counters_a().rtp_from_relay >= MIN_PACKETS
                && w.counters_b().rtp_from_relay >= MIN_PACKETS;
            ok.then_some(st)
        },
    );
    // the relay latched on the NATs' public addresses, and relays on ports of its range
    let caller_remote = up["caller_remote"].as_str().unwrap_or("").to_string();
    let callee_remote = up["callee_remote"].as_str().unwrap_or("").to_string();
    if !caller_remote.starts_with(&format!("{}:", netns::NAT_A_PUBLIC))
        || !callee_remote.starts_with(&format!("{}:", netns::NAT_B_PUBLIC))
    {
        w.fail(&format!(
            "the relay did not latch on the NATs' public addresses: {up}"
        ));
    }
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
    w.pace(true, call1);
    let held = w.wait_for("the relay puts the stream on hold", |w| {
        let st = w.stream(call1)?;
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
        let st = w.stream(call1)?;
        let now = (
            st["caller_packets"].as_u64()?,
            st["callee_packets"].as_u64()?,
        );
        let same = now == last;
        last = now;
        std::thread::sleep(Duration::from_millis(300));
        same.then_some(now)
    });
    let held_a = w.counters_a().rtp_from_relay;
    let held_b = w.counters_b().rtp_from_relay;

    // back from hold: sendrecv again, media flows again both ways
    w.pace(true, call1);
    w.wait_for("media flows again after the hold", |w| {
        let st = w.stream(call1)?;
        let ok = st["status"] == "active"
            && st["caller_packets"].as_u64()? > quiet.0
            && st["callee_packets"].as_u64()? > quiet.1
            && w.counters_a().rtp_from_relay > held_a
            && w.counters_b().rtp_from_relay > held_b;
        ok.then_some(())
    });

    // the callee hangs up: the BYE must reach the caller through NAT A
    w.pace(false, call1);
    w.expect_success(callee1);
    w.expect_success(caller1);
    w.expect_all_released("the callee's BYE");
    if w.summary()["packets_relayed"].as_u64().unwrap_or(0) == 0 {
        w.fail("summary's packets_relayed is 0 after a call with media");
    }

    // ---- 3. calls ended by the relay's timeouts, with a BYE to both sides ----------------
    // call 2 never carries media (setup_timeout); call 3's media stops mid-call, without a
    // hold (media_timeout)
    let (caller2, callee2) = w.timeout_call(&proxy, "silent", None, SETUP_TIMEOUT_S);
    let (caller3, callee3) = w.timeout_call(&proxy, "stops", Some(&rtp_play), MEDIA_TIMEOUT_S);

    // ---- 4. what the user agents received ------------------------------------------------
    let mut problems = Vec::new();
    let got = |w: &World, i: usize| w.sipps[i].received();
    let (c1, e1, c2, e2, c3, e3) = (
        got(&w, caller1),
        got(&w, callee1),
        got(&w, caller2),
        got(&w, callee2),
        got(&w, caller3),
        got(&w, callee3),
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
    // nothing reached a user agent except from the proxy host: SIP from OpenSIPS, RTP from the
    // relay's ports (and ICMP, e.g. port unreachable for RTP SIPp still sent after the BYE)
    let (ca, cb) = (w.counters_a(), w.counters_b());
    loud(&format!("{TEST}: packets into ua-a {ca:?}, ua-b {cb:?}"));
    for (who, c) in [("ua-a", ca), ("ua-b", cb)] {
        if c.sip_from_proxy == 0 || c.rtp_from_relay == 0 || c.other_in != 0 {
            problems.push(format!("{who} packet counters: {c:?}"));
        }
    }
    if !problems.is_empty() {
        w.fail(&problems.join("\n"));
    }

    // ---- a clean stop ---------------------------------------------------------------------
    w.osips.terminate();
    if w.osips.wait_exit(WAIT).is_none() {
        w.fail("OpenSIPS did not stop");
    }
    // nothing complained: no error from any module (a Contact left private shows up here as
    // "Network is unreachable"), no warning from ours
    let log = w.osips.log_text();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("CRITICAL:") || l.contains("ERROR:") || l.contains("WARNING:mediaproxy")
        })
        .collect();
    if !bad.is_empty() {
        let lines = bad.join("\n");
        w.fail(&format!("the OpenSIPS log has errors:\n{lines}"));
    }
    // MPX_E2E_KEEP=1 keeps the config, the logs and SIPp's message traces of a passing run
    if std::env::var_os("MPX_E2E_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&w.site.dir);
    } else {
        loud(&format!("{TEST}: kept {}", w.site.dir.display()));
    }
}
