//! Helpers shared by the relay integration tests: a relay on 127.0.0.1 with its own port range
//! and socket path, endpoints on other 127.0.0.x addresses, RTP packets, bounded waits, and
//! [`backends!`] to run a test body once per I/O back end.
#![allow(dead_code)]

pub mod kernel;

use mediaproxy::control::client::{Client, ClientConfig};
use mediaproxy::control::codec::{MessageType, UpdateRequest};
use mediaproxy::media::{Direction, StreamDesc};
pub use mediaproxy::relay::RelayIo;
use mediaproxy::relay::{Counters, Relay, RelayConfig, RelayEvent};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

pub struct TestRelay {
    pub relay: Option<Relay>,
    pub socket: PathBuf,
    pub counters: &'static Counters,
    pub dir: PathBuf,
}

/// Test bodies written once and run for each back end: `backends!(name, ...)` makes the tests
/// `name::io_uring` and `name::epoll`, each calling `name(RelayIo::…)`.
#[macro_export]
macro_rules! backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn io_uring() {
                    super::$name(mediaproxy::relay::RelayIo::IoUring)
                }
                #[test]
                fn epoll() {
                    super::$name(mediaproxy::relay::RelayIo::Epoll)
                }
            }
        )*
    };
}

/// Where a back end's variant of a test puts its ports: both variants of a test run at the
/// same time in one process, so the io_uring one moves its range up by 10000.
pub fn ports_for(io: RelayIo, ports: (u16, u16)) -> (u16, u16) {
    match io {
        RelayIo::IoUring => (ports.0 + 10000, ports.1 + 10000),
        _ => ports,
    }
}

impl TestRelay {
    /// `tag` makes the socket path unique; `ports` must not overlap another test's range.
    pub fn start(tag: &str, ports: (u16, u16), tweak: impl FnOnce(&mut RelayConfig)) -> TestRelay {
        Self::start_with(RelayIo::Auto, tag, ports, tweak)
    }

    /// A relay running back end `io` (checked: never a silent fallback); ports as
    /// [`ports_for`] places them.
    pub fn start_io(
        io: RelayIo,
        tag: &str,
        ports: (u16, u16),
        tweak: impl FnOnce(&mut RelayConfig),
    ) -> TestRelay {
        let r = Self::start_with(io, &format!("{tag}-{io}"), ports_for(io, ports), tweak);
        assert_eq!(r.relay().io(), io, "the relay runs the back end asked for");
        r
    }

    fn start_with(
        io: RelayIo,
        tag: &str,
        ports: (u16, u16),
        tweak: impl FnOnce(&mut RelayConfig),
    ) -> TestRelay {
        let fast = kernel::KERNEL.with(|k| k.get());
        let tag = match fast {
            mediaproxy::relay::RelayKernel::Off => tag.to_string(),
            k => format!("{tag}-{k}"),
        };
        let dir = std::env::temp_dir().join(format!("mp-it-{tag}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let socket = dir.join("relay.sock");
        let mut cfg = RelayConfig {
            listen_ip: "127.0.0.1".parse().unwrap(),
            port_min: ports.0,
            port_max: ports.1,
            threads: 2,
            port_quarantine: Duration::ZERO,
            io,
            kernel: fast,
            ..RelayConfig::default()
        };
        tweak(&mut cfg);
        let counters = Counters::leak();
        let relay = Relay::start(cfg, &socket, counters).expect("relay starts");
        TestRelay {
            relay: Some(relay),
            socket,
            counters,
            dir,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(ClientConfig {
            socket: self.socket.clone(),
            timeout: Duration::from_secs(5),
            retry_interval: Duration::ZERO,
        })
    }

    pub fn relay(&self) -> &Relay {
        self.relay.as_ref().expect("running")
    }

    /// Waits (bounded) for an event matching `f`.
    pub fn wait_event(
        &self,
        limit: Duration,
        mut f: impl FnMut(&RelayEvent) -> bool,
    ) -> Option<RelayEvent> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            for e in self.relay().drain_events() {
                if f(&e) {
                    return Some(e);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        if let Some(r) = self.relay.take() {
            r.shutdown();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A UDP socket on `ip` with a read timeout; `pair` binds an even port and its odd neighbour.
pub fn endpoint(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip.parse::<IpAddr>().unwrap(), 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

pub fn endpoint_pair(ip: &str) -> (UdpSocket, UdpSocket) {
    let ip: IpAddr = ip.parse().unwrap();
    for p in (20000u16..30000).step_by(2) {
        if let Ok(a) = UdpSocket::bind((ip, p)) {
            if let Ok(b) = UdpSocket::bind((ip, p + 1)) {
                for s in [&a, &b] {
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                }
                return (a, b);
            }
        }
    }
    panic!("no free port pair on {ip}");
}

pub fn rtp(pt: u8, seq: u16, ssrc: u32, tag: u8) -> Vec<u8> {
    let mut v = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    v[2..4].copy_from_slice(&seq.to_be_bytes());
    v[8..12].copy_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(&[tag; 160]);
    v
}

pub fn rtcp_sr(ssrc: u32) -> Vec<u8> {
    let mut v = vec![0x80, 200, 0, 6];
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(&[0u8; 20]);
    v
}

pub fn stun_binding() -> Vec<u8> {
    let mut v = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    v.extend_from_slice(&[9u8; 12]);
    v
}

pub fn audio(addr: SocketAddr) -> StreamDesc {
    StreamDesc {
        media_type: "audio".into(),
        addr: addr.ip().to_string(),
        port: addr.port(),
        direction: Direction::SendRecv,
        ice: false,
    }
}

pub fn update(
    kind: MessageType,
    call_id: &str,
    cseq: u32,
    from_tag: &str,
    to_tag: &str,
    media: Vec<StreamDesc>,
) -> UpdateRequest {
    UpdateRequest {
        kind,
        dialog_id: "4242".into(),
        call_id: call_id.into(),
        cseq,
        from_uri: "alice@example.com".into(),
        to_uri: "bob@example.net".into(),
        from_tag: from_tag.into(),
        to_tag: to_tag.into(),
        user_agent: "test-ua".into(),
        signaling_ip: media.first().map(|m| m.addr.clone()).unwrap_or_default(),
        media,
        ..UpdateRequest::default()
    }
}

/// Sets up a call: returns (where the caller sends, where the callee sends).
pub fn setup_call(
    c: &mut Client,
    call_id: &str,
    caller: SocketAddr,
    callee: SocketAddr,
) -> (SocketAddr, SocketAddr) {
    setup_call_with(c, call_id, audio(caller), audio(callee))
}

/// [`setup_call`] with the caller's and the callee's stream as given.
pub fn setup_call_with(
    c: &mut Client,
    call_id: &str,
    caller: StreamDesc,
    callee: StreamDesc,
) -> (SocketAddr, SocketAddr) {
    let a = c
        .update(&update(
            MessageType::Request,
            call_id,
            1,
            "ft",
            "",
            vec![caller],
        ))
        .expect("offer answered");
    let callee_sends_to = SocketAddr::new(a.ip, a.ports[0]);
    let b = c
        .update(&update(
            MessageType::Reply,
            call_id,
            1,
            "ft",
            "tt",
            vec![callee],
        ))
        .expect("answer answered");
    let caller_sends_to = SocketAddr::new(b.ip, b.ports[0]);
    (caller_sends_to, callee_sends_to)
}

/// Receives one datagram: (bytes, source).
pub fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = s.recv_from(&mut buf).expect("datagram within the timeout");
    (buf[..n].to_vec(), from)
}

pub fn counter(c: &AtomicU64) -> u64 {
    Counters::get(c)
}

/// A call between two fresh endpoints, the caller on 127.0.0.2 and the callee on 127.0.0.3,
/// and where each must send (`to_a`: the caller, `to_b`: the callee), from [`setup_call`].
pub struct Call {
    pub caller: UdpSocket,
    pub callee: UdpSocket,
    pub to_a: SocketAddr,
    pub to_b: SocketAddr,
}

pub fn new_call(c: &mut Client, call_id: &str) -> Call {
    let caller = endpoint("127.0.0.2");
    let callee = endpoint("127.0.0.3");
    let (to_a, to_b) = setup_call(
        c,
        call_id,
        caller.local_addr().unwrap(),
        callee.local_addr().unwrap(),
    );
    Call {
        caller,
        callee,
        to_a,
        to_b,
    }
}

/// Waits (bounded) until `f` holds.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}
