//! mediaproxy.so inside a real Kamailio 5.6 (`--features kamailio`): the example config passes
//! `kamailio -c`, the module runs with its relay process and threads, the control socket
//! answers, SIGTERM leaves no process and no socket file, every bad modparam value stops
//! start-up with our message, a call goes through with its media relayed, a media timeout ends
//! the dialog from the relay process, the statistics are Kamailio counters with live values
//! during a call, `event_route[mediaproxy:session-end]` runs with the session's fields, and the
//! shared object exports exactly what Kamailio's
//! loader reads.
//!
//! Needs a Kamailio binary (`KAMAILIO_BIN` or `PATH`): the tests are `#[ignore]`d, and
//! `scripts/test.sh` includes them when there is one.
#![cfg(feature = "kamailio")]

mod support;

use std::process::Command;
use std::time::Duration;

use support::kamailio as kam;
use support::process::{
    check_config, each_bad_param_stops_startup, relay_processes, stop_cleanly, wait_until, Running,
    Site,
};
use support::sipcall::{call, establish, recv_sip, try_ask};

/// Kamailio running the example config (plus `extra` modparam lines) in a site of its own,
/// once its relay answers on the control socket.
fn relay_running(test: &str, port: u16, range: (u16, u16), extra: &str) -> (Site, Running) {
    let host = kam::host(test);
    let site = Site::new(&format!("kam-{port}"), port, range);
    let cfg = kam::render_example(&host, &site, extra);
    let run = kam::start(&host, &site, &cfg);
    let sock = site.control_socket();
    let up = wait_until(Duration::from_secs(15), || {
        try_ask(&sock, "summary").is_ok_and(|l| l.starts_with('['))
    });
    assert!(up, "the relay never answered; log:\n{}", run.log_text());
    (site, run)
}

/// Our log lines are free of errors and critical ones.
fn no_errors(log: &str) {
    for bad in [
        "ERROR: mediaproxy",
        "CRITICAL: mediaproxy",
        "BUG: mediaproxy",
    ] {
        assert!(!log.contains(bad), "{bad} in the log:\n{log}");
    }
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn example_config_passes_config_check() {
    let host = kam::host("example_config_passes_config_check");
    let site = Site::new("kam-cfgcheck", 35400, (43000, 43099));
    let out = check_config(&host.bin, &kam::render_example(&host, &site, ""));
    let text = [out.stdout, out.stderr].concat();
    let text = String::from_utf8_lossy(&text);
    assert!(out.status.success(), "kamailio -c failed:\n{text}");
    assert!(text.contains("config file ok"), "{text}");
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn runs_the_relay_process_and_stops_cleanly() {
    let test = "runs_the_relay_process_and_stops_cleanly";
    let (site, mut run) = relay_running(test, 35402, (43000, 43099), "");
    let sock = site.control_socket();
    let summary = try_ask(&sock, "summary").expect("summary");
    assert!(summary.ends_with("\r\n"), "one line: {summary:?}");
    let json: serde_json::Value = serde_json::from_str(summary.trim_end()).expect("JSON");
    assert_eq!(json[0]["session_count"], 0, "{summary}");
    assert_eq!(json[0]["ports_free"], 100, "{summary}");

    let (children, relays) = relay_processes(run.child.id());
    assert_eq!(relays.len(), 1, "one relay process among {children:?}");

    // RPC (kamcmd over the ctl module): the session is listed, then ended by Call-ID
    let _conn = support::process::raw_update(&sock, "rpc-1");
    let (ok, sessions) = kam::kamcmd(&site, &["mediaproxy.sessions"]);
    assert!(ok && sessions.contains("call_id: rpc-1"), "{sessions}");
    assert!(sessions.contains("streams:"), "{sessions}");
    let (ok, summary) = kam::kamcmd(&site, &["mediaproxy.summary"]);
    assert!(ok && summary.contains("session_count: 1"), "{summary}");
    let (ok, ended) = kam::kamcmd(&site, &["mediaproxy.terminate", "rpc-1"]);
    assert!(ok && ended.contains("ended: 1"), "{ended}");
    // (kamcmd prints a fault and exits 0)
    let (_, missing) = kam::kamcmd(&site, &["mediaproxy.terminate", "rpc-1"]);
    assert!(
        missing.contains("error: 404 - no media session"),
        "{missing}"
    );
    let (_, bare) = kam::kamcmd(&site, &["mediaproxy.terminate"]);
    assert!(bare.contains("error: 400 - the Call-ID"), "{bare}");
    let (ok, summary) = kam::kamcmd(&site, &["mediaproxy.summary"]);
    assert!(ok && summary.contains("session_count: 0"), "{summary}");
    let (ok, list) = kam::kamcmd(&site, &["system.listMethods"]);
    assert!(ok && list.contains("mediaproxy.terminate"), "{list}");

    let log = stop_cleanly(&mut run, &children, &sock);
    assert!(
        log.contains("INFO: mediaproxy: mod_init(): mediaproxy.so"),
        "{log}"
    );
    assert!(log.contains("stopping the media relay"), "{log}");
    no_errors(&log);
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn every_bad_modparam_stops_startup_with_a_clear_line() {
    let host = kam::host("every_bad_modparam_stops_startup_with_a_clear_line");
    each_bad_param_stops_startup("ERROR: mediaproxy: mod_init(): ", |i, line| {
        let site = Site::new(
            &format!("kam-badparam{i}"),
            35410 + i as u16,
            (43200, 43299),
        );
        let cfg = kam::render_example(&host, &site, line);
        (kam::start(&host, &site, &cfg), site)
    });
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn a_call_through_the_embedded_relay() {
    let test = "a_call_through_the_embedded_relay";
    let (site, mut run) = relay_running(test, 35450, (43100, 43199), "");
    call(&site, &site.control_socket(), (43100, 43199));
    let (children, _) = relay_processes(run.child.id());
    no_errors(&stop_cleanly(&mut run, &children, &site.control_socket()));
}

/// The value of `group:name = value` in `kamcmd stats.get_statistics` output.
fn stat(text: &str, name: &str) -> u64 {
    let key = format!("mediaproxy:{name} = ");
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix(key.as_str()).map(str::to_string))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"));
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{key}{line}"))
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn counters_and_the_session_end_route_during_a_call() {
    // the statistics as Kamailio counters, read during the call and after it; the example
    // config's session-end event route logs every field of the ended session through $mpx(...)
    let test = "counters_and_the_session_end_route_during_a_call";
    let extra = "loadmodule \"counters.so\"";
    let (site, mut run) = relay_running(test, 35470, (43400, 43499), extra);
    let sock = site.control_socket();
    let (ok, before) = kam::kamcmd(&site, &["stats.get_statistics", "mediaproxy:"]);
    assert!(ok, "{before}");
    assert_eq!(stat(&before, "active_sessions"), 0, "{before}");
    assert_eq!(stat(&before, "relayed_packets"), 0, "{before}");
    assert_eq!(stat(&before, "ports_free"), 100, "{before}");
    // every statistic of the module is a counter of the group (the counters module's cnt.*)
    let (ok, names) = kam::kamcmd(&site, &["cnt.var_list", "mediaproxy"]);
    assert!(ok, "{names}");
    for name in [
        "active_sessions",
        "relayed_bytes",
        "control_requests",
        "natpings_sent",
    ] {
        assert!(names.contains(name), "{name} not in {names}");
    }

    let c = establish(&site, (43400, 43499), true);
    c.ack();
    c.media(&sock);
    let (ok, during) = kam::kamcmd(&site, &["stats.get_statistics", "mediaproxy:"]);
    assert!(ok, "{during}");
    assert_eq!(stat(&during, "active_sessions"), 1, "{during}");
    assert_eq!(stat(&during, "active_streams"), 1, "{during}");
    assert_eq!(stat(&during, "created_sessions"), 1, "{during}");
    assert_eq!(stat(&during, "ports_in_use"), 4, "{during}");
    assert_eq!(stat(&during, "ports_free"), 96, "{during}");
    assert!(stat(&during, "control_requests") >= 2, "{during}");
    // 5 packets each way, each side's first (latching) one maybe more; the relay's workers
    // publish their counts in batches, so wait for them
    let relayed = wait_until(Duration::from_secs(5), || {
        let (_, t) = kam::kamcmd(&site, &["stats.get_statistics", "mediaproxy:"]);
        (10..=12).contains(&stat(&t, "relayed_packets")) && stat(&t, "relayed_bytes") >= 10 * 12
    });
    let (_, now) = kam::kamcmd(&site, &["stats.get_statistics", "mediaproxy:"]);
    assert!(relayed, "{now}");
    // one counter, through the counters API's own command
    let (ok, one) = kam::kamcmd(&site, &["cnt.get", "mediaproxy", "active_sessions"]);
    assert!(ok && one.trim() == "1", "{one}");
    let sessions = try_ask(&sock, "sessions").expect("sessions");

    c.bye(&sock);
    const END: &str = "mediaproxy session end: ";
    let ended = wait_until(Duration::from_secs(5), || run.log_text().contains(END));
    let log = run.log_text();
    assert!(ended, "no session-end route ran:\n{log}");
    let line = log.lines().find(|l| l.contains(END)).unwrap_or_default();
    // "name=value" separated by spaces; the reason (which may hold spaces) comes last
    let value = |f: &str| {
        let key = format!(" {f}=");
        let at = line.find(&key).unwrap_or_else(|| panic!("{f}: {line}")) + key.len();
        let rest = &line[at..];
        let end = if f == "reason" {
            rest.len()
        } else {
            rest.find(' ').unwrap_or(rest.len())
        };
        rest[..end].trim_end().to_string()
    };
    assert_eq!(value("call_id"), format!("call-{}", c.base), "{line}");
    assert_eq!(value("from_tag"), "a1", "{line}");
    assert_eq!(value("to_tag"), "b1", "{line}");
    assert!(
        ["bye", "dialog ended"].contains(&value("reason").as_str()),
        "{line}"
    );
    assert_eq!(value("caller_codec"), "G711u", "{line}");
    assert_eq!(value("callee_codec"), "G711u", "{line}");
    assert_eq!(value("streams"), "1", "{line}");
    assert_eq!(value("timed_out"), "0", "{line}");
    // the packet counts are the relay's own for the session
    let json: serde_json::Value = serde_json::from_str(sessions.trim_end()).expect("sessions JSON");
    let stream = &json[0]["streams"][0];
    for (field, key) in [
        ("caller_packets", "caller_packets"),
        ("callee_packets", "callee_packets"),
    ] {
        let n: u64 = value(field).parse().expect(field);
        assert!(
            n >= stream[key].as_u64().expect(key),
            "{field} {n} < {stream}"
        );
        assert!((5..=6).contains(&n), "{line}");
    }
    for f in ["caller_bytes", "callee_bytes"] {
        assert!(value(f).parse::<u64>().expect(f) >= 5 * 12, "{line}");
    }
    assert_eq!(log.matches(END).count(), 1, "once per session:\n{log}");

    let (_, after) = kam::kamcmd(&site, &["stats.get_statistics", "mediaproxy:"]);
    assert_eq!(stat(&after, "active_sessions"), 0, "{after}");
    assert_eq!(stat(&after, "ended_sessions"), 1, "{after}");
    // (freed ports rest a while before they count as free again)
    assert_eq!(stat(&after, "ports_in_use"), 0, "{after}");
    assert!(stat(&after, "relayed_packets") >= 10, "{after}");
    let (children, _) = relay_processes(run.child.id());
    no_errors(&stop_cleanly(&mut run, &children, &sock));
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn a_media_timeout_ends_the_dialog_from_the_relay_process() {
    // no media at all: the relay ends the session after setup_timeout (1 s) and the relay
    // process asks the dialog module to end the call; its BYEs reach both user agents behind
    // "NAT" (private Contacts) because fix_contact pointed the parsed Contacts, which the
    // dialog module keeps, at their real addresses
    let test = "a_media_timeout_ends_the_dialog_from_the_relay_process";
    let extra = "modparam(\"mediaproxy\", \"setup_timeout\", 1)\n\
                 modparam(\"mediaproxy\", \"media_timeout\", 1)";
    let (site, mut run) = relay_running(test, 35460, (43300, 43399), extra);
    let c = establish(&site, (43300, 43399), true);
    c.ack();
    for (who, ua) in [("callee", &c.callee), ("caller", &c.caller)] {
        let bye = recv_sip(ua, "BYE ");
        assert!(bye.contains(&format!("call-{}", c.base)), "{who}: {bye}");
    }
    let (children, _) = relay_processes(run.child.id());
    let log = stop_cleanly(&mut run, &children, &site.control_socket());
    assert!(
        log.contains("ended dialog call-36460 (media timeout)"),
        "{log}"
    );
    assert_eq!(
        // the example's session-end route, run in the relay process
        log.matches("session end: call_id=call-36460 ").count(),
        1,
        "{log}"
    );
    assert!(log.contains("timed_out=1 reason=media timeout"), "{log}");
    no_errors(&log);
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn exports_only_what_the_loader_reads() {
    let host = kam::host("exports_only_what_the_loader_reads");
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&host.module_so)
        .output()
        .expect("run nm");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names, ["exports", "module_flags", "module_version"]);
}
