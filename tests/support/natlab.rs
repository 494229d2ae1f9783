//! A call lab behind NAT: the proxy this build is for ([`super::proxy`]: OpenSIPS, or Kamailio
//! with `--features kamailio`) running its example config in network namespace "proxy" on
//! 198.51.100.1, and SIPp user agents behind two masquerading NATs ([`super::netns`]): the
//! caller in ua-a behind NAT A, the callee in ua-b behind NAT B.
//!
//! Both the end-to-end test (`tests/e2e_nat.rs`) and the demo of the README's first command
//! (`examples/nat_call.rs`) drive calls through it: starting the user agents, pacing their
//! scenarios, reading the relay's control socket and the user agents' packet counters, bounded
//! waits that fail with every diagnostic at hand, and a clean stop of the proxy.
//!
//! Everything the lab started goes away when it is dropped, also while a panic unwinds: the
//! SIPp runs, then the proxy, then the namespaces (with their veths, bridge and nft tables).
//! [`stop_on_signals`] makes SIGINT/SIGTERM/SIGHUP end the next wait with a panic, so an
//! interrupted run cleans up the same way.
#![allow(dead_code)]

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::netns::{self, Topology, UaCounters};
use super::process::{Running, Site};
use super::proxy::Proxy;
use super::sipcall::try_ask;
use super::sipp::{Run, Sipp};

/// Upper bound for any single wait (the checks themselves never depend on timing).
pub const WAIT: Duration = Duration::from_secs(20);
/// SIPp's own global timeout (seconds), a backstop behind the lab's waits.
pub const SIPP_TIMEOUT_S: u32 = 60;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// From now on SIGINT, SIGTERM and SIGHUP no longer kill this process: the lab's next wait
/// panics instead, and unwinding stops what the lab started and deletes its namespaces.
pub fn stop_on_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
}

/// Whether a signal asked this process to stop (see [`stop_on_signals`]).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Sleeps `d`, in short steps; panics when a signal asks to stop.
pub fn nap(d: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < d {
        if interrupted() {
            panic!("interrupted");
        }
        std::thread::sleep(Duration::from_millis(50).min(d));
    }
}

/// Which user agent: the caller (ua-a, behind NAT A) or the callee (ua-b, behind NAT B).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Caller,
    Callee,
}

impl Side {
    pub fn ip(self) -> &'static str {
        match self {
            Side::Caller => netns::UA_A_IP,
            Side::Callee => netns::UA_B_IP,
        }
    }
}

/// One call's two SIPp runs (indexes into [`Lab::sipps`]) and its Call-ID.
pub struct Call {
    pub caller: usize,
    pub callee: usize,
    pub call_id: String,
}

/// Everything one run holds. Fields drop in order: the SIPp runs, then the proxy, then the
/// namespaces (which must be empty of processes to go away).
pub struct Lab {
    pub sipps: Vec<Sipp>,
    pub run: Running,
    pub proxy: Proxy,
    pub site: Site,
    /// Source of the INFO messages that pace the scenarios (one per user agent namespace).
    pace_a: UdpSocket,
    pace_b: UdpSocket,
    pace_n: u32,
    /// Call-IDs are `<prefix>-<name>-1`.
    prefix: String,
    /// `rtp_play` for SIPp: 20 ms PCMU frames of silence, in a loop.
    pub rtp_play: String,
    pub topo: Topology,
}

/// The proxy this build is for, once the host can run the lab (root, network namespaces, nft,
/// SIPp). The tests that need the lab are `#[ignore]`d (`scripts/test.sh` includes them when
/// all of it is there), so a test asking for it fails when something is missing.
pub fn prerequisites(test: &str) -> Proxy {
    let proxy = super::proxy::find(test);
    if let Some(why) = netns::unavailable() {
        panic!("{test} cannot run: {why}");
    }
    proxy
}

impl Lab {
    /// Builds the namespaces, starts `proxy` with its example config (plus `extra` lines; the
    /// relay's ports `relay_ports`) in namespace "proxy" and waits for its relay to answer.
    /// `name` names the site directory and prefixes the Call-IDs.
    pub fn start(name: &str, proxy: Proxy, relay_ports: (u16, u16), extra: &str) -> Lab {
        Self::start_edited(name, proxy, relay_ports, extra, |cfg| cfg.to_string())
    }

    /// [`Lab::start`] with the rendered config passed through `edit` (a test's own lines in
    /// the example's routes).
    pub fn start_edited(
        name: &str,
        proxy: Proxy,
        relay_ports: (u16, u16),
        extra: &str,
        edit: impl FnOnce(&str) -> String,
    ) -> Lab {
        let mut lab = Self::start_unready_edited(name, proxy, relay_ports, extra, edit);
        lab.wait_for("the relay's control socket answers summary", |l| {
            l.summary().get("session_count").map(|_| ())
        });
        lab
    }

    /// [`Lab::start`] without waiting for the relay to answer (a proxy whose relays connect
    /// later).
    pub fn start_unready(name: &str, proxy: Proxy, relay_ports: (u16, u16), extra: &str) -> Lab {
        Self::start_unready_edited(name, proxy, relay_ports, extra, |cfg| cfg.to_string())
    }

    fn start_unready_edited(
        name: &str,
        proxy: Proxy,
        relay_ports: (u16, u16),
        extra: &str,
        edit: impl FnOnce(&str) -> String,
    ) -> Lab {
        let topo = Topology::build(relay_ports);
        let site = Site::new(name, 5060, relay_ports).in_netns(&topo.proxy, netns::PROXY_IP);
        let cfg = proxy.render_example(&site, extra);
        let text = std::fs::read_to_string(&cfg).expect("read the rendered config");
        std::fs::write(&cfg, edit(&text)).expect("write the edited config");
        let check = proxy.check_config(&cfg);
        assert!(
            check.status.success(),
            "{} -c failed: {}{}",
            proxy.host.bin.display(),
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let run = proxy.start(&site, &cfg);
        let pace_a = topo.udp_socket_in(&topo.ua_a, &format!("{}:0", netns::UA_A_IP));
        let pace_b = topo.udp_socket_in(&topo.ua_b, &format!("{}:0", netns::UA_B_IP));
        let rtp_file = site.dir.join("silence.pcmu");
        std::fs::write(&rtp_file, [0xffu8; 1600]).expect("write the RTP payload file");
        let rtp_play = format!("{},-1,0", rtp_file.display());
        Lab {
            sipps: Vec::new(),
            run,
            proxy,
            site,
            pace_a,
            pace_b,
            pace_n: 0,
            prefix: name.to_string(),
            rtp_play,
            topo,
        }
    }

    /// The proxy's SIP address, `198.51.100.1:5060`.
    pub fn proxy_addr(&self) -> String {
        format!("{}:{}", netns::PROXY_IP, self.site.sip_port)
    }

    pub fn control_socket(&self) -> std::path::PathBuf {
        self.site.control_socket()
    }

    /// The relay's state, the user agents' counters, every SIPp run and the proxy's log tail.
    pub fn diagnostics(&mut self) -> String {
        let mut out = String::new();
        let sock = self.site.control_socket();
        out += &format!(
            "--- relay sessions ---\n{}\n--- relay summary ---\n{}\n",
            try_ask(&sock, "sessions").unwrap_or_else(|e| format!("({e})")),
            try_ask(&sock, "summary").unwrap_or_else(|e| format!("({e})"))
        );
        for (name, ns) in [("ua-a", &self.topo.ua_a), ("ua-b", &self.topo.ua_b)] {
            out += &format!("--- {name} counters: {:?}\n", self.topo.counters(ns));
        }
        for s in &mut self.sipps {
            out += &s.report();
        }
        let log = self.run.log_text();
        let lines: Vec<&str> = log.lines().collect();
        out += &format!(
            "--- {} log (last 150 lines of {}) ---\n{}\n",
            self.proxy.name,
            self.run.log.display(),
            lines[lines.len().saturating_sub(150)..].join("\n")
        );
        out
    }

    /// Panics with `what` and the diagnostics (unwinding then cleans up); only with `what` when
    /// a signal asked to stop.
    pub fn fail(&mut self, what: &str) -> ! {
        if interrupted() {
            panic!("interrupted ({what})");
        }
        let d = self.diagnostics();
        panic!("{what}\n{d}");
    }

    /// Polls `f` until it returns `Some` (bounded by [`WAIT`]); fails with `what` otherwise,
    /// and at once when a signal asked to stop.
    pub fn wait_for<T>(&mut self, what: &str, mut f: impl FnMut(&mut Lab) -> Option<T>) -> T {
        let t0 = Instant::now();
        loop {
            if interrupted() {
                panic!("interrupted while waiting for: {what}");
            }
            if let Some(v) = f(self) {
                return v;
            }
            if t0.elapsed() >= WAIT {
                self.fail(&format!("gave up after {WAIT:?} waiting for: {what}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One control-socket command's JSON answer.
    pub fn relay(&self, cmd: &str) -> Option<Value> {
        let line = try_ask(&self.site.control_socket(), cmd).ok()?;
        serde_json::from_str(line.trim()).ok()
    }

    /// The relay's `sessions` (every session).
    pub fn sessions(&self) -> Vec<Value> {
        self.relay("sessions")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// The relay's `summary`.
    pub fn summary(&self) -> Value {
        self.relay("summary")
            .and_then(|v| v.get(0).cloned())
            .unwrap_or(Value::Null)
    }

    /// The session with this Call-ID.
    pub fn session(&self, call_id: &str) -> Option<Value> {
        self.sessions()
            .into_iter()
            .find(|s| s["call_id"] == call_id)
    }

    /// The first stream of the session with this Call-ID.
    pub fn stream(&self, call_id: &str) -> Option<Value> {
        self.session(call_id)
            .and_then(|s| s["streams"].get(0).cloned())
    }

    pub fn counters(&self, side: Side) -> UaCounters {
        match side {
            Side::Caller => self.topo.counters(&self.topo.ua_a),
            Side::Callee => self.topo.counters(&self.topo.ua_b),
        }
    }

    /// Starts SIPp with `scenario` at `side`. A scenario that sends the first request talks
    /// to the proxy and gets `call_id` (SIPp replaces `%u` with the call number); one that
    /// waits for the first request gets `None`. With `media`, the scenario's `[rtp_play]` plays
    /// the lab's RTP file.
    pub fn start_ua(
        &mut self,
        label: &str,
        side: Side,
        scenario: &str,
        call_id: Option<&str>,
        media: bool,
    ) -> usize {
        let ports = (netns::UA_SIP_PORT, netns::UA_MEDIA_PORT);
        self.start_ua_at(label, side, scenario, call_id, media, ports)
    }

    /// [`Lab::start_ua`] with the user agent's SIP and media ports: a second user agent in
    /// the same namespace.
    pub fn start_ua_at(
        &mut self,
        label: &str,
        side: Side,
        scenario: &str,
        call_id: Option<&str>,
        media: bool,
        (sip_port, media_port): (u16, u16),
    ) -> usize {
        let ns = match side {
            Side::Caller => self.topo.ua_a.clone(),
            Side::Callee => self.topo.ua_b.clone(),
        };
        let proxy = self.proxy_addr();
        let rtp_play = self.rtp_play.clone();
        let keys: Vec<(&str, &str)> = if media {
            vec![("rtp_play", rtp_play.as_str())]
        } else {
            Vec::new()
        };
        let s = Sipp::start(
            &self.site.dir,
            &Run {
                name: label,
                netns: &ns,
                scenario,
                ip: side.ip(),
                sip_port,
                media_port,
                remote: call_id.map(|_| proxy.as_str()),
                service: "bob",
                call_id,
                keys: &keys,
                timeout_s: SIPP_TIMEOUT_S,
            },
        );
        self.sipps.push(s);
        self.sipps.len() - 1
    }

    /// The callee registers through NAT B (the registrar keeps its NAT address).
    pub fn register_callee(&mut self) {
        let cid = format!("{}-register-%u", self.prefix);
        let reg = self.start_ua("register", Side::Callee, "register.xml", Some(&cid), false);
        self.expect_success(reg);
    }

    /// A call with scenarios `uac_<name>.xml` (caller) and `uas_<name>.xml` (callee) and
    /// Call-ID `<prefix>-<name>-1`: the callee's SIPp first, the caller's once the callee
    /// listens.
    pub fn start_call(&mut self, name: &str, media: bool) -> Call {
        let (uac, uas) = (format!("uac_{name}.xml"), format!("uas_{name}.xml"));
        self.start_call_with(name, &uac, &uas, media)
    }

    /// [`Lab::start_call`] with the caller's and the callee's scenario files named.
    pub fn start_call_with(&mut self, name: &str, uac: &str, uas: &str, media: bool) -> Call {
        let call_id = format!("{}-{name}-1", self.prefix);
        let cid = format!("{}-{name}-%u", self.prefix);
        let callee = self.start_ua(&format!("callee-{name}"), Side::Callee, uas, None, media);
        // the callee's SIPp must be listening before the INVITE arrives
        self.wait_listening(Side::Callee, netns::UA_SIP_PORT);
        let caller = self.start_ua(
            &format!("caller-{name}"),
            Side::Caller,
            uac,
            Some(&cid),
            media,
        );
        Call {
            caller,
            callee,
            call_id,
        }
    }

    /// Waits until a SIPp of `side` listens on UDP `port`.
    pub fn wait_listening(&mut self, side: Side, port: u16) {
        self.wait_for(&format!("a SIPp binds UDP port {port}"), |l| {
            let ns = match side {
                Side::Caller => &l.topo.ua_a,
                Side::Callee => &l.topo.ua_b,
            };
            let port = format!("= :{port}");
            let out = netns::exec(ns, &["ss", "-Hlun", "sport", &port]);
            (!out.stdout.is_empty()).then_some(())
        });
    }

    /// [`Lab::media_both_ways`], and the relay latched on the NATs' public addresses (the
    /// SDPs named the private ones); the session as the relay showed it.
    pub fn media_through_the_nats(&mut self, call_id: &str, min: u64) -> Value {
        let up = self.media_both_ways(call_id, min);
        let remote = |k: &str| up[k].as_str().unwrap_or("").to_string();
        if !remote("caller_remote").starts_with(&format!("{}:", netns::NAT_A_PUBLIC))
            || !remote("callee_remote").starts_with(&format!("{}:", netns::NAT_B_PUBLIC))
        {
            self.fail(&format!(
                "the relay did not latch on the NATs' public addresses: {up}"
            ));
        }
        up
    }

    /// Waits until the relay shows at least `min` packets each way in the first stream of
    /// `call_id`, and each user agent's counters show at least `min` RTP packets from the
    /// relay since the lab started; returns that stream.
    pub fn media_both_ways(&mut self, call_id: &str, min: u64) -> Value {
        self.wait_for(
            &format!(
                "RTP relayed both ways in {call_id} (sessions: caller_packets and \
                 callee_packets >= {min}; both user agents receive as many RTP packets from the \
                 relay)"
            ),
            |l| {
                let st = l.stream(call_id)?;
                let ok = st["caller_packets"].as_u64()? >= min
                    && st["callee_packets"].as_u64()? >= min
                    && l.counters(Side::Caller).rtp_from_relay >= min
                    && l.counters(Side::Callee).rtp_from_relay >= min;
                ok.then_some(st)
            },
        )
    }

    /// Sends the INFO a scenario waits for (`<recv request="INFO"/>`), from inside the user
    /// agent's own namespace to its own SIP address: the lab's pacing, not part of the call.
    pub fn pace(&mut self, side: Side, call_id: &str) {
        self.pace_n += 1;
        let sock = match side {
            Side::Caller => &self.pace_a,
            Side::Callee => &self.pace_b,
        };
        let ua_ip = side.ip();
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
    pub fn expect_success(&mut self, i: usize) {
        let name = self.sipps[i].name.clone();
        let st = self.wait_for(&format!("SIPp {name} ends"), |l| l.sipps[i].poll());
        if !st.success() {
            self.fail(&format!("SIPp {name} did not succeed: {st:?}"));
        }
    }

    /// Every SIP message SIPp run `i` received.
    pub fn received(&self, i: usize) -> Vec<String> {
        self.sipps[i].received()
    }

    /// No relay session left and every port back in the pool.
    pub fn expect_all_released(&mut self, after: &str) {
        self.wait_for(
            &format!("no session and ports_in_use 0 after {after}"),
            |l| {
                let s = l.summary();
                (l.sessions().is_empty()
                    && s["session_count"] == 0
                    && s["ports_in_use"] == 0
                    && s["ports_free"].as_u64().is_some_and(|n| n > 0))
                .then_some(())
            },
        );
    }

    /// SIGTERM to the proxy: it must stop (bounded), remove the relay's control socket file,
    /// and leave no problem line in its log ([`Proxy::problems`]). Returns the log.
    pub fn stop_proxy(&mut self) -> String {
        self.stop_proxy_tolerating(&[])
    }

    /// [`Lab::stop_proxy`], where log lines containing one of `known` (problems of the host's
    /// own modules, named by the caller) do not count.
    pub fn stop_proxy_tolerating(&mut self, known: &[&str]) -> String {
        self.run.terminate();
        let name = self.proxy.name;
        self.wait_for(&format!("{name} stops"), |l| {
            l.run.child.try_wait().ok().flatten()
        });
        if self.site.control_socket().exists() {
            self.fail(&format!("{name} stopped but left the control socket file"));
        }
        let log = self.run.log_text();
        let bad: Vec<&str> = self
            .proxy
            .problems(&log)
            .into_iter()
            .filter(|l| !known.iter().any(|k| l.contains(k)))
            .collect();
        if !bad.is_empty() {
            let lines = bad.join("\n");
            self.fail(&format!("the {name} log has problems:\n{lines}"));
        }
        log
    }

    /// Ends a passing run: dropping the lab removes the namespaces, and the site its
    /// directory (config, logs, SIPp traces) unless `MPX_KEEP` (or `MPX_E2E_KEEP`) is set.
    pub fn finish(self) {}
}

impl Drop for Lab {
    /// An interrupted run leaves nothing behind, not even its logs (a failed one keeps them
    /// for a look, as the failure message says).
    fn drop(&mut self) {
        if interrupted() {
            // what writes into the directory goes first
            self.sipps.clear();
            self.run.terminate();
            self.run.wait_exit(Duration::from_secs(10));
            let _ = std::fs::remove_dir_all(&self.site.dir);
        }
    }
}

/// The body of a SIP message as text.
pub fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The first value of header `name` of a SIP message.
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n")
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
}

/// Every SDP a user agent received must name the relay (address and a port of its range) in
/// every connection and media line. Returns the number of SDP bodies checked.
pub fn check_sdps(
    who: &str,
    received: &[String],
    relay_ports: (u16, u16),
    problems: &mut Vec<String>,
) -> usize {
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
                .is_some_and(|p| (relay_ports.0..=relay_ports.1).contains(&p))
        });
        if !c_ok || !port_ok {
            problems.push(format!(
                "{who} received an SDP not rewritten to the relay ({first}):\n{b}"
            ));
        }
    }
    n
}
