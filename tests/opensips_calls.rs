//! Calls through a real OpenSIPS running `cfg-examples/opensips.cfg`, on 127.0.0.1: a callee
//! registers, a caller's INVITE reaches it with the SDP pointing at the relay, the 200 OK
//! reaches the caller likewise, RTP flows both ways through the relay, and the BYE frees the
//! ports. Once with the embedded relay, once with `relay_mode = "external"` driving the crate's
//! standalone relay binary (as an external MediaProxy dispatcher would be driven).
//!
//! Needs an OpenSIPS binary (`OPENSIPS_BIN` or `PATH`); without one each test says SKIPPED.

#![cfg(not(feature = "kamailio"))]

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::opensips::{self as os, Site};
use support::sipcall::{call, establish};

#[test]
fn a_call_through_the_embedded_relay() {
    let Some(host) = os::host("a_call_through_the_embedded_relay") else {
        return;
    };
    let site = Site::new("call-emb", 35200, (42000, 42099));
    let cfg = os::render_example(&host, &site, "");
    let mut run = os::start(&host, &site, &cfg);
    let sock = site.control_socket();
    assert!(
        os::wait_until(Duration::from_secs(15), || sock.exists()),
        "relay not up; log:\n{}",
        run.log_text()
    );
    let c = establish(&site, (42000, 42099), true);
    c.media(&sock);
    // while the call is up, OpenSIPS's own tools show it: MI and statistics
    let sessions = os::mi(&site, &os::mi_name(&host, "sessions"), "{}").expect("MI sessions");
    assert!(
        sessions.contains("\"call_id\":\"call-36200\""),
        "{sessions}"
    );
    assert!(
        sessions.contains("\"caller_codec\":\"G711u\""),
        "{sessions}"
    );
    let stats = os::statistics(&site);
    let stat = |name: &str| os::stat(&stats, name);
    assert_eq!(stat("active_sessions"), 1, "{stats}");
    assert_eq!(stat("ports_in_use"), 4, "{stats}");
    assert!(stat("relayed_packets") >= 10, "{stats}");
    assert!(stat("control_requests") >= 2, "{stats}");
    c.bye(&sock);
    // the dialog's end (BYE) produced exactly one accounting line, with the call's counters
    let log = run.log_text();
    let acct: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("mediaproxy-acct: {\"call_id\":\"call-36200\""))
        .collect();
    assert_eq!(acct.len(), 1, "log:\n{log}");
    assert!(
        acct[0].contains("\"reason\":\"dialog ended\""),
        "{}",
        acct[0]
    );
    assert!(acct[0].contains("\"streams\":1"), "{}", acct[0]);
    for side in ["caller_packets", "callee_packets"] {
        assert!(
            acct[0].contains(&format!("\"{side}\":5,"))
                || acct[0].contains(&format!("\"{side}\":6,")),
            "{side} in {}",
            acct[0]
        );
    }
    run.terminate();
    assert!(run.wait_exit(Duration::from_secs(20)).is_some());
    let log = run.log_text();
    assert!(
        !log.contains("ERROR:mediaproxy") && !log.contains("CRITICAL"),
        "{log}"
    );
}

struct RelayBin(Child);
impl Drop for RelayBin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_call_through_an_external_relay() {
    let Some(host) = os::host("a_call_through_an_external_relay") else {
        return;
    };
    let site = Site::new("call-ext", 35300, (42100, 42199));
    let sock = site.dir.join("external.sock");
    let _relay = RelayBin(
        Command::new(env!("CARGO_BIN_EXE_mediaproxy-relay"))
            .arg("--socket")
            .arg(&sock)
            .args(["--listen-ip", "127.0.0.1", "--port-range", "42200-42299"])
            .args(["--threads", "1", "--max-seconds", "120"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mediaproxy-relay"),
    );
    assert!(os::wait_until(Duration::from_secs(10), || sock.exists()));
    let extra = format!(
        "modparam(\"mediaproxy\", \"relay_mode\", \"external\")\n\
         modparam(\"mediaproxy\", \"mediaproxy_socket\", \"{}\")",
        sock.display()
    );
    let cfg = os::render_example(&host, &site, &extra);
    let mut run = os::start(&host, &site, &cfg);
    // no relay process of our own in external mode
    assert!(os::wait_until(Duration::from_secs(10), || {
        run.log_text().contains("INFO:mediaproxy:mod_init")
    }));
    std::thread::sleep(Duration::from_millis(500));
    let children = os::children_of(run.child.id());
    assert!(
        children.iter().all(|&p| os::thread_count(p) < 4),
        "a relay process was started in external mode"
    );
    call(&site, &sock, (42200, 42299));
    run.terminate();
    assert!(run.wait_exit(Duration::from_secs(20)).is_some());
    assert!(
        sock.exists(),
        "the external relay's socket is not ours to remove"
    );
}
