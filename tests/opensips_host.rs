//! mediaproxy.so inside a real OpenSIPS: the example config passes `opensips -c`, the module
//! runs with its relay process and threads, the control socket answers, a clean stop leaves
//! nothing behind, and every bad modparam value stops start-up with our message.
//!
//! Needs an OpenSIPS binary (`OPENSIPS_BIN` or `PATH`); without one each test says SKIPPED.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use support::opensips::{self as os, ask, Site};

#[test]
fn example_config_passes_config_check() {
    let Some(host) = os::host("example_config_passes_config_check") else {
        return;
    };
    let site = Site::new("cfgcheck", 35060, (41000, 41099));
    let cfg = os::render_example(&host, &site, "");
    let out = os::check_config(&host, &cfg);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "opensips -c failed:\n{text}");
}

#[test]
fn runs_the_relay_process_and_stops_cleanly() {
    let Some(host) = os::host("runs_the_relay_process_and_stops_cleanly") else {
        return;
    };
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
    let children = os::children_of(main_pid);
    assert!(!children.is_empty(), "no child processes");
    let relay = children.iter().copied().find(|&p| os::thread_count(p) >= 4);
    assert!(
        relay.is_some(),
        "no child with >= 4 threads among {:?} (threads: {:?})",
        children,
        children
            .iter()
            .map(|&p| os::thread_count(p))
            .collect::<Vec<_>>()
    );

    // statistics: every process reads the counters the relay process keeps in shared memory
    let stats = os::mi(
        &site,
        "get_statistics",
        "{\"statistics\":[\"mediaproxy:\"]}",
    )
    .expect("get_statistics");
    assert!(
        stats.contains("\"mediaproxy:active_sessions\":0"),
        "{stats}"
    );
    let mut s = UnixStream::connect(&sock).expect("control socket");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"update\r\ntype: request\r\ncall_id: stats-1\r\ncseq: 1\r\nfrom_uri: a@x\r\n\
          to_uri: b@x\r\nfrom_tag: ft\r\nto_tag: \r\nuser_agent: t\r\nsignaling_ip: 127.0.0.1\r\n\
          media: audio:127.0.0.1:4000:sendrecv:ice=no\r\n\r\n",
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(line.starts_with("127.0.0.1 "), "update answer: {line:?}");
    let stats = os::mi(
        &site,
        "get_statistics",
        "{\"statistics\":[\"mediaproxy:\"]}",
    )
    .expect("get_statistics");
    for want in [
        "\"mediaproxy:active_sessions\":1",
        "\"mediaproxy:created_sessions\":1",
        "\"mediaproxy:ports_in_use\":4",
    ] {
        assert!(stats.contains(want), "{want} not in {stats}");
    }

    // MI: the session is listed, then ended by Call-ID, which frees its ports
    let v40 = host.version.contains(" 4.0.");
    let name = |c: &str| {
        if v40 {
            format!("mediaproxy:{c}")
        } else {
            format!("mediaproxy_{c}")
        }
    };
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
    let stats = os::mi(
        &site,
        "get_statistics",
        "{\"statistics\":[\"mediaproxy:\"]}",
    )
    .expect("get_statistics");
    for want in [
        "\"mediaproxy:active_sessions\":0",
        "\"mediaproxy:ended_sessions\":1",
        "\"mediaproxy:ports_in_use\":0",
    ] {
        assert!(stats.contains(want), "{want} not in {stats}");
    }

    run.terminate();
    let code = run.wait_exit(Duration::from_secs(20));
    assert!(
        code.is_some(),
        "OpenSIPS did not stop; log:\n{}",
        run.log_text()
    );
    let leftover: Vec<u32> = children.iter().copied().filter(|&p| os::alive(p)).collect();
    assert!(leftover.is_empty(), "processes left behind: {leftover:?}");
    assert!(!sock.exists(), "control socket file left behind");
    let log = run.log_text();
    assert!(!log.contains("CRITICAL"), "log:\n{log}");
    assert!(!log.contains("was previously published"), "log:\n{log}");
    assert!(!log.contains("ERROR:mediaproxy"), "log:\n{log}");
    assert!(log.contains("INFO:mediaproxy:mod_init"), "log:\n{log}");
}

/// Each entry: the modparam line, and the message mod_init must log before start-up stops.
const BAD_PARAMS: &[(&str, &str)] = &[
    (
        r#"modparam("mediaproxy", "disable", 3)"#,
        r#"invalid value "3" for modparam "disable""#,
    ),
    (
        r#"modparam("mediaproxy", "mediaproxy_socket", "relative.sock")"#,
        r#"invalid value "relative.sock" for modparam "mediaproxy_socket""#,
    ),
    (
        r#"modparam("mediaproxy", "mediaproxy_timeout", 0)"#,
        r#"invalid value "0" for modparam "mediaproxy_timeout""#,
    ),
    (
        r#"modparam("mediaproxy", "signaling_ip_avp", "mp_ip")"#,
        r#"invalid value "mp_ip" for modparam "signaling_ip_avp""#,
    ),
    (
        r#"modparam("mediaproxy", "media_relay_avp", "$var(x)")"#,
        r#"invalid value "$var(x)" for modparam "media_relay_avp""#,
    ),
    (
        r#"modparam("mediaproxy", "ice_candidate", "medium")"#,
        r#"invalid value "medium" for modparam "ice_candidate""#,
    ),
    (
        r#"modparam("mediaproxy", "ice_candidate_avp", "$avp()")"#,
        r#"invalid value "$avp()" for modparam "ice_candidate_avp""#,
    ),
    (
        r#"modparam("mediaproxy", "sip_asymmetrics", "/nonexistent/sip")"#,
        r#"invalid value "/nonexistent/sip" for modparam "sip_asymmetrics""#,
    ),
    (
        r#"modparam("mediaproxy", "rtp_asymmetrics", "/nonexistent/rtp")"#,
        r#"invalid value "/nonexistent/rtp" for modparam "rtp_asymmetrics""#,
    ),
    (
        r#"modparam("mediaproxy", "natping_interval", -1)"#,
        r#"invalid value "-1" for modparam "natping_interval""#,
    ),
    (
        r#"modparam("mediaproxy", "relay_mode", "kernel")"#,
        r#"invalid value "kernel" for modparam "relay_mode""#,
    ),
    (
        r#"modparam("mediaproxy", "listen_ip", "relay.example.com")"#,
        r#"invalid value "relay.example.com" for modparam "listen_ip""#,
    ),
    (
        r#"modparam("mediaproxy", "advertised_ip", "300.1.1.1")"#,
        r#"invalid value "300.1.1.1" for modparam "advertised_ip""#,
    ),
    (
        r#"modparam("mediaproxy", "port_range", "40001-50000")"#,
        r#"invalid value "40001-50000" for modparam "port_range""#,
    ),
    (
        r#"modparam("mediaproxy", "relay_threads", 0)"#,
        r#"invalid value "0" for modparam "relay_threads""#,
    ),
    (
        r#"modparam("mediaproxy", "setup_timeout", 0)"#,
        r#"invalid value "0" for modparam "setup_timeout""#,
    ),
    (
        r#"modparam("mediaproxy", "media_timeout", -5)"#,
        r#"invalid value "-5" for modparam "media_timeout""#,
    ),
    (
        r#"modparam("mediaproxy", "hold_timeout", 0)"#,
        r#"invalid value "0" for modparam "hold_timeout""#,
    ),
    (
        r#"modparam("mediaproxy", "learn_from_signaling_ip", 2)"#,
        r#"invalid value "2" for modparam "learn_from_signaling_ip""#,
    ),
];

#[test]
fn every_bad_modparam_stops_startup_with_a_clear_line() {
    let Some(host) = os::host("every_bad_modparam_stops_startup_with_a_clear_line") else {
        return;
    };
    let mut failures = Vec::new();
    for (i, (line, expected)) in BAD_PARAMS.iter().enumerate() {
        let site = Site::new(&format!("badparam{i}"), 35100 + i as u16, (41200, 41299));
        let cfg = os::render_example(&host, &site, line);
        let mut run = os::start(&host, &site, &cfg);
        let code = run.wait_exit(Duration::from_secs(15));
        let log = run.log_text();
        let wanted = format!("ERROR:mediaproxy:mod_init: {expected}");
        if code.is_none() || code == Some(0) || !log.contains(&wanted) {
            failures.push(format!(
                "{line}: exit {code:?}, wanted {wanted:?}; log:\n{log}"
            ));
        }
        let _ = std::fs::remove_dir_all(&site.dir);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
