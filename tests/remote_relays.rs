//! Remote relays over TLS on loopback: a dispatcher (the module's side, with no embedded
//! relay) and relay engines in this process, each connected through its uplink with its own
//! certificate. Certificates are generated per test.
//!
//! * sessions spread over the relays, `media_relay` picks one, media flows through the chosen
//!   relay; a killed relay takes no new session, its sessions are reported lost, a `remove` for
//!   one of them is answered `error`;
//! * a drained relay answers `halting` to new sessions, keeps its running session (re-INVITE,
//!   media) until `remove`, then reports itself drained;
//! * a relay or a dispatcher with a certificate from another CA is refused.

mod common;
mod remote;

use common::{audio, endpoint, eventually, update};
use mediaproxy::control::codec::{self, MessageType, Request, UpdateRequest};
use mediaproxy::control::server::Handler;
use mediaproxy::remote::dispatcher::RelayState;
use remote::*;
use std::time::Duration;

#[test]
fn sessions_spread_stick_and_survive_a_killed_relay() {
    let pki = Pki::new("spread");
    let mut d = dispatcher(&pki, Duration::from_secs(2));
    let addr = d.listen_addr().unwrap();
    let a = remote_relay("rr-spread-a", (48000, 48099), addr, pki.issue("relay-a"));
    let mut b = remote_relay("rr-spread-b", (48100, 48199), addr, pki.issue("relay-b"));
    wait_state(&mut d, "relay-a", RelayState::Active);
    wait_state(&mut d, "relay-b", RelayState::Active);

    // least loaded first, ties by name: a, b, a, b
    let calls: Vec<Call> = (0..4)
        .map(|i| call(&mut d, &format!("spread-{i}"), ""))
        .collect();
    assert_eq!((a.session_count(), b.session_count()), (2, 2));
    for c in &calls {
        media_flows(c);
    }
    // re-INVITE from the callee's side (its From-tag is our To-tag) stays on the same relay
    let reinvite = UpdateRequest {
        from_tag: "tt".into(),
        to_tag: "ft".into(),
        ..update(
            MessageType::Request,
            "spread-1",
            2,
            "tt",
            "ft",
            vec![audio(calls[1].callee.local_addr().unwrap())],
        )
    };
    let line = d.handle(Request::Update(reinvite));
    assert!(codec::parse_update_reply(&line, 1).is_ok(), "{line}");
    assert_eq!((a.session_count(), b.session_count()), (2, 2));
    // the same Call-ID with another From-tag is another session (and may go elsewhere)
    let fork = offer("spread-0", 1, &endpoint("127.0.0.2"), "");
    let fork = UpdateRequest {
        from_tag: "other".into(),
        ..fork
    };
    assert!(codec::parse_update_reply(&d.handle(Request::Update(fork)), 1).is_ok());
    assert_eq!(a.session_count() + b.session_count(), 5);

    // media_relay chooses, by name or by address
    assert_eq!((a.session_count(), b.session_count()), (3, 2));
    let pinned = call(&mut d, "spread-pinned", "relay-b");
    media_flows(&pinned);
    let by_address = call(&mut d, "spread-by-address", "127.0.0.1");
    media_flows(&by_address);
    assert_eq!((a.session_count(), b.session_count()), (4, 3));

    // sessions and summary cover both relays
    let sessions: serde_json::Value = serde_json::from_str(&d.handle(Request::Sessions)).unwrap();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 7);
    assert_eq!(
        sessions.iter().filter(|s| s["relay"] == "relay-b").count(),
        3
    );
    let sum = summary(&mut d);
    assert_eq!(sum.len(), 2, "{sum:?}");
    assert_eq!(sum[0]["relay"], "relay-a");
    assert_eq!(sum[0]["session_count"], 4);
    assert_eq!(sum[1]["session_count"], 3);
    assert_eq!(sum[1]["dispatcher"]["sessions"], 3);
    assert_eq!(sum[1]["status"], "active");

    // kill relay b: its link and its engine go away at once
    drop(b.uplink.take());
    drop(b);
    wait_state(&mut d, "relay-b", RelayState::Disconnected);
    let lost = d.take_ended();
    assert_eq!(lost.len(), 3, "{lost:?}");
    assert!(lost
        .iter()
        .all(|e| e.relay == "relay-b" && e.stats_json.is_empty()));
    // a session of the dead relay: error, at once
    assert_eq!(remove(&mut d, "spread-1"), "error");
    // new sessions go to the survivor, even when asked for the dead one
    let c = call(&mut d, "after-kill-1", "relay-b");
    media_flows(&c);
    call(&mut d, "after-kill-2", "");
    assert_eq!(a.session_count(), 6);
    let sum = summary(&mut d);
    assert_eq!(sum[1]["relay"], "relay-b");
    assert_eq!(sum[1]["status"], "disconnected");
    assert_eq!(sum[1]["relay_state"], "disconnected");
    assert_eq!(sum[1]["dispatcher"]["sessions_lost"], 3);
    // the survivor's sessions end normally, with their statistics
    let r = remove(&mut d, "spread-0");
    assert!(r.starts_with("removed {"), "{r}");
    assert_eq!(a.session_count(), 5);
    assert_eq!(remove(&mut d, "spread-0"), "error");
}

#[test]
fn drained_relay_keeps_its_session_until_remove() {
    let pki = Pki::new("drain");
    let mut d = dispatcher(&pki, Duration::from_secs(2));
    let addr = d.listen_addr().unwrap();
    let a = remote_relay("rr-drain-a", (48200, 48299), addr, pki.issue("relay-a"));
    let b = remote_relay("rr-drain-b", (48300, 48399), addr, pki.issue("relay-b"));
    wait_state(&mut d, "relay-a", RelayState::Active);
    wait_state(&mut d, "relay-b", RelayState::Active);

    let running = call(&mut d, "drain-running", "relay-a");
    assert_eq!(a.session_count(), 1);
    d.drain("relay-a").expect("drain accepted");
    assert!(a.uplink().is_draining());
    assert_eq!(state_of(&mut d, "relay-a"), Some(RelayState::Halting));
    // new sessions go elsewhere, even when relay-a is asked for
    call(&mut d, "drain-new", "relay-a");
    assert_eq!((a.session_count(), b.session_count()), (1, 1));
    // the running call keeps its media and takes a re-INVITE
    media_flows(&running);
    let line = d.handle(Request::Update(offer(
        "drain-running",
        2,
        &running.caller,
        "",
    )));
    assert!(codec::parse_update_reply(&line, 1).is_ok(), "{line}");
    media_flows(&running);
    let sum = summary(&mut d);
    assert_eq!(sum[0]["relay"], "relay-a");
    assert_eq!(sum[0]["status"], "halting");
    assert_eq!(sum[0]["relay_state"], "halting");
    assert!(!a.uplink().is_drained());
    // a relay asked directly (as on SIGTERM) refuses new sessions with `halting` too
    b.uplink().drain();
    assert!(try_call(&mut d, "drain-nowhere", "").is_err());
    // the call ends: the relay is drained
    assert!(remove(&mut d, "drain-running").starts_with("removed"));
    assert!(eventually(WAIT, || a.uplink().is_drained()));
    assert!(!b.uplink().is_drained());
    assert!(remove(&mut d, "drain-new").starts_with("removed"));
    assert!(eventually(WAIT, || b.uplink().is_drained()));
}

#[test]
fn untrusted_certificates_are_refused_both_ways() {
    let pki = Pki::new("trust");
    let rogue = Pki::new("rogue");
    let mut d = dispatcher(&pki, Duration::from_secs(2));
    let addr = d.listen_addr().unwrap();
    // a relay whose certificate the dispatcher's CA did not issue
    let bad = remote_relay(
        "rr-trust-bad",
        (48400, 48449),
        addr,
        rogue.issue("relay-evil"),
    );
    assert!(eventually(WAIT, || d
        .take_logs()
        .iter()
        .any(|(_, t)| t.contains("refused: TLS handshake failed"))));
    // a relay that trusts another CA than the dispatcher's refuses the dispatcher
    let mut files = pki.issue("relay-picky");
    files.ca = rogue.ca_file.clone();
    let picky = remote_relay("rr-trust-picky", (48450, 48499), addr, files);
    assert!(eventually(WAIT, || picky.log.lock().unwrap().iter().any(
        |t| t.contains("cannot connect") && t.to_lowercase().contains("certificate")
    )));
    // the positive control: a relay with a good certificate is taken
    let good = remote_relay(
        "rr-trust-good",
        (48500, 48549),
        addr,
        pki.issue("relay-good"),
    );
    wait_state(&mut d, "relay-good", RelayState::Active);
    let names: Vec<String> = d.relays().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["relay-good"]);
    assert!(!bad.uplink().is_connected());
    assert!(!picky.uplink().is_connected());
    // the dispatcher may see the relay active a moment before the relay's uplink has finished
    // its side of the handshake
    assert!(eventually(WAIT, || good.uplink().is_connected()));
    call(&mut d, "trust-1", "");
    assert_eq!(good.session_count(), 1);
}

/// The module's relay process with remote relays: the front serves the control socket, the
/// embedded relay runs behind it on its private socket as relay `local`, a remote relay
/// connects; clients see one socket.
#[test]
fn the_front_serves_the_socket_with_the_embedded_relay_among_the_relays() {
    use mediaproxy::control::client::{Client, ClientConfig};
    use mediaproxy::relay::{Counters, Relay, RelayConfig};
    use mediaproxy::remote::dispatcher::DispatcherConfig;
    use mediaproxy::remote::front::{local_socket, Front};
    let pki = Pki::new("front");
    let dir = std::env::temp_dir().join(format!("mp-front-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let socket = dir.join("ctl.sock");
    let embedded = Relay::start(
        RelayConfig {
            listen_ip: "127.0.0.1".parse().unwrap(),
            port_min: 48950,
            port_max: 48999,
            threads: 1,
            port_quarantine: Duration::ZERO,
            ..RelayConfig::default()
        },
        &local_socket(&socket),
        Counters::leak(),
    )
    .expect("embedded relay starts");
    let cfg = DispatcherConfig {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        tls: pki.issue("dispatcher"),
        relay_timeout: Duration::from_secs(2),
        ..DispatcherConfig::default()
    };
    let front = Front::start(cfg.clone(), &socket, Some(embedded)).expect("front starts");
    let mut c = Client::new(ClientConfig {
        socket: socket.clone(),
        timeout: Duration::from_secs(5),
        retry_interval: Duration::ZERO,
    });
    let names = |c: &mut Client| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&c.command("summary").unwrap()).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["relay_state"] == "active")
            .map(|r| r["relay"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&mut c), ["local"]);
    let addr = front.listen_addr().expect("listening");
    let a = remote_relay("rr-front-a", (48900, 48949), addr, pki.issue("relay-a"));
    assert!(eventually(WAIT, || names(&mut c) == ["local", "relay-a"]));
    // least loaded, ties by name: local, relay-a, local, relay-a
    for i in 0..4 {
        let caller = endpoint("127.0.0.2");
        let ans = c
            .update(&offer(&format!("front-{i}"), 1, &caller, ""))
            .expect("answered");
        assert_eq!(ans.ports.len(), 1);
    }
    assert_eq!(a.session_count(), 2);
    let sessions: serde_json::Value =
        serde_json::from_str(&c.command("sessions").unwrap()).unwrap();
    let local = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["relay"] == "local")
        .count();
    assert_eq!(local, 2);
    assert!(c.remove("front-0", "ft", "").unwrap().is_some());
    assert!(c.remove("front-1", "ft", "").unwrap().is_some());
    front.shutdown();
    assert!(!socket.exists(), "the front removes its socket");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Media copies (recording) of a session go to the relay that holds the session: the copy's
/// ports are that relay's, and the copied media arrives from it. `tags` asks every relay.
#[test]
fn copies_go_to_the_relay_of_their_session() {
    use mediaproxy::control::copy::{CopyAction, CopyEntry, CopyRequest};
    let pki = Pki::new("copy");
    let mut d = dispatcher(&pki, Duration::from_secs(2));
    let addr = d.listen_addr().unwrap();
    let a = remote_relay("rr-copy-a", (48600, 48649), addr, pki.issue("relay-a"));
    let b = remote_relay("rr-copy-b", (48650, 48699), addr, pki.issue("relay-b"));
    wait_state(&mut d, "relay-a", RelayState::Active);
    wait_state(&mut d, "relay-b", RelayState::Active);
    let c = call(&mut d, "copy-1", "relay-b");
    let req = |action| CopyRequest {
        call_id: "copy-1".into(),
        from_tag: "ft".into(),
        to_tag: "tt".into(),
        copy_id: "rec".into(),
        action,
    };
    let caller_sends = CopyEntry {
        stream: 0,
        party: 0,
    };
    let line = d.handle(Request::Copy(req(CopyAction::Offer {
        entries: vec![caller_sends],
        paused: false,
    })));
    let offer = codec::parse_update_reply(&line, 1).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert!((48650..=48699).contains(&offer.ports[0]), "{line}");
    let sink = endpoint("127.0.0.4");
    let line = d.handle(Request::Copy(req(CopyAction::Answer {
        targets: vec![(caller_sends, Some(sink.local_addr().unwrap()))],
    })));
    assert_eq!(line, "ok");
    media_flows(&c);
    let (copied, from) = common::recv(&sink);
    assert_eq!(copied, b"from caller");
    assert_eq!(from.port(), offer.ports[0]);
    assert_eq!(d.handle(Request::Copy(req(CopyAction::Delete))), "removed");
    // the tags of a Call-ID's sessions (what MI terminate asks) come from the relays
    assert_eq!(
        d.handle(Request::Tags {
            call_id: "copy-1".into()
        }),
        r#"[["ft","tt"]]"#
    );
    assert_eq!(
        d.handle(Request::Tags {
            call_id: "nobody".into()
        }),
        "[]"
    );
    let unknown = CopyRequest {
        call_id: "nobody".into(),
        ..req(CopyAction::Delete)
    };
    assert_eq!(d.handle(Request::Copy(unknown)), "error");
    assert_eq!((a.session_count(), b.session_count()), (0, 1));
}
