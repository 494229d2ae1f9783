//! Two networks that meet only at the proxy: network namespace "proxy" with one veth into
//! each of two user-agent namespaces ("left", "right"), each link of its own address family
//! and subnet, and no forwarding in the proxy namespace, so a packet from one user agent can
//! reach the other only through the proxy's relay. A user agent on an IPv4 link has IPv6
//! turned off; one on an IPv6 link has no IPv4 address (only loopback's). The proxy namespace
//! has both families.
//!
//! A Drop guard like [`super::netns::Topology`]: it kills what still runs in its namespaces
//! (only processes this test started) and deletes them.
#![allow(dead_code)]

use super::netns::{exec_ok, ip, remove_namespaces, socket_in};

/// One link: the proxy's and the user agent's address (without prefix length) and the prefix.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    pub proxy: &'static str,
    pub ua: &'static str,
    pub prefix: u8,
}

impl Link {
    pub fn v6(&self) -> bool {
        self.proxy.contains(':')
    }
}

pub struct TwoNets {
    pub proxy: String,
    pub left: String,
    pub right: String,
    created: Vec<String>,
}

impl TwoNets {
    /// `tag` keeps the names apart from other tests' (the pid is added).
    pub fn build(tag: &str, left: Link, right: Link) -> TwoNets {
        let id = std::process::id();
        let mut t = TwoNets {
            proxy: format!("mpx{id}-{tag}-proxy"),
            left: format!("mpx{id}-{tag}-l"),
            right: format!("mpx{id}-{tag}-r"),
            created: Vec::new(),
        };
        let p = t.proxy.clone();
        for ns in [t.proxy.clone(), t.left.clone(), t.right.clone()] {
            ip(&["netns", "add", &ns]);
            t.created.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        // no routing between the two links: only the relay joins them
        exec_ok(&p, &["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
        exec_ok(&p, &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"]);
        for (ua, link, dev) in [(t.left.clone(), left, "l0"), (t.right.clone(), right, "r0")] {
            if !link.v6() {
                exec_ok(&ua, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
                exec_ok(
                    &ua,
                    &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
                );
            }
            ip(&[
                "-n", &p, "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", &ua,
            ]);
            let (pa, ua_a) = (
                format!("{}/{}", link.proxy, link.prefix),
                format!("{}/{}", link.ua, link.prefix),
            );
            if link.v6() {
                ip(&["-n", &p, "addr", "add", &pa, "dev", dev, "nodad"]);
                ip(&["-n", &ua, "addr", "add", &ua_a, "dev", "eth0", "nodad"]);
            } else {
                ip(&["-n", &p, "addr", "add", &pa, "dev", dev]);
                ip(&["-n", &ua, "addr", "add", &ua_a, "dev", "eth0"]);
            }
            ip(&["-n", &p, "link", "set", dev, "up"]);
            ip(&["-n", &ua, "link", "set", "eth0", "up"]);
        }
        t
    }

    /// A UDP socket bound to `addr` inside namespace `ns`.
    pub fn socket(&self, ns: &str, addr: &str) -> std::net::UdpSocket {
        socket_in(ns, addr)
    }
}

impl Drop for TwoNets {
    fn drop(&mut self) {
        remove_namespaces(&mut self.created);
    }
}
