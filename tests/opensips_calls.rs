//! Calls through a real OpenSIPS running `cfg-examples/opensips.cfg`, on 127.0.0.1: a callee
//! registers, a caller's INVITE reaches it with the SDP pointing at the relay, the 200 OK
//! reaches the caller likewise, RTP flows both ways through the relay, and the BYE frees the
//! ports. Once with the embedded relay, once with `relay_mode = "external"` driving the crate's
//! standalone relay binary (as an external MediaProxy dispatcher would be driven), and once
//! with OpenSIPS's own C mediaproxy module driving that binary (the relay is a drop-in for a
//! MediaProxy dispatcher).
//!
//! Needs an OpenSIPS binary (`OPENSIPS_BIN` or `PATH`): the tests are `#[ignore]`d, and
//! `scripts/test.sh` includes them when there is one.
//! The C-module test also needs that module built for the same OpenSIPS
//! (`MEDIAPROXY_C_MODULE=/path/to/modules/mediaproxy/mediaproxy.so`), else it is not run
//! (`#[ignore]`d; `scripts/test.sh` includes it when the variable is set).

#![cfg(not(feature = "kamailio"))]

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::opensips::{self as os, Site};
use support::sipcall::{call, establish, recv_sip, rtp, Call};

/// OpenSIPS running the example config at `site` with its embedded relay, and one call from a
/// NATed caller set up through it with RTP both ways.
fn call_with_media(test: &str, site: Site) -> (os::Host, Site, os::Running, Call) {
    let host = os::host(test);
    let cfg = os::render_example(&host, &site, "");
    let run = os::start(&host, &site, &cfg);
    let sock = site.control_socket();
    assert!(
        os::wait_until(Duration::from_secs(15), || sock.exists()),
        "relay not up; log:\n{}",
        run.log_text()
    );
    let c = establish(&site, site.port_range, true);
    c.media(&sock);
    (host, site, run, c)
}

/// Stops OpenSIPS (SIGTERM), asserts that it exits within 20 s, and returns its log.
fn stop(run: &mut os::Running) -> String {
    run.terminate();
    assert!(run.wait_exit(Duration::from_secs(20)).is_some());
    run.log_text()
}

/// An accounting line of a call after `Call::media`: 5 packets counted each way, 6 when the
/// side's first (latching) packet was relayed too.
fn assert_five_or_six_packets_each_way(acct: &str) {
    for side in ["caller_packets", "callee_packets"] {
        assert!(
            acct.contains(&format!("\"{side}\":5,")) || acct.contains(&format!("\"{side}\":6,")),
            "{side} in {acct}"
        );
    }
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn a_call_through_the_embedded_relay() {
    let (host, site, mut run, c) = call_with_media(
        "a_call_through_the_embedded_relay",
        Site::new("call-emb", 35200, (42000, 42099)),
    );
    let sock = site.control_socket();
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
    // the io_uring back end sends each side's RTP through a socket connected to it
    // (relay_connected_sockets, on by default); epoll has none
    let log = run.log_text();
    assert!(
        log.contains("I/O io_uring") || log.contains("I/O epoll"),
        "{log}"
    );
    let uring = log.contains("I/O io_uring");
    assert_eq!(
        stat("connected_sockets"),
        if uring { 2 } else { 0 },
        "io_uring: {uring}; {stats}"
    );
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
    assert_five_or_six_packets_each_way(acct[0]);
    let log = stop(&mut run);
    assert!(
        !log.contains("ERROR:mediaproxy") && !log.contains("CRITICAL"),
        "{log}"
    );
}

/// `mediaproxy:terminate` on a live call: the relay stops forwarding its media at once, its
/// ports are freed, and the session-end event runs the example's `event_route` exactly once,
/// with `"reason":"mi"` and the packets counted until then.
#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn mi_terminate_stops_the_media_of_a_live_call() {
    let (host, site, mut run, c) = call_with_media(
        "mi_terminate_stops_the_media_of_a_live_call",
        Site::new("call-miterm", 35340, (42700, 42799)),
    );
    let call_id = format!("call-{}", c.base);
    let ended = os::mi(
        &site,
        &os::mi_name(&host, "terminate"),
        &format!("{{\"callid\":\"{call_id}\"}}"),
    )
    .expect("MI terminate");
    assert!(ended.contains("\"ended\":1"), "{ended}");
    // the caller goes on sending to its relay port: nothing reaches the callee any more
    c.callee_rtp
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut got = 0;
    for seq in 100..110u16 {
        c.caller_rtp
            .send_to(&rtp(seq, 0xA), c.to_relay_from_caller)
            .unwrap();
        if c.callee_rtp.recv_from(&mut buf).is_ok() {
            got += 1;
        }
    }
    assert_eq!(got, 0, "media still relayed after MI terminate");
    let stats = os::statistics(&site);
    assert_eq!(os::stat(&stats, "active_sessions"), 0, "{stats}");
    assert_eq!(os::stat(&stats, "ports_in_use"), 0, "{stats}");
    let acct = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(&format!("mediaproxy-acct: {{\"call_id\":\"{call_id}\"")))
            .map(str::to_string)
            .collect()
    };
    assert!(
        os::wait_until(Duration::from_secs(5), || !acct(&run.log_text()).is_empty()),
        "no accounting line; log:\n{}",
        run.log_text()
    );
    // the BYE that follows finds no media session: still one accounting line
    c.caller
        .send_to(c.in_dialog("BYE", 2).as_bytes(), c.proxy)
        .unwrap();
    recv_sip(&c.callee, "BYE ");
    std::thread::sleep(Duration::from_millis(300));
    let lines = acct(&run.log_text());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("\"reason\":\"mi\""), "{}", lines[0]);
    assert_five_or_six_packets_each_way(&lines[0]);
    let log = stop(&mut run);
    assert!(!log.contains("CRITICAL"), "{log}");
}

struct RelayBin(Child);
impl Drop for RelayBin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_relay_bin(sock: &std::path::Path, range: (u16, u16)) -> RelayBin {
    let relay = RelayBin(
        Command::new(env!("CARGO_BIN_EXE_mediaproxy-relay"))
            .arg("--socket")
            .arg(sock)
            .args(["--listen-ip", "127.0.0.1", "--port-range"])
            .arg(format!("{}-{}", range.0, range.1))
            .args(["--threads", "1", "--max-seconds", "120"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mediaproxy-relay"),
    );
    assert!(os::wait_until(Duration::from_secs(10), || sock.exists()));
    relay
}

/// OpenSIPS's original C mediaproxy module (engage_media_proxy through the dialog module)
/// against the crate's standalone relay: the INVITE and the 200 OK are rewritten to the
/// relay's ports, RTP flows both ways through it, and the dialog's end removes the session.
#[test]
#[ignore = "needs OPENSIPS_BIN and MEDIAPROXY_C_MODULE (OpenSIPS's C mediaproxy.so)"]
fn the_c_mediaproxy_module_drives_our_relay() {
    let host = os::host("the_c_mediaproxy_module_drives_our_relay");
    let c_module = std::env::var_os("MEDIAPROXY_C_MODULE")
        .map(std::path::PathBuf::from)
        .expect("set MEDIAPROXY_C_MODULE to OpenSIPS's own mediaproxy.so built for this OpenSIPS");
    let site = Site::new("call-cmod", 35320, (42600, 42699));
    let sock = site.dir.join("dispatcher.sock");
    let _relay = start_relay_bin(&sock, (42600, 42699));
    let modules = [
        "proto_udp",
        "signaling",
        "sl",
        "tm",
        "rr",
        "maxfwd",
        "sipmsgops",
        "usrloc",
        "registrar",
        "dialog",
        "mi_fifo",
    ];
    let mut cfg = format!(
        "log_level=3\nstderror_enabled=yes\nsyslog_enabled=no\nudp_workers=2\n\
         socket=udp:127.0.0.1:{}\nmpath=\"{}/\"\n",
        site.sip_port,
        host.modules_dir.display()
    );
    for m in modules {
        cfg += &format!("loadmodule \"{m}.so\"\n");
    }
    cfg += &format!(
        "loadmodule \"{}\"\n\
         modparam(\"mi_fifo\", \"fifo_name\", \"{}\")\n\
         modparam(\"usrloc\", \"working_mode_preset\", \"single-instance-no-db\")\n\
         modparam(\"mediaproxy\", \"mediaproxy_socket\", \"{}\")\n\
         route {{\n\
           if (has_totag()) {{\n\
             if (loose_route()) {{ t_relay(); exit; }}\n\
             if (is_method(\"ACK\") && t_check_trans()) t_relay();\n\
             exit;\n\
           }}\n\
           if (is_method(\"REGISTER\")) {{ save(\"location\"); exit; }}\n\
           record_route();\n\
           if (is_method(\"INVITE\")) engage_media_proxy();\n\
           if (!lookup(\"location\")) {{ send_reply(404, \"Not Found\"); exit; }}\n\
           t_relay();\n\
         }}\n",
        c_module.display(),
        site.dir.join("fifo").display(),
        sock.display()
    );
    let cfg = site.write_cfg(&cfg);
    let mut run = os::start(&host, &site, &cfg);
    // up once mi_fifo (started with the other processes) has made its fifo
    let fifo = site.dir.join("fifo");
    assert!(
        os::wait_until(Duration::from_secs(10), || fifo.exists()),
        "OpenSIPS with the C module did not start; log:\n{}",
        run.log_text()
    );
    let c = support::sipcall::establish(&site, (42600, 42699), false);
    c.ack();
    c.media(&sock);
    c.bye(&sock);
    stop(&mut run);
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn a_call_through_an_external_relay() {
    let host = os::host("a_call_through_an_external_relay");
    let site = Site::new("call-ext", 35300, (42100, 42199));
    let sock = site.dir.join("external.sock");
    let _relay = start_relay_bin(&sock, (42200, 42299));
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
    stop(&mut run);
    assert!(
        sock.exists(),
        "the external relay's socket is not ours to remove"
    );
}
