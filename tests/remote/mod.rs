//! Helpers shared by the remote relay tests: a per-test CA issuing certificates, relay
//! engines with their uplink, a dispatcher on loopback, calls through it, and bounded waits.
#![allow(dead_code)]

use crate::common::{audio, endpoint, eventually, recv, update, TestRelay};
use mediaproxy::control::codec::{self, MessageType, RemoveRequest, Request, UpdateRequest};
use mediaproxy::control::server::Handler;
use mediaproxy::remote::dispatcher::{Dispatcher, DispatcherConfig, NoLocal, RelayState};
use mediaproxy::remote::tls::TlsFiles;
use mediaproxy::remote::uplink::{Uplink, UplinkConfig};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(15);

/// A CA in a temporary directory that issues certificates as PEM files.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: rcgen::Certificate,
    pub ca_key: KeyPair,
    pub ca_file: PathBuf,
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
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
    pub fn issue(&self, cn: &str) -> TlsFiles {
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

pub type Log = Arc<Mutex<Vec<String>>>;

pub fn log_sink() -> (Log, mediaproxy::remote::uplink::LogFn) {
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
pub struct RemoteRelay {
    pub uplink: Option<Uplink>,
    pub relay: TestRelay,
    pub log: Log,
}

pub fn remote_relay(
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
    pub fn uplink(&self) -> &Uplink {
        self.uplink.as_ref().expect("running")
    }

    /// Sessions the relay engine itself holds (its own summary, not the dispatcher's view).
    pub fn session_count(&self) -> u64 {
        let line = self.relay.client().command("summary").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        v[0]["session_count"].as_u64().unwrap()
    }
}

pub fn dispatcher(pki: &Pki, relay_timeout: Duration) -> Dispatcher<NoLocal> {
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

pub fn state_of(d: &mut Dispatcher<NoLocal>, name: &str) -> Option<RelayState> {
    d.relays()
        .into_iter()
        .find(|r| r.name == name)
        .map(|r| r.state)
}

pub fn wait_state(d: &mut Dispatcher<NoLocal>, name: &str, want: RelayState) {
    assert!(
        eventually(WAIT, || state_of(d, name) == Some(want)),
        "relay {name} never became {want:?}: {:?}",
        d.relays()
    );
}

/// A call through the dispatcher between two fresh endpoints; `relay`: the `media_relay` value.
pub struct Call {
    pub caller: UdpSocket,
    pub callee: UdpSocket,
    pub to_a: SocketAddr,
    pub to_b: SocketAddr,
}

pub fn offer(id: &str, cseq: u32, caller: &UdpSocket, relay: &str) -> UpdateRequest {
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

pub fn try_call(d: &mut Dispatcher<NoLocal>, id: &str, relay: &str) -> Result<Call, String> {
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

pub fn call(d: &mut Dispatcher<NoLocal>, id: &str, relay: &str) -> Call {
    try_call(d, id, relay).unwrap_or_else(|e| panic!("call {id}: {e}"))
}

/// Media both ways through the relay.
pub fn media_flows(c: &Call) {
    c.caller.send_to(b"from caller", c.to_a).unwrap();
    assert_eq!(recv(&c.callee).0, b"from caller");
    c.callee.send_to(b"from callee", c.to_b).unwrap();
    assert_eq!(recv(&c.caller).0, b"from callee");
}

pub fn remove(d: &mut Dispatcher<NoLocal>, id: &str) -> String {
    d.handle(Request::Remove(RemoveRequest {
        call_id: id.into(),
        from_tag: "ft".into(),
        to_tag: "tt".into(),
        want_stats: true,
    }))
}

pub fn summary(d: &mut Dispatcher<NoLocal>) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(&d.handle(Request::Summary)).unwrap();
    v.as_array().unwrap().clone()
}

/// A relay process, killed when the test ends however it ends.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Waits (bounded) for the process to exit.
pub fn wait_exit(c: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = c.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// `kill <sig> <pid>`.
pub fn signal(c: &Proc, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([sig, &c.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(st.success());
}

/// The command line of a `mediaproxy-relay` serving `dispatcher` ("HOST:PORT") with `files`,
/// on `listen_ip` and `ports` ("MIN-MAX"): one thread, no port quarantine, stopping by itself
/// after `max_seconds`.
pub fn relay_args(
    files: &TlsFiles,
    dispatcher: &str,
    listen_ip: &str,
    ports: &str,
    max_seconds: u32,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["--dispatcher".into(), dispatcher.into()];
    for (flag, file) in [
        ("--cert", &files.cert),
        ("--key", &files.key),
        ("--ca", &files.ca),
    ] {
        args.push(flag.into());
        args.push(file.into());
    }
    let max = max_seconds.to_string();
    for a in [
        "--listen-ip",
        listen_ip,
        "--port-range",
        ports,
        "--threads",
        "1",
        "--quarantine",
        "0",
        "--max-seconds",
        &max,
    ] {
        args.push(a.into());
    }
    args
}
