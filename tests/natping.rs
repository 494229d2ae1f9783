//! `natping_interval` in a real proxy (OpenSIPS, or Kamailio with `--features kamailio`):
//! keep-alives reach registered contacts behind NAT (usrloc's `nat_bflag`, which the example
//! configs set for clients that `client_nat_test("3")` finds behind NAT), from the socket they
//! registered on, again every interval; a contact not behind NAT gets none; without usrloc the
//! module says so once.
//!
//! Needs the proxy's binary (`OPENSIPS_BIN` / `KAMAILIO_BIN` or `PATH`): `#[ignore]`d, and
//! `scripts/test.sh` includes the tests when there is one.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::process::{wait_until, Host, Running, Site};
use support::proxy::{find, Proxy};
use support::sipcall::recv_sip;

/// What differs per host for this file: a minimal config's pieces, and our statistics.
#[cfg(not(feature = "kamailio"))]
mod minimal {
    pub const UDP: &str = "loadmodule \"proto_udp.so\"\nudp_workers=1\nsocket=udp";
    pub const PRELUDE: &str = "log_level=3\nstderror_enabled=yes\nsyslog_enabled=no\n";
    pub const ROUTE: &str = "route { exit; }";
    pub fn counted(site: &super::Site) -> Option<u64> {
        let stats = super::support::opensips::statistics(site);
        Some(super::support::opensips::stat(&stats, "natpings_sent"))
    }
}

#[cfg(feature = "kamailio")]
mod minimal {
    pub const UDP: &str = "loadmodule \"pv.so\"\nchildren=1\nlisten=udp";
    pub const PRELUDE: &str = "#!KAMAILIO\ndebug=2\nlog_stderror=yes\ndisable_tcp=yes\n";
    pub const ROUTE: &str = "request_route { exit; }";
    /// Kamailio has no statistics of ours (the keep-alives themselves are checked).
    pub fn counted(_: &super::Site) -> Option<u64> {
        None
    }
}

/// A minimal config: our module alone (no usrloc), external relay mode, `natping_interval`.
fn without_usrloc(host: &Host, site: &Site, interval: u32) -> PathBuf {
    site.write_cfg(&format!(
        "{prelude}mpath=\"{mpath}/\"\n{udp}:127.0.0.1:{port}\n\
         loadmodule \"{so}\"\n\
         modparam(\"mediaproxy\", \"relay_mode\", \"external\")\n\
         modparam(\"mediaproxy\", \"mediaproxy_socket\", \"{sock}\")\n\
         modparam(\"mediaproxy\", \"natping_interval\", {interval})\n{route}\n",
        prelude = minimal::PRELUDE,
        udp = minimal::UDP,
        port = site.sip_port,
        mpath = host.modules_dir.display(),
        so = host.module_so.display(),
        sock = site.control_socket().display(),
        route = minimal::ROUTE,
    ))
}

fn register(ua: &UdpSocket, proxy: SocketAddr, user: &str, via: &str, contact: &str) {
    let msg = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK{user}\r\n\
         From: <sip:{user}@127.0.0.1>;tag={user}1\r\nTo: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: reg-{user}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@{contact}>\r\n\
         Expires: 300\r\nContent-Length: 0\r\n\r\n"
    );
    ua.send_to(msg.as_bytes(), proxy).unwrap();
    let ok = recv_sip(ua, "SIP/2.0 200");
    assert!(ok.contains("Contact:"), "{ok}");
}

/// Datagrams that arrived at `ua` within `limit` that are keep-alives from `proxy`; stops
/// early once `want` arrived. Anything else that arrives is returned in the second list.
fn keepalives(
    ua: &UdpSocket,
    proxy: SocketAddr,
    want: usize,
    limit: Duration,
) -> (usize, Vec<String>) {
    let end = Instant::now() + limit;
    let (mut n, mut other) = (0, Vec::new());
    let mut buf = [0u8; 2048];
    while n < want && Instant::now() < end {
        ua.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match ua.recv_from(&mut buf) {
            Ok((len, from)) if from == proxy && buf[..len] == [0, 0, 0, 0] => n += 1,
            Ok((len, from)) => other.push(format!(
                "{from}: {:?}",
                String::from_utf8_lossy(&buf[..len])
            )),
            Err(_) => {}
        }
    }
    (n, other)
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn keepalives_reach_natted_contacts_from_the_registration_socket() {
    let host = find("keepalives_reach_natted_contacts_from_the_registration_socket");
    let site = Site::new("natping", 35500, (42200, 42299));
    let cfg = host.render_example(&site, "modparam(\"mediaproxy\", \"natping_interval\", 1)");
    let mut run = host.start(&site, &cfg);
    let sock = site.control_socket();
    assert!(
        wait_until(Duration::from_secs(15), || sock.exists()),
        "not up; log:\n{}",
        run.log_text()
    );
    let proxy: SocketAddr = format!("127.0.0.1:{}", site.sip_port).parse().unwrap();
    // carol is behind NAT: her Via and Contact name a private address the packets do not
    // come from; dave is not: he names the address he sends from
    let carol = UdpSocket::bind("127.0.0.1:36501").unwrap();
    let dave = UdpSocket::bind("127.0.0.1:36502").unwrap();
    register(&carol, proxy, "carol", "10.0.0.7:5060", "10.0.0.7:5060");
    register(&dave, proxy, "dave", "127.0.0.1:36502", "127.0.0.1:36502");
    // carol's NAT binding (her source address) gets a keep-alive from the proxy's SIP
    // socket, and another one an interval later
    let (n, other) = keepalives(&carol, proxy, 2, Duration::from_secs(10));
    assert_eq!(
        n,
        2,
        "keep-alives at carol; other datagrams {other:?}; log:\n{}",
        run.log_text()
    );
    assert!(other.is_empty(), "{other:?}");
    // the same rounds passed dave by: he is not flagged as behind NAT
    let (n, other) = keepalives(&dave, proxy, 1, Duration::from_millis(300));
    assert_eq!((n, other.len()), (0, 0), "dave got {other:?}");
    if let Some(n) = minimal::counted(&site) {
        assert!(n >= 2, "natpings_sent {n}");
    }
    let log = stop(&mut run);
    assert!(
        log.contains(
            "natping: keep-alives every 1 s to registered UDP contacts with usrloc's nat_bflag"
        ),
        "{log}"
    );
    no_problems(&host, &log, &[]);
}

fn stop(run: &mut Running) -> String {
    run.terminate();
    assert!(run.wait_exit(Duration::from_secs(20)).is_some());
    run.log_text()
}

/// No problem line in the log (the proxy's markers) but the `expected` ones.
fn no_problems(host: &Proxy, log: &str, expected: &[&str]) {
    let problems: Vec<&str> = host
        .problems(log)
        .into_iter()
        .filter(|l| !expected.iter().any(|e| l.contains(e)))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}\nlog:\n{log}");
}

/// A proxy without usrloc: natping_interval cannot work, which the module says once at
/// start-up; everything else runs. With natping_interval 0 it says nothing.
#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn without_usrloc_natping_says_so_once() {
    let host = find("without_usrloc_natping_says_so_once");
    for (i, interval) in [(0u16, 30u32), (1, 0)] {
        let site = Site::new(&format!("natping-noul{i}"), 35510 + i, (42300, 42399));
        let cfg = without_usrloc(&host.host, &site, interval);
        let mut run = host.start(&site, &cfg);
        assert!(
            wait_until(Duration::from_secs(15), || run
                .log_text()
                .contains("mediaproxy.so ")),
            "not up; log:\n{}",
            run.log_text()
        );
        let log = stop(&mut run);
        let said = log.matches("usrloc is not loaded").count();
        assert_eq!(
            said,
            usize::from(interval > 0),
            "interval {interval}:\n{log}"
        );
        assert!(!log.contains("natping: keep-alives every"), "{log}");
        no_problems(&host, &log, &["usrloc is not loaded"]);
    }
}
