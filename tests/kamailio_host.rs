//! mediaproxy.so inside a real Kamailio 5.6 (`--features kamailio`): the example config passes
//! `kamailio -c`, the module runs with its relay process and threads, the control socket
//! answers, SIGTERM leaves no process and no socket file, every bad modparam value stops
//! start-up with our message, a call goes through with its media relayed, a media timeout ends
//! the dialog from the relay process, and the shared object exports exactly what Kamailio's
//! loader reads.
//!
//! Needs a Kamailio binary (`KAMAILIO_BIN` or `PATH`): the tests are `#[ignore]`d, and
//! `scripts/test.sh` includes them when there is one.
#![cfg(feature = "kamailio")]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
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
    let mut s = UnixStream::connect(&sock).expect("control socket");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"update\r\ntype: request\r\ncall_id: rpc-1\r\ncseq: 1\r\nfrom_uri: a@x\r\n\
          to_uri: b@x\r\nfrom_tag: ft\r\nto_tag: \r\nuser_agent: t\r\nsignaling_ip: 127.0.0.1\r\n\
          media: audio:127.0.0.1:4000:sendrecv:ice=no\r\n\r\n",
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(line.starts_with("127.0.0.1 "), "update answer: {line:?}");
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
