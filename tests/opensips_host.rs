//! mediaproxy.so inside a real OpenSIPS: the example config passes `opensips -c`, the module
//! runs with its relay process and threads, the control socket answers, a clean stop leaves
//! nothing behind, and every bad modparam value stops start-up with our message.
//!
//! Needs an OpenSIPS binary (`OPENSIPS_BIN` or `PATH`): the tests are `#[ignore]`d, and
//! `scripts/test.sh` includes them when there is one.

#![cfg(not(feature = "kamailio"))]

mod support;

use std::time::Duration;

use support::opensips::{self as os, Site};
use support::process::{each_bad_param_stops_startup, relay_processes, stop_cleanly};
use support::sipcall::try_ask as ask;

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn example_config_passes_config_check() {
    let host = os::host("example_config_passes_config_check");
    let site = Site::new("cfgcheck", 35060, (41000, 41099));
    let cfg = os::render_example(&host, &site, "");
    let out = os::check_config(&host, &cfg);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "opensips -c failed:\n{text}");
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn runs_the_relay_process_and_stops_cleanly() {
    let host = os::host("runs_the_relay_process_and_stops_cleanly");
    let site = Site::new("run", 35062, (41100, 41199));
    let cfg = os::render_example(&host, &site, "");
    let mut run = os::start(&host, &site, &cfg);
    let main_pid = run.child.id();
    let sock = site.control_socket();

    let up = os::wait_until(Duration::from_secs(15), || {
        ask(&sock, "summary").is_ok_and(|l| l.starts_with('[') || l.starts_with('{'))
    });
    assert!(
        up,
        "control socket never answered; log:\n{}",
        run.log_text()
    );
    let summary = ask(&sock, "summary").expect("summary");
    assert!(summary.contains("session_count"), "summary: {summary}");

    // the relay process: a child of the attendant with the relay worker threads plus the
    // control thread plus its main thread (relay_threads = 2 in the example)
    let (children, relays) = relay_processes(main_pid);
    assert!(!relays.is_empty(), "no relay process among {children:?}");

    // statistics: every process reads the counters the relay process keeps in shared memory
    let stats = os::statistics(&site);
    assert_eq!(os::stat(&stats, "active_sessions"), 0, "{stats}");
    // the io_uring back end's counters are exported too (no packet yet: nothing re-armed)
    assert_eq!(os::stat(&stats, "io_uring_rearms"), 0, "{stats}");
    assert_eq!(os::stat(&stats, "io_uring_no_buffers"), 0, "{stats}");
    let _conn = support::process::raw_update(&sock, "stats-1");
    let stats = os::statistics(&site);
    assert_eq!(os::stat(&stats, "active_sessions"), 1, "{stats}");
    assert_eq!(os::stat(&stats, "created_sessions"), 1, "{stats}");
    assert_eq!(os::stat(&stats, "ports_in_use"), 4, "{stats}");

    // MI: the session is listed, then ended by Call-ID, which frees its ports
    let name = |c: &str| os::mi_name(&host, c);
    let sessions = os::mi(&site, &name("sessions"), "{}").expect("MI sessions");
    assert!(
        sessions.contains("\"call_id\":\"stats-1\"") && sessions.contains("\"streams\""),
        "{sessions}"
    );
    let summary = os::mi(&site, &name("summary"), "{}").expect("MI summary");
    assert!(summary.contains("\"session_count\":1"), "{summary}");
    let ended =
        os::mi(&site, &name("terminate"), "{\"callid\":\"stats-1\"}").expect("MI terminate");
    assert!(ended.contains("\"ended\":1"), "{ended}");
    // the session-end event ran the example's event_route: one JSON line for this session
    let acct = |log: &str| {
        log.lines()
            .filter(|l| l.contains("mediaproxy-acct: {\"call_id\":\"stats-1\""))
            .count()
    };
    assert!(
        os::wait_until(Duration::from_secs(5), || acct(&run.log_text()) == 1),
        "no accounting line; log:\n{}",
        run.log_text()
    );
    let log = run.log_text();
    assert!(log.contains("\"reason\":\"mi\",\"duration\":"), "{log}");
    let missing = os::mi(&site, &name("terminate"), "{\"callid\":\"nope\"}").expect("MI terminate");
    assert!(missing.contains("\"error\""), "{missing}");
    let stats = os::statistics(&site);
    assert_eq!(os::stat(&stats, "active_sessions"), 0, "{stats}");
    assert_eq!(os::stat(&stats, "ended_sessions"), 1, "{stats}");
    assert_eq!(os::stat(&stats, "ports_in_use"), 0, "{stats}");

    let log = stop_cleanly(&mut run, &children, &sock);
    assert!(!log.contains("CRITICAL"), "log:\n{log}");
    assert!(!log.contains("was previously published"), "log:\n{log}");
    assert!(!log.contains("ERROR:mediaproxy"), "log:\n{log}");
    assert!(log.contains("INFO:mediaproxy:mod_init"), "log:\n{log}");
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn every_bad_modparam_stops_startup_with_a_clear_line() {
    let host = os::host("every_bad_modparam_stops_startup_with_a_clear_line");
    each_bad_param_stops_startup("ERROR:mediaproxy:mod_init: ", |i, line| {
        let site = Site::new(&format!("badparam{i}"), 35100 + i as u16, (41200, 41299));
        let cfg = os::render_example(&host, &site, line);
        (os::start(&host, &site, &cfg), site)
    });
}
