//! Remote relays over TLS on loopback: a dispatcher (the module's side, with no embedded
//! relay) and `mediaproxy-relay` engines in this process, each connected through its uplink
//! with its own certificate. Certificates are generated per test.
//!
//! * sessions spread over the relays, `media_relay` picks one, media flows through the chosen
//!   relay; a killed relay takes no new session, its sessions are reported lost, a `remove` for
//!   one of them is answered `error`;
//! * a drained relay answers `halting` to new sessions, keeps its running session (re-INVITE,
//!   media) until `remove`, then reports itself drained;
//! * a relay or a dispatcher with a certificate from another CA is refused;
//! * a relay that does not answer is skipped within `relay_timeout` and used again once heard
//!   from (a double that speaks the link protocol as MediaProxy's relay does);
//! * our relay's uplink against a double of MediaProxy's dispatcher: sequence numbers, JSON
//!   statistics for `remove`, keep-alives, reconnection after 3 unanswered pings.

mod common;

use common::{audio, endpoint, eventually, recv, update, TestRelay};
use mediaproxy::control::codec::{self, MessageType, RemoveRequest, Request, UpdateRequest};
use mediaproxy::control::server::Handler;
use mediaproxy::remote::dispatcher::{Dispatcher, DispatcherConfig, NoLocal, RelayState};
use mediaproxy::remote::tls::{self, TlsFiles, TlsStream};
use mediaproxy::remote::uplink::{Uplink, UplinkConfig};
use mediaproxy::remote::wire::Lines;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

/// A CA in a temporary directory that issues certificates as PEM files.
struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
    ca_file: PathBuf,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("mp-pki-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, format!("{tag} test CA"));
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca = p.self_signed(&ca_key).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        Pki {
            dir,
            ca,
            ca_key,
            ca_file,
        }
    }

    /// A certificate named `cn`, trusting this CA.
    fn issue(&self, cn: &str) -> TlsFiles {
        let mut p = CertificateParams::new(vec![cn.to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let k = KeyPair::generate().unwrap();
        let c = p.signed_by(&k, &self.ca, &self.ca_key).unwrap();
        let cert = self.dir.join(format!("{cn}.pem"));
        let key = self.dir.join(format!("{cn}.key"));
        std::fs::write(&cert, c.pem()).unwrap();
        std::fs::write(&key, k.serialize_pem()).unwrap();
        TlsFiles {
            cert,
            key,
            ca: self.ca_file.clone(),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Log = Arc<Mutex<Vec<String>>>;

fn log_sink() -> (Log, mediaproxy::remote::uplink::LogFn) {
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    (
        log,
        Arc::new(move |level, text| {
            eprintln!("uplink {level:?}: {text}");
            l.lock().unwrap().push(text);
        }),
    )
}

/// A relay engine with its uplink to `dispatcher`.
struct RemoteRelay {
    uplink: Option<Uplink>,
    relay: TestRelay,
    log: Log,
}

fn remote_relay(
    tag: &str,
    ports: (u16, u16),
    dispatcher: SocketAddr,
    files: TlsFiles,
) -> RemoteRelay {
    let relay = TestRelay::start(tag, ports, |_| {});
    let (log, sink) = log_sink();
    let cfg = UplinkConfig {
        reconnect_first: Duration::from_millis(100),
        reconnect_max: Duration::from_millis(400),
        drain_check: Duration::from_millis(50),
        ..UplinkConfig::new(dispatcher.to_string(), files, relay.socket.clone(), sink)
    };
    let uplink = Uplink::start(cfg).expect("uplink starts");
    RemoteRelay {
        uplink: Some(uplink),
        relay,
        log,
    }
}

impl RemoteRelay {
    fn uplink(&self) -> &Uplink {
        self.uplink.as_ref().expect("running")
    }

    /// Sessions the relay engine itself holds (its own summary, not the dispatcher's view).
    fn session_count(&self) -> u64 {
        let line = self.relay.client().command("summary").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        v[0]["session_count"].as_u64().unwrap()
    }
}

fn dispatcher(pki: &Pki, relay_timeout: Duration) -> Dispatcher<NoLocal> {
    Dispatcher::start(
        DispatcherConfig {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            tls: pki.issue("dispatcher"),
            relay_timeout,
            ..DispatcherConfig::default()
        },
        None,
    )
    .expect("dispatcher starts")
}

fn state_of(d: &mut Dispatcher<NoLocal>, name: &str) -> Option<RelayState> {
    d.relays()
        .into_iter()
        .find(|r| r.name == name)
        .map(|r| r.state)
}

fn wait_state(d: &mut Dispatcher<NoLocal>, name: &str, want: RelayState) {
    assert!(
        eventually(WAIT, || state_of(d, name) == Some(want)),
        "relay {name} never became {want:?}: {:?}",
        d.relays()
    );
}

/// A call through the dispatcher between two fresh endpoints; `relay`: the `media_relay` value.
struct Call {
    caller: UdpSocket,
    callee: UdpSocket,
    to_a: SocketAddr,
    to_b: SocketAddr,
}

fn offer(id: &str, cseq: u32, caller: &UdpSocket, relay: &str) -> UpdateRequest {
    UpdateRequest {
        media_relay: relay.into(),
        ..update(
            MessageType::Request,
            id,
            cseq,
            "ft",
            "",
            vec![audio(caller.local_addr().unwrap())],
        )
    }
}

fn try_call(d: &mut Dispatcher<NoLocal>, id: &str, relay: &str) -> Result<Call, String> {
    let caller = endpoint("127.0.0.2");
    let callee = endpoint("127.0.0.3");
    let line = d.handle(Request::Update(offer(id, 1, &caller, relay)));
    let a = codec::parse_update_reply(&line, 1).map_err(|e| format!("offer: {e}"))?;
    let answer = update(
        MessageType::Reply,
        id,
        1,
        "ft",
        "tt",
        vec![audio(callee.local_addr().unwrap())],
    );
    let line = d.handle(Request::Update(answer));
    let b = codec::parse_update_reply(&line, 1).map_err(|e| format!("answer: {e}"))?;
    Ok(Call {
        caller,
        callee,
        to_a: SocketAddr::new(b.ip, b.ports[0]),
        to_b: SocketAddr::new(a.ip, a.ports[0]),
    })
}

fn call(d: &mut Dispatcher<NoLocal>, id: &str, relay: &str) -> Call {
    try_call(d, id, relay).unwrap_or_else(|e| panic!("call {id}: {e}"))
}

/// Media both ways through the relay.
fn media_flows(c: &Call) {
    c.caller.send_to(b"from caller", c.to_a).unwrap();
    assert_eq!(recv(&c.callee).0, b"from caller");
    c.callee.send_to(b"from callee", c.to_b).unwrap();
    assert_eq!(recv(&c.caller).0, b"from callee");
}

fn remove(d: &mut Dispatcher<NoLocal>, id: &str) -> String {
    d.handle(Request::Remove(RemoveRequest {
        call_id: id.into(),
        from_tag: "ft".into(),
        to_tag: "tt".into(),
        want_stats: true,
    }))
}

fn summary(d: &mut Dispatcher<NoLocal>) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(&d.handle(Request::Summary)).unwrap();
    v.as_array().unwrap().clone()
}

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
    assert!(good.uplink().is_connected());
    call(&mut d, "trust-1", "");
    assert_eq!(good.session_count(), 1);
}

// ---------------------------------------------------------------------------------------------
// doubles written from MediaProxy's protocol (its relay.py and dispatcher.py)

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
            "drain" => Some("error".into()),
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
    // an original relay does not know `drain`: reported, nothing else changes
    assert!(d.drain("relay-orig").is_err());
    assert_eq!(state_of(&mut d, "relay-orig"), Some(RelayState::Active));
    stop.store(true, std::sync::atomic::Ordering::Release);
    let seen = double.join().unwrap();
    assert!(seen.iter().any(|c| c == "update 0"), "{seen:?}");
    assert!(seen.iter().any(|c| c.starts_with("remove ")), "{seen:?}");
}

/// MediaProxy's dispatcher, reduced to a script: sends commands, collects the replies,
/// answers `ping` with `pong` only when `answer_pings`.
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
