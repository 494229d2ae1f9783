//! Prometheus scrapes our statistics through a real OpenSIPS's `httpd` and `prometheus`
//! modules, configured as `cfg-examples/opensips-prometheus.cfg` shows (the lines of
//! doc/mediaproxy.md's example): during a call the scrape holds every statistic of the module
//! with its live value, the same as `get_statistics mediaproxy:` says.
//!
//! Needs an OpenSIPS binary (`OPENSIPS_BIN` or `PATH`) whose modules directory has `httpd.so`
//! and `prometheus.so`: `#[ignore]`d, and `scripts/test.sh` includes it when they are there.

#![cfg(not(feature = "kamailio"))]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use mediaproxy::host::common::stats::STATS;
use support::opensips::{self as os, Site};
use support::sipcall::establish;

/// `GET /metrics` on 127.0.0.1:`port`: the response body.
fn scrape(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).map_err(|e| e.to_string())?;
    let (head, body) = reply.split_once("\r\n\r\n").ok_or("no HTTP body")?;
    if !head.starts_with("HTTP/1.") || !head.contains(" 200 ") {
        return Err(format!("not 200 OK: {head}"));
    }
    Ok(body.to_string())
}

/// The value of `opensips_mediaproxy_<name>` in a scrape, and whether its TYPE line is there.
fn metric(body: &str, name: &str) -> (u64, bool) {
    let full = format!("opensips_mediaproxy_{name}");
    let value = body
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{full} ")))
        .unwrap_or_else(|| panic!("no {full} in the scrape:\n{body}"));
    let value = value
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{full} {value}"));
    (value, body.contains(&format!("# TYPE {full} ")))
}

#[test]
#[ignore = "needs the proxy with httpd and prometheus: OPENSIPS_BIN (or opensips on PATH) with httpd.so and prometheus.so"]
fn prometheus_scrapes_the_statistics_during_a_call() {
    let test = "prometheus_scrapes_the_statistics_during_a_call";
    let host = os::host(test);
    for m in ["httpd.so", "prometheus.so"] {
        assert!(
            host.modules_dir.join(m).is_file(),
            "{test} needs {m} in {} (build OpenSIPS with it)",
            host.modules_dir.display()
        );
    }
    let site = Site::new("prometheus", 35480, (43500, 43599));
    let http_port = 35481;
    let fragment = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/cfg-examples/opensips-prometheus.cfg"
    ))
    .expect("read cfg-examples/opensips-prometheus.cfg")
    .replace(
        "modparam(\"httpd\", \"port\", 8888)",
        &format!("modparam(\"httpd\", \"port\", {http_port})"),
    );
    assert!(fragment.contains(&http_port.to_string()), "{fragment}");
    let cfg = os::render_example(&host, &site, &fragment);
    let mut run = os::start(&host, &site, &cfg);
    let sock = site.control_socket();
    let up = os::wait_until(Duration::from_secs(15), || {
        sock.exists() && scrape(http_port).is_ok()
    });
    assert!(up, "relay or httpd not up; log:\n{}", run.log_text());

    // the relay process publishes its port pool once its threads run, which may come after
    // the control socket appears
    let mut before = String::new();
    let pool = os::wait_until(Duration::from_secs(10), || {
        before = scrape(http_port).unwrap_or_default();
        before.contains("\nopensips_mediaproxy_ports_free 100\n")
    });
    assert!(pool, "{before}");
    assert_eq!(metric(&before, "active_sessions").0, 0, "{before}");

    let c = establish(&site, site.port_range, true);
    c.ack();
    c.media(&sock);
    // the workers publish their packet counts in batches: wait until the scrape shows them
    let relayed = os::wait_until(Duration::from_secs(5), || {
        scrape(http_port).is_ok_and(|b| metric(&b, "relayed_packets").0 >= 10)
    });
    let during = scrape(http_port).expect("scrape");
    assert!(relayed, "{during}");
    // every statistic of the module, typed, with the value get_statistics gives
    let stats = os::statistics(&site);
    for (name, _) in STATS {
        let (value, typed) = metric(&during, name);
        assert!(typed, "no TYPE line for {name}:\n{during}");
        let now = os::stat(&stats, name);
        // the relay's packet and byte counts may move between the two reads
        if !name.starts_with("relayed_") && !name.starts_with("dropped_") {
            assert_eq!(value, now, "{name}: scrape {value}, get_statistics {now}");
        }
    }
    assert_eq!(metric(&during, "active_sessions").0, 1, "{during}");
    assert_eq!(metric(&during, "active_streams").0, 1, "{during}");
    assert_eq!(metric(&during, "created_sessions").0, 1, "{during}");
    assert_eq!(metric(&during, "ports_in_use").0, 4, "{during}");
    assert!(
        (10..=12).contains(&metric(&during, "relayed_packets").0),
        "{during}"
    );
    assert!(metric(&during, "relayed_bytes").0 >= 10 * 12, "{during}");

    c.bye(&sock);
    let after = scrape(http_port).expect("scrape");
    assert_eq!(metric(&after, "active_sessions").0, 0, "{after}");
    assert_eq!(metric(&after, "ended_sessions").0, 1, "{after}");
    assert_eq!(metric(&after, "ports_in_use").0, 0, "{after}");

    run.terminate();
    assert!(run.wait_exit(Duration::from_secs(20)).is_some());
    let log = run.log_text();
    assert!(!log.contains("ERROR:mediaproxy"), "{log}");
}
