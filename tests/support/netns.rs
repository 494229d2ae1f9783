//! Network namespaces for the end-to-end NAT test: a "public" net (198.51.100.0/24, TEST-NET-2)
//! on a bridge inside the proxy namespace, two masquerading NAT namespaces, and one user-agent
//! namespace behind each NAT (192.168.1.0/24, 192.168.2.0/24). Every veth is created directly
//! inside the test's namespaces (never in the root namespace), so nothing outside them changes,
//! and no traffic can leave them.
//!
//! [`Topology`] is a Drop guard: it kills what still runs inside its namespaces (only processes
//! this test started there) and deletes the namespaces, which removes their veths, bridge and
//! nft tables with them.
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The public side: proxy (SIP + relay), NAT A, NAT B.
pub const PROXY_IP: &str = "198.51.100.1";
pub const NAT_A_PUBLIC: &str = "198.51.100.10";
pub const NAT_B_PUBLIC: &str = "198.51.100.20";
/// The private sides.
pub const NAT_A_PRIVATE: &str = "192.168.1.1";
pub const UA_A_IP: &str = "192.168.1.10";
pub const NAT_B_PRIVATE: &str = "192.168.2.1";
pub const UA_B_IP: &str = "192.168.2.10";
/// SIP and media ports of both user agents (each in its own namespace).
/// Media boxes on the public net ([`Topology::add_box`]): remote relays of the proxy.
pub const BOX_IPS: [&str; 3] = ["198.51.100.31", "198.51.100.32", "198.51.100.33"];

pub const UA_SIP_PORT: u16 = 5060;
pub const UA_MEDIA_PORT: u16 = 6000;

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

fn must(cmd: &mut Command) {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn ip(args: &[&str]) {
    must(Command::new("ip").args(args));
}

/// `ip netns exec <ns> <args...>`.
pub fn exec(ns: &str, args: &[&str]) -> Output {
    run(Command::new("ip").args(["netns", "exec", ns]).args(args))
}

pub fn exec_ok(ns: &str, args: &[&str]) {
    must(Command::new("ip").args(["netns", "exec", ns]).args(args));
}

/// Loads an nft ruleset into namespace `ns`.
fn nft_load(ns: &str, rules: &str) {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nft");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(rules.as_bytes())
        .expect("write nft rules");
    let out = child.wait_with_output().expect("nft");
    assert!(
        out.status.success(),
        "nft -f in {ns} failed: {}\nrules:\n{rules}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Why the end-to-end test cannot run here (not root, no `ip`, no `ip netns`, no nft, no
/// SIPp), or `None` when it can.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network namespaces need CAP_SYS_ADMIN/CAP_NET_ADMIN)".into());
    }
    for tool in ["ip", "nft", "sipp"] {
        let found = std::env::var_os("PATH").is_some_and(|p| {
            std::env::split_paths(&p).any(|d| d.join(tool).is_file())
                || Path::new("/usr/sbin").join(tool).is_file()
        });
        if !found {
            return Some(format!(
                "`{tool}` not found (scripts/deps.sh installs iproute2, nftables, sip-tester)"
            ));
        }
    }
    // one per call: tests of one process may probe at the same time
    static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let probe = format!(
        "mpxprobe{}-{}",
        std::process::id(),
        PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let out = run(Command::new("ip").args(["netns", "add", &probe]));
    if !out.status.success() {
        return Some(format!(
            "`ip netns add` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let veth = run(Command::new("ip").args([
        "-n", &probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1",
    ]));
    // nf_tables with NAT (the NATs masquerade) and named counters (the user agents count)
    let nft = {
        use std::io::Write;
        let child = Command::new("ip")
            .args(["netns", "exec", &probe, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        child.ok().and_then(|mut c| {
            let _ = c.stdin.take()?.write_all(
                b"table ip p {\n counter n { }\n chain c {\n type nat hook postrouting priority srcnat;\n \
                  oifname \"p0\" counter name n masquerade fully-random\n }\n}\n",
            );
            c.wait_with_output().ok()
        })
    };
    let _ = run(Command::new("ip").args(["netns", "del", &probe]));
    if !veth.status.success() {
        return Some(format!(
            "cannot create a veth pair in a namespace: {}",
            String::from_utf8_lossy(&veth.stderr).trim()
        ));
    }
    match nft {
        Some(o) if o.status.success() => None,
        Some(o) => Some(format!(
            "nftables cannot masquerade in a namespace: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        None => Some("cannot run nft in a namespace".into()),
    }
}

/// The namespaces of one test run (names carry the test's pid, so parallel runs never meet).
pub struct Topology {
    pub proxy: String,
    pub nat_a: String,
    pub ua_a: String,
    pub nat_b: String,
    pub ua_b: String,
    created: Vec<String>,
}

impl Topology {
    /// Builds the whole network:
    ///
    /// ```text
    ///  ua-a 192.168.1.10 ── 192.168.1.1 nat-a 198.51.100.10 ─┐
    ///                                                        br0 198.51.100.1  proxy
    ///  ua-b 192.168.2.10 ── 192.168.2.1 nat-b 198.51.100.20 ─┘
    /// ```
    ///
    /// Each NAT masquerades (`fully-random`: every flow gets its own random public port, a
    /// port-changing, symmetric-like NAT) and drops unsolicited traffic from outside. The proxy
    /// has no route to the private nets, so only NAT-mapped addresses work. Each user agent
    /// counts what arrives from outside (nft named counters, [`Topology::counters`]).
    pub fn build(relay_ports: (u16, u16)) -> Topology {
        // the pid, and a count for a second topology of the same test process
        static BUILT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let tag = match BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
            0 => std::process::id().to_string(),
            n => format!("{}n{n}", std::process::id()),
        };
        let mut t = Topology {
            proxy: format!("mpx{tag}-proxy"),
            nat_a: format!("mpx{tag}-nat-a"),
            ua_a: format!("mpx{tag}-ua-a"),
            nat_b: format!("mpx{tag}-nat-b"),
            ua_b: format!("mpx{tag}-ua-b"),
            created: Vec::new(),
        };
        for ns in [&t.proxy, &t.nat_a, &t.ua_a, &t.nat_b, &t.ua_b].map(|s| s.to_string()) {
            ip(&["netns", "add", &ns]);
            t.created.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            // IPv4 only: no router solicitations or other IPv6 chatter on the veths
            exec_ok(&ns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
            exec_ok(
                &ns,
                &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
            );
        }
        let p = t.proxy.clone();
        ip(&["-n", &p, "link", "add", "br0", "type", "bridge"]);
        ip(&[
            "-n",
            &p,
            "addr",
            "add",
            &format!("{PROXY_IP}/24"),
            "dev",
            "br0",
        ]);
        ip(&["-n", &p, "link", "set", "br0", "up"]);
        let sides = [
            (
                t.nat_a.clone(),
                t.ua_a.clone(),
                "pa",
                NAT_A_PUBLIC,
                NAT_A_PRIVATE,
                UA_A_IP,
            ),
            (
                t.nat_b.clone(),
                t.ua_b.clone(),
                "pb",
                NAT_B_PUBLIC,
                NAT_B_PRIVATE,
                UA_B_IP,
            ),
        ];
        for (nat, ua, port, public, private, ua_ip) in sides {
            // public side: a bridge port in the proxy namespace, "pub" in the NAT
            ip(&[
                "-n", &p, "link", "add", port, "type", "veth", "peer", "name", "pub", "netns", &nat,
            ]);
            ip(&["-n", &p, "link", "set", port, "master", "br0", "up"]);
            ip(&[
                "-n",
                &nat,
                "addr",
                "add",
                &format!("{public}/24"),
                "dev",
                "pub",
            ]);
            ip(&["-n", &nat, "link", "set", "pub", "up"]);
            // private side: "priv" in the NAT, "eth0" in the user agent
            ip(&[
                "-n", &nat, "link", "add", "priv", "type", "veth", "peer", "name", "eth0", "netns",
                &ua,
            ]);
            ip(&[
                "-n",
                &nat,
                "addr",
                "add",
                &format!("{private}/24"),
                "dev",
                "priv",
            ]);
            ip(&["-n", &nat, "link", "set", "priv", "up"]);
            ip(&[
                "-n",
                &ua,
                "addr",
                "add",
                &format!("{ua_ip}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ua, "link", "set", "eth0", "up"]);
            ip(&["-n", &ua, "route", "add", "default", "via", private]);
            exec_ok(&nat, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
            nft_load(
                &nat,
                r#"
table ip mpx_nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "pub" masquerade fully-random
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "priv" oifname "pub" accept
    }
}
"#,
            );
            nft_load(
                &ua,
                &format!(
                    r#"
table inet mpx_ua {{
    counter sip_from_proxy {{ }}
    counter rtp_from_relay {{ }}
    counter icmp_from_proxy {{ }}
    counter other_in {{ }}
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname "lo" accept
        ip saddr {PROXY_IP} udp sport 5060 udp dport {UA_SIP_PORT} counter name sip_from_proxy accept
        ip saddr {{ {PROXY_IP}, {} }} udp sport {}-{} udp dport {UA_MEDIA_PORT} counter name rtp_from_relay accept
        ip saddr {PROXY_IP} ip protocol icmp counter name icmp_from_proxy accept
        counter name other_in
    }}
}}
"#,
                    BOX_IPS.join(", "),
                    relay_ports.0,
                    relay_ports.1
                ),
            );
        }
        t
    }

    /// The packet counters of a user agent's namespace: SIP from the proxy, RTP from the
    /// relay's port range, ICMP from the proxy, anything else that came in from outside.
    pub fn counters(&self, ua: &str) -> UaCounters {
        let out = exec(
            ua,
            &["nft", "-j", "list", "counters", "table", "inet", "mpx_ua"],
        );
        assert!(
            out.status.success(),
            "nft list counters in {ua}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("nft -j output");
        let mut c = UaCounters::default();
        for item in v["nftables"].as_array().into_iter().flatten() {
            let Some(ctr) = item.get("counter") else {
                continue;
            };
            let n = ctr["packets"].as_u64().unwrap_or(0);
            match ctr["name"].as_str() {
                Some("sip_from_proxy") => c.sip_from_proxy = n,
                Some("rtp_from_relay") => c.rtp_from_relay = n,
                Some("icmp_from_proxy") => c.icmp_from_proxy = n,
                Some("other_in") => c.other_in = n,
                _ => {}
            }
        }
        c
    }

    /// Makes the two private nets reach each other directly, without NAT (as two sites joined
    /// by a VPN): each NAT routes the other private net via the other NAT and neither
    /// masquerades nor filters traffic between them. Traffic to the proxy is NATed as before.
    /// Each user agent counts media from the other one (port [`UA_MEDIA_PORT`]) in its
    /// `media_from_peer` counter ([`Topology::named_counter`]).
    pub fn route_private_nets(&self) {
        for (nat, other_net, other_nat) in [
            (&self.nat_a, "192.168.2.0/24", NAT_B_PUBLIC),
            (&self.nat_b, "192.168.1.0/24", NAT_A_PUBLIC),
        ] {
            ip(&["-n", nat, "route", "add", other_net, "via", other_nat]);
            nft_load(
                nat,
                "insert rule ip mpx_nat postrouting ip daddr 192.168.0.0/16 accept
                 add rule ip mpx_nat forward ip saddr 192.168.0.0/16 ip daddr 192.168.0.0/16 accept
",
            );
        }
        for ua in [&self.ua_a, &self.ua_b] {
            nft_load(
                ua,
                &format!(
                    "add counter inet mpx_ua media_from_peer
                     insert rule inet mpx_ua input ip saddr 192.168.0.0/16 udp dport {UA_MEDIA_PORT}                      counter name media_from_peer accept
"
                ),
            );
        }
    }

    /// The packets counted by the named counter `name` of a user agent's table (0 if none).
    pub fn named_counter(&self, ua: &str, name: &str) -> u64 {
        let out = exec(
            ua,
            &["nft", "-j", "list", "counter", "inet", "mpx_ua", name],
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|i| i["counter"]["packets"].as_u64())
            .unwrap_or(0)
    }

    /// A UDP socket bound to `addr` inside namespace `ns` ([`socket_in`]).
    pub fn udp_socket_in(&self, ns: &str, addr: &str) -> std::net::UdpSocket {
        socket_in(ns, addr)
    }

    /// Adds a host on the public net (a port of the proxy's bridge) at `ip` (one of
    /// [`BOX_IPS`]): a media box for remote relays. Returns its namespace's name.
    pub fn add_box(&mut self, label: &str, ip_addr: &str) -> String {
        let ns = format!("mpx{}-{label}", std::process::id());
        ip(&["netns", "add", &ns]);
        self.created.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        exec_ok(&ns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        let port = format!("b{}", self.created.len());
        ip(&[
            "-n",
            &self.proxy,
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns,
        ]);
        ip(&[
            "-n",
            &self.proxy,
            "link",
            "set",
            &port,
            "master",
            "br0",
            "up",
        ]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ip_addr}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ns
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UaCounters {
    pub sip_from_proxy: u64,
    pub rtp_from_relay: u64,
    /// ICMP errors from the proxy host, e.g. port unreachable for RTP that a user agent still
    /// sends after the relay closed the call's ports (SIPp streams until it exits).
    pub icmp_from_proxy: u64,
    pub other_in: u64,
}

impl Drop for Topology {
    fn drop(&mut self) {
        remove_namespaces(&mut self.created);
    }
}

/// A UDP socket bound to `addr` inside namespace `ns` (created on a short-lived thread that
/// entered the namespace; a socket stays in the namespace it was created in), with a 2 s read
/// timeout.
pub fn socket_in(ns: &str, addr: &str) -> std::net::UdpSocket {
    let path = format!("/run/netns/{ns}");
    let addr = addr.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: setns on this thread only, with a namespace fd we just opened.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        let s = std::net::UdpSocket::bind(&addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        s
    })
    .join()
    .expect("namespace socket thread")
}

/// Kills every process still inside one of the namespaces `created` (all were started by this
/// test), by pid, then deletes the namespaces (which removes their veths, bridges and nft
/// tables with them), last created first.
pub fn remove_namespaces(created: &mut Vec<String>) {
    for ns in created.iter() {
        let out = run(Command::new("ip").args(["netns", "pids", ns]));
        for pid in String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: plain kill(2) of a process that lives in our own namespace.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    for _ in 0..20 {
        let busy = created.iter().any(|ns| {
            !run(Command::new("ip").args(["netns", "pids", ns]))
                .stdout
                .is_empty()
        });
        if !busy {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for ns in created.drain(..).rev() {
        let out = run(Command::new("ip").args(["netns", "del", &ns]));
        if !out.status.success() {
            super::process::loud(&format!(
                "warning: cannot delete network namespace {ns}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
}
