//! A stand-in MediaProxy dispatcher on a unix socket (the module's `relay_mode = external`)
//! whose answers are a pure function of the request ([`answer_for`]), so a test can compute
//! the very rewrite the module must make. Every connection (one per SIP worker) is served by a
//! thread of its own until the test drops the dispatcher.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mediaproxy::control::codec::{encode_answer, Request, RequestReader};
use mediaproxy::media::{RelayAnswer, StreamDesc};

/// The address every answer names (loopback: nothing is ever sent to it in these tests).
pub const RELAY_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 77));

/// The IPv6 address the answers for a Call-ID starting with [`V6_CALL`] name (a documentation
/// address: nothing is ever sent to it), as a relay bridging to an IPv6 interface answers.
pub const RELAY_IP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x77));

/// A Call-ID starting with this is answered with [`RELAY_IP6`].
pub const V6_CALL: &str = "v6-";

/// The answer to an `update` of `call_id` listing `media`: [`RELAY_IP`] ([`RELAY_IP6`] for a
/// Call-ID starting with [`V6_CALL`]) and, per stream, port `40000 + 2 × index` (0 for a
/// stream offered with port 0).
pub fn answer_for(call_id: &str, media: &[StreamDesc]) -> RelayAnswer {
    RelayAnswer {
        ip: if call_id.starts_with(V6_CALL) {
            RELAY_IP6
        } else {
            RELAY_IP
        },
        ports: media
            .iter()
            .enumerate()
            .map(|(i, m)| if m.port == 0 { 0 } else { 40000 + 2 * i as u16 })
            .collect(),
    }
}

pub struct Dispatcher {
    pub path: PathBuf,
    stop: Arc<AtomicBool>,
    /// `update` requests answered.
    pub updates: Arc<AtomicU64>,
}

impl Dispatcher {
    /// Listens on `path` (replacing a stale file).
    pub fn start(path: &Path) -> Dispatcher {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("dispatcher socket directory");
        }
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind the dispatcher socket");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let updates = Arc::new(AtomicU64::new(0));
        let (s, u) = (stop.clone(), updates.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (s, u) = (s.clone(), u.clone());
                        std::thread::spawn(move || serve(conn, &s, &u));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Dispatcher {
            path: path.to_path_buf(),
            stop,
            updates,
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(mut conn: UnixStream, stop: &AtomicBool, updates: &AtomicU64) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let mut reader = RequestReader::new();
    let mut buf = [0u8; 8192];
    while !stop.load(Ordering::Relaxed) {
        let n = match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        };
        reader.push(&buf[..n]);
        while let Some(req) = reader.next_request() {
            let reply = match req {
                Ok(Request::Update(u)) => {
                    updates.fetch_add(1, Ordering::Relaxed);
                    encode_answer(&answer_for(&u.call_id, &u.media))
                }
                Ok(Request::Remove(_)) => "removed".to_string(),
                _ => "error".to_string(),
            };
            if conn.write_all(format!("{reply}\r\n").as_bytes()).is_err() {
                return;
            }
        }
    }
}
