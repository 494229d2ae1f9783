//! `mediaproxy-relay --dispatcher` as a process: it connects to a dispatcher over TLS, serves
//! calls, drains on SIGTERM (new sessions refused with `halting`, the running call relayed
//! until its `remove`, then a clean exit), and a relay killed outright is noticed and its
//! sessions reported lost. Also its refusals of incomplete or unreadable TLS settings.

mod common;
mod remote;

use common::eventually;
use mediaproxy::remote::dispatcher::RelayState;
use mediaproxy::remote::tls::TlsFiles;
use remote::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn spawn_relay(files: &TlsFiles, dispatcher: std::net::SocketAddr, ports: &str) -> Proc {
    spawn_relay_with(files, dispatcher, ports, &[])
}

fn spawn_relay_with(
    files: &TlsFiles,
    dispatcher: std::net::SocketAddr,
    ports: &str,
    extra: &[&str],
) -> Proc {
    Command::new(env!("CARGO_BIN_EXE_mediaproxy-relay"))
        .args(relay_args(
            files,
            &dispatcher.to_string(),
            "127.0.0.1",
            ports,
            120,
        ))
        .args(extra)
        .stdin(Stdio::null())
        .spawn()
        .map(Proc)
        .expect("mediaproxy-relay starts")
}

#[test]
fn sigterm_drains_and_a_killed_relay_is_noticed() {
    let pki = Pki::new("proc");
    let mut d = dispatcher(&pki, Duration::from_secs(2));
    let addr = d.listen_addr().unwrap();
    let mut a = spawn_relay(&pki.issue("relay-a"), addr, "48700-48799");
    let mut b = spawn_relay(&pki.issue("relay-b"), addr, "48800-48899");
    wait_state(&mut d, "relay-a", RelayState::Active);
    wait_state(&mut d, "relay-b", RelayState::Active);

    let running = call(&mut d, "proc-running", "relay-a");
    media_flows(&running);
    let on_b = call(&mut d, "proc-on-b", "relay-b");
    media_flows(&on_b);

    signal(&a, "-TERM");
    // it keeps relaying; new sessions go to relay-b even when relay-a is asked for
    assert!(eventually(WAIT, || {
        summary(&mut d)
            .iter()
            .any(|r| r["relay"] == "relay-a" && r["status"] == "halting")
    }));
    let c = call(&mut d, "proc-new", "relay-a");
    media_flows(&c);
    assert_eq!(state_of(&mut d, "relay-a"), Some(RelayState::Halting));
    media_flows(&running);
    assert!(a.0.try_wait().unwrap().is_none(), "relay-a still runs");
    assert!(remove(&mut d, "proc-running").starts_with("removed {"));
    let st = wait_exit(&mut a.0, WAIT).expect("relay-a exits once drained");
    assert!(st.success(), "{st:?}");
    wait_state(&mut d, "relay-a", RelayState::Disconnected);
    assert!(
        d.take_ended().is_empty(),
        "nothing lost with the drained relay"
    );

    // relay-b killed outright: noticed, its two sessions reported lost
    b.0.kill().unwrap();
    let _ = b.0.wait();
    wait_state(&mut d, "relay-b", RelayState::Disconnected);
    let lost = d.take_ended();
    assert_eq!(lost.len(), 2, "{lost:?}");
    assert_eq!(remove(&mut d, "proc-on-b"), "error");
    assert!(try_call(&mut d, "proc-nowhere", "").is_err());
}

#[test]
fn a_session_that_times_out_on_the_relay_is_reported_to_the_dispatcher() {
    let pki = Pki::new("proc-exp");
    let mut d = dispatcher(&pki, Duration::from_secs(2));
    let addr = d.listen_addr().unwrap();
    let r = spawn_relay_with(
        &pki.issue("relay-t"),
        addr,
        "48910-48949",
        &["--setup-timeout", "1", "--media-timeout", "1"],
    );
    wait_state(&mut d, "relay-t", RelayState::Active);
    call(&mut d, "proc-silent", ""); // no media: ends by the setup timeout
    let mut ended = Vec::new();
    assert!(eventually(WAIT, || {
        ended.extend(d.take_ended());
        !ended.is_empty()
    }));
    assert_eq!(ended[0].call_id, "proc-silent");
    assert_eq!(ended[0].relay, "relay-t");
    assert!(ended[0].stats_json.contains("\"call_id\":\"proc-silent\""));
    assert_eq!(remove(&mut d, "proc-silent"), "error");
    drop(r);
}

#[test]
fn incomplete_or_unreadable_tls_settings_are_refused() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mediaproxy-relay"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--dispatcher", "127.0.0.1:1", "--cert", "/x/c.pem"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--dispatcher needs --key"), "{err}");
    let (code, err) = run(&["--socket", "/tmp/x.sock", "--ca", "/x/ca.pem"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("go with --dispatcher"), "{err}");
    let (code, err) = run(&[
        "--dispatcher",
        "127.0.0.1:1",
        "--cert",
        "/nonexistent/c.pem",
        "--key",
        "/nonexistent/k.pem",
        "--ca",
        "/nonexistent/ca.pem",
        "--port-range",
        "48900-48909",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("/nonexistent/"), "{err}");
}

/// The certificates made by the documentation's `openssl` commands (run as written, from
/// doc/mediaproxy.md) work: a relay process with `relay1`'s connects to a dispatcher with the
/// proxy's and takes a call.
#[test]
fn the_documented_openssl_certificates_work() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("doc/mediaproxy.md"),
    )
    .unwrap();
    let start = doc
        .find("With `openssl`")
        .expect("the openssl recipe in the doc");
    let block_start = doc[start..].find("```sh\n").unwrap() + start + "```sh\n".len();
    let block_end = doc[block_start..].find("```").unwrap() + block_start;
    let script = &doc[block_start..block_end];
    let dir = std::env::temp_dir().join(format!("mp-openssl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("sh")
        .args(["-e", "-c", script])
        .current_dir(&dir)
        .output()
        .expect("run sh (openssl is in scripts/deps.sh)");
    assert!(
        out.status.success(),
        "the doc's openssl commands failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = |name: &str| TlsFiles {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
        ca: dir.join("ca.pem"),
    };
    let mut d = mediaproxy::remote::dispatcher::Dispatcher::<
        mediaproxy::remote::dispatcher::NoLocal,
    >::start(
        mediaproxy::remote::dispatcher::DispatcherConfig {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            tls: files("proxy"),
            relay_timeout: Duration::from_secs(2),
            ..Default::default()
        },
        None,
    )
    .expect("the dispatcher takes the proxy's certificate");
    let addr = d.listen_addr().unwrap();
    let _r = spawn_relay(&files("relay1"), addr, "48950-48999");
    wait_state(&mut d, "relay1", RelayState::Active);
    let c = call(&mut d, "openssl-1", "");
    media_flows(&c);
    let _ = std::fs::remove_dir_all(&dir);
}
