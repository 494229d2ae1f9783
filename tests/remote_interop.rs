//! Interoperation with MediaProxy, through doubles written from its protocol (its `relay.py`
//! and `dispatcher.py`: the original packages are in no registry this project can install
//! from):
//!
//! * a relay that does not answer is skipped within `relay_timeout` and used again once heard
//!   from;
//! * an original relay's replies (`<ip> <port>`, statistics JSON for `remove`, a summary
//!   object, `error` to the unknown `drain`) are understood;
//! * our relay's uplink serves a dispatcher speaking the original protocol: sequence numbers,
//!   JSON statistics for `remove`, `error` for an unknown command, keep-alives, and a new
//!   connection after 3 unanswered pings.

mod common;
mod remote;

use common::{endpoint, eventually, TestRelay};
use mediaproxy::control::codec::{self, RemoveRequest, Request, UpdateRequest};
use mediaproxy::control::server::Handler;
use mediaproxy::remote::dispatcher::RelayState;
use mediaproxy::remote::tls::{self, TlsFiles, TlsStream};
use mediaproxy::remote::uplink::{Uplink, UplinkConfig};
use mediaproxy::remote::wire::Lines;
use remote::*;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A relay as MediaProxy's: connects, then answers by a script; counts the updates it got.
fn relay_double(
    addr: SocketAddr,
    files: TlsFiles,
    mut answer: impl FnMut(&str) -> Option<String> + Send + 'static,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<String>> {
    let cfg = tls::client_config(&files).unwrap();
    std::thread::spawn(move || {
        let sock = TcpStream::connect(addr).unwrap();
        let mut s = TlsStream::connect(sock, cfg, "127.0.0.1").unwrap();
        s.handshake(Instant::now() + WAIT).unwrap();
        let mut commands = Vec::new();
        let mut lines = Lines::new(1 << 20);
        let mut block: Vec<String> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stop.load(std::sync::atomic::Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            if !s.read_some().unwrap_or(false) {
                break;
            }
            lines.push(&s.take_input());
            while let Some(Ok(l)) = lines.next_line() {
                if !l.is_empty() {
                    block.push(l);
                    continue;
                }
                let first = block.first().cloned().unwrap_or_default();
                block.clear();
                commands.push(first.clone());
                let (cmd, seq) = first.split_once(' ').unwrap_or((&first, ""));
                if cmd == "pong" {
                    continue;
                }
                if let Some(payload) = answer(cmd) {
                    s.send(format!("{seq} {payload}\r\n").as_bytes()).unwrap();
                }
            }
            let _ = s.flush();
        }
        commands
    })
}

#[test]
fn a_silent_relay_is_skipped_and_taken_back_when_heard_from() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let pki = Pki::new("mute");
    let mut d = dispatcher(&pki, Duration::from_millis(300));
    let addr = d.listen_addr().unwrap();
    let a = remote_relay("rr-mute-a", (48550, 48599), addr, pki.issue("relay-a"));
    let stop = Arc::new(AtomicBool::new(false));
    // answers summary as MediaProxy's relay (one object), never answers update
    let mute = relay_double(
        addr,
        pki.issue("relay-mute"),
        |cmd| {
            match cmd {
            "summary" => Some(r#"{"ip":"127.0.0.9","version":"6.0.0","status":"active","uptime":1,"session_count":0,"stream_count":{},"bps_relayed":0}"#.into()),
            _ => None,
        }
        },
        stop.clone(),
    );
    wait_state(&mut d, "relay-a", RelayState::Active);
    wait_state(&mut d, "relay-mute", RelayState::Active);
    // asked for the silent relay: it times out, relay-a takes the call
    let c = call(&mut d, "mute-1", "relay-mute");
    media_flows(&c);
    assert_eq!(a.session_count(), 1);
    assert_eq!(
        state_of(&mut d, "relay-mute"),
        Some(RelayState::Unresponsive)
    );
    // not asked again while unresponsive
    call(&mut d, "mute-2", "relay-mute");
    assert_eq!(a.session_count(), 2);
    let info = d
        .relays()
        .into_iter()
        .find(|r| r.name == "relay-mute")
        .unwrap();
    assert_eq!(info.stats.timeouts, 1);
    // heard from again (its summary reply): active, and asked first again when named
    let sum = summary(&mut d);
    assert_eq!(sum[1]["relay"], "relay-mute");
    assert_eq!(sum[1]["ip"], "127.0.0.9");
    assert_eq!(state_of(&mut d, "relay-mute"), Some(RelayState::Active));
    call(&mut d, "mute-3", "relay-mute");
    assert_eq!(a.session_count(), 3);
    stop.store(true, Ordering::Release);
    let seen = mute.join().unwrap();
    assert_eq!(
        seen.iter().filter(|c| c.starts_with("update ")).count(),
        2,
        "{seen:?}"
    );
    wait_state(&mut d, "relay-mute", RelayState::Disconnected);
}

#[test]
fn original_relay_replies_are_understood() {
    use std::sync::atomic::AtomicBool;
    let pki = Pki::new("orig");
    let mut d = dispatcher(&pki, Duration::from_secs(2));
    let addr = d.listen_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // MediaProxy's relay: update → "<ip> <port>", remove → statistics JSON, then `expired`
    let double = relay_double(
        addr,
        pki.issue("relay-orig"),
        |cmd| match cmd {
            "update" => Some("127.0.0.9 50000".into()),
            "remove" => Some(r#"{"call_id":"o-1","from_tag":"ft","streams":[]}"#.into()),
            "sessions" => Some(r#"[{"call_id":"o-1","from_tag":"ft","streams":[]}]"#.into()),
            // the reply, then an unsolicited report of o-2's end (a media timeout)
            "summary" => Some(
                concat!(
                    r#"{"ip":"127.0.0.9","status":"active","session_count":2}"#,
                    "\r\n",
                    r#"expired {"call_id":"o-2","from_tag":"ft2","to_tag":"tt2","start_time":1.0,"#,
                    r#""streams":[{"media_type":"audio","status":"no-traffic timeout"}]}"#
                )
                .into(),
            ),
            _ => Some("error".into()),
        },
        stop.clone(),
    );
    wait_state(&mut d, "relay-orig", RelayState::Active);
    let caller = endpoint("127.0.0.2");
    let line = d.handle(Request::Update(offer("o-1", 1, &caller, "")));
    assert_eq!(line, "127.0.0.9 50000");
    let sessions: serde_json::Value = serde_json::from_str(&d.handle(Request::Sessions)).unwrap();
    assert_eq!(sessions[0]["relay"], "relay-orig");
    assert_eq!(sessions[0]["call_id"], "o-1");
    // plain `removed` unless the client asked for the statistics
    let plain = d.handle(Request::Remove(RemoveRequest {
        call_id: "o-1".into(),
        from_tag: "ft".into(),
        to_tag: String::new(),
        want_stats: false,
    }));
    assert_eq!(plain, "removed");
    // o-2 ends on the relay by itself: reported with its statistics and its dialog, forgotten
    let o2 = UpdateRequest {
        from_tag: "ft2".into(),
        dialog_id: "77".into(),
        ..offer("o-2", 1, &caller, "")
    };
    assert_eq!(d.handle(Request::Update(o2)), "127.0.0.9 50000");
    let sum: serde_json::Value = serde_json::from_str(&d.handle(Request::Summary)).unwrap();
    assert_eq!(sum[0]["session_count"], 2);
    assert_eq!(sum[0]["dispatcher"]["sessions"], 1);
    let mut ended = Vec::new();
    assert!(eventually(WAIT, || {
        ended.extend(d.take_ended());
        !ended.is_empty()
    }));
    assert_eq!(ended.len(), 1, "{ended:?}");
    let e = &ended[0];
    assert_eq!(
        (
            e.relay.as_str(),
            e.call_id.as_str(),
            e.from_tag.as_str(),
            e.dialog_id.as_str()
        ),
        ("relay-orig", "o-2", "ft2", "77")
    );
    assert!(e.stats_json.contains("no-traffic timeout"));
    assert!(!e.all_streams_ice);
    let gone = RemoveRequest {
        call_id: "o-2".into(),
        from_tag: "ft2".into(),
        to_tag: String::new(),
        want_stats: false,
    };
    assert_eq!(d.handle(Request::Remove(gone)), "error");
    // an original relay does not know `drain`: reported, nothing else changes
    assert!(d.drain("relay-orig").is_err());
    assert_eq!(state_of(&mut d, "relay-orig"), Some(RelayState::Active));
    stop.store(true, std::sync::atomic::Ordering::Release);
    let seen = double.join().unwrap();
    assert!(seen.iter().any(|c| c == "update 0"), "{seen:?}");
    assert!(seen.iter().any(|c| c.starts_with("remove ")), "{seen:?}");
}

/// MediaProxy's dispatcher reduced to a script: sends commands, reads the replies, answers
/// `ping` with `pong` until it stops doing so.
#[test]
fn our_relay_serves_a_dispatcher_speaking_the_original_protocol() {
    let pki = Pki::new("odisp");
    let server = tls::server_config(&pki.issue("dispatcher")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let relay = TestRelay::start("rr-odisp", (48600, 48699), |_| {});
    let (log, sink) = log_sink();
    let cfg = UplinkConfig {
        ping_interval: Duration::from_millis(200),
        reconnect_first: Duration::from_millis(100),
        ..UplinkConfig::new(
            addr.to_string(),
            pki.issue("relay-x"),
            relay.socket.clone(),
            sink,
        )
    };
    let uplink = Uplink::start(cfg).unwrap();
    let accept = |listener: &TcpListener| {
        let (sock, _) = listener.accept().unwrap();
        let mut s = TlsStream::accept(sock, server.clone()).unwrap();
        s.handshake(Instant::now() + WAIT).unwrap();
        s
    };
    let mut s = accept(&listener);
    let mut lines = Lines::new(1 << 22);
    let mut read_until = |s: &mut TlsStream, want: &dyn Fn(&str) -> bool, pong: bool| -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no such line from the relay");
            let _ = s.read_some();
            lines.push(&s.take_input());
            while let Some(Ok(l)) = lines.next_line() {
                if l == "ping" && pong {
                    s.send(b"pong\r\n").unwrap();
                }
                if want(&l) {
                    return l;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let caller = endpoint("127.0.0.2");
    let wire = format!(
        "update 0\r\ntype: request\r\ncall_id: od-1\r\ncseq: 1\r\nfrom_uri: a@x\r\nto_uri: b@y\r\nfrom_tag: ft\r\nto_tag: \r\nuser_agent: ua\r\nsignaling_ip: 127.0.0.2\r\nmedia: audio:{}:{}:sendrecv\r\n\r\n",
        caller.local_addr().unwrap().ip(),
        caller.local_addr().unwrap().port()
    );
    s.send(wire.as_bytes()).unwrap();
    let r = read_until(&mut s, &|l| l.starts_with("0 "), true);
    let (_, payload) = r.split_once(' ').unwrap();
    assert!(codec::parse_update_reply(payload, 1).is_ok(), "{r}");
    s.send(b"summary 1\r\n\r\nbogus 2\r\n\r\nremove 3\r\ncall_id: od-1\r\nfrom_tag: ft\r\n\r\n")
        .unwrap();
    let r = read_until(&mut s, &|l| l.starts_with("1 "), true);
    let v: serde_json::Value = serde_json::from_str(&r[2..]).unwrap();
    assert_eq!(v["session_count"], 1, "{r}");
    assert_eq!(
        read_until(&mut s, &|l| l.starts_with("2 "), true),
        "2 error"
    );
    let r = read_until(&mut s, &|l| l.starts_with("3 "), true);
    let v: serde_json::Value = serde_json::from_str(&r[2..]).unwrap();
    assert_eq!(v["call_id"], "od-1", "{r}");
    // keep-alives: pings keep coming while answered
    read_until(&mut s, &|l| l == "ping", true);
    // unanswered: after three the relay drops the link and connects again
    let deadline = Instant::now() + WAIT;
    let mut pings = 0;
    while pings < 3 && Instant::now() < deadline {
        read_until(&mut s, &|l| l == "ping", false);
        pings += 1;
    }
    let mut s2 = accept(&listener);
    assert!(eventually(WAIT, || uplink.is_connected()));
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|t| t.contains("keep-alives unanswered")));
    s2.send(b"sessions 0\r\n\r\n").unwrap();
    let mut lines2 = Lines::new(1 << 22);
    let deadline = Instant::now() + WAIT;
    let got = loop {
        assert!(Instant::now() < deadline, "no sessions reply");
        let _ = s2.read_some();
        lines2.push(&s2.take_input());
        if let Some(Ok(l)) = lines2.next_line() {
            if l.starts_with("0 ") {
                break l;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(got, "0 []");
    drop(uplink);
}
