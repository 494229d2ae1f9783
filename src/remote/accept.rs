//! The dispatcher's listener and one thread per connected relay.
//!
//! The listener thread accepts TCP connections; each connection gets a thread that runs the
//! TLS handshake (bounded in time), names the relay (certificate CN, else its address) and then
//! moves requests from a channel onto the link and replies back to their waiters by sequence
//! number. It answers `ping` with `pong`, passes `expired` on as an event and drops a link that
//! has been silent for `dead_after` (the relay pings every 10 s). A link's end drops every
//! waiter's channel, so nobody waits for a dead relay longer than it takes to notice.

use super::tls::TlsStream;
use super::wire::{self, Lines, RelayLine, MAX_LINK_LINE};
use crate::control::codec::Request;
use crate::relay::sys::{poll_any, EventFd};
use crate::relay::LogLevel;
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Relay connections served at once at most (more are closed at accept).
pub const MAX_LINKS: usize = 256;
/// A request whose waiter gave up is forgotten after this (a late reply is then ignored).
const PENDING_KEEP: Duration = Duration::from_secs(60);

/// What goes to a relay.
pub(crate) enum Wire {
    Request(Box<Request>),
    Drain,
}

pub(crate) struct Outgoing {
    pub wire: Wire,
    /// Gets the reply's payload; dropped unanswered when the link ends.
    pub reply: Sender<String>,
}

/// A connected relay as the dispatcher holds it.
pub(crate) struct RemoteHandle {
    pub conn: u64,
    pub name: String,
    pub peer: IpAddr,
    pub tx: Sender<Outgoing>,
    pub wake: Arc<EventFd>,
    /// Ends this link (a newer link of the same relay replaced it).
    pub close: Arc<AtomicBool>,
    /// When a line last arrived, in ms since the acceptor started.
    pub last_seen_ms: Arc<AtomicU64>,
}

impl RemoteHandle {
    pub fn send(&self, o: Outgoing) -> bool {
        let ok = self.tx.send(o).is_ok();
        self.wake.notify();
        ok
    }

    pub fn shut(&self) {
        self.close.store(true, Ordering::Release);
        self.wake.notify();
    }
}

pub(crate) enum LinkEvent {
    Up(RemoteHandle),
    Down { conn: u64, why: String },
    Expired { conn: u64, json: String },
    Log(LogLevel, String),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Timers {
    pub handshake: Duration,
    pub dead_after: Duration,
}

pub(crate) struct Acceptor {
    stop: Arc<AtomicBool>,
    wake: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
    local: SocketAddr,
    pub epoch: Instant,
}

struct Ctx {
    cfg: Arc<rustls::ServerConfig>,
    timers: Timers,
    events: Sender<LinkEvent>,
    stop: Arc<AtomicBool>,
    links: Arc<AtomicUsize>,
    epoch: Instant,
}

impl Acceptor {
    pub fn start(
        listen: SocketAddr,
        cfg: Arc<rustls::ServerConfig>,
        timers: Timers,
        events: Sender<LinkEvent>,
    ) -> io::Result<Acceptor> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(EventFd::new()?);
        let epoch = Instant::now();
        let ctx = Arc::new(Ctx {
            cfg,
            timers,
            events,
            stop: stop.clone(),
            links: Arc::new(AtomicUsize::new(0)),
            epoch,
        });
        let w = wake.clone();
        let thread = std::thread::Builder::new()
            .name("mp-relay-accept".into())
            .spawn(move || accept_loop(listener, w, ctx))?;
        Ok(Acceptor {
            stop,
            wake,
            thread: Some(thread),
            local,
            epoch,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.wake.notify();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, wake: Arc<EventFd>, ctx: Arc<Ctx>) {
    let mut next_conn = 0u64;
    while !ctx.stop.load(Ordering::Acquire) {
        let _ = poll_any(
            &[(listener.as_raw_fd(), false), (wake.as_raw_fd(), false)],
            Duration::from_millis(500),
        );
        wake.drain();
        loop {
            let (sock, peer) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if ctx.links.load(Ordering::Acquire) >= MAX_LINKS {
                let _ = ctx.events.send(LinkEvent::Log(
                    LogLevel::Warn,
                    format!("relay connection from {peer} refused: {MAX_LINKS} links open"),
                ));
                continue;
            }
            next_conn += 1;
            let conn = next_conn;
            ctx.links.fetch_add(1, Ordering::AcqRel);
            let c = ctx.clone();
            let spawned = std::thread::Builder::new()
                .name("mp-relay-link".into())
                .spawn(move || {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        serve(sock, peer, conn, &c)
                    }));
                    let why = match r {
                        Ok(why) => why,
                        Err(_) => "internal error (panic) on the link thread".to_string(),
                    };
                    c.links.fetch_sub(1, Ordering::AcqRel);
                    let _ = c.events.send(LinkEvent::Down { conn, why });
                });
            if spawned.is_err() {
                ctx.links.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Serves one relay link; returns why it ended.
fn serve(sock: TcpStream, peer: SocketAddr, conn: u64, ctx: &Ctx) -> String {
    let log = |level, text: String| {
        let _ = ctx.events.send(LinkEvent::Log(level, text));
    };
    let mut s = match TlsStream::accept(sock, ctx.cfg.clone()) {
        Ok(s) => s,
        Err(e) => return format!("relay at {peer}: {e}"),
    };
    if let Err(e) = s.handshake(Instant::now() + ctx.timers.handshake) {
        let why = format!("relay at {peer} refused: TLS handshake failed: {e}");
        log(LogLevel::Warn, why.clone());
        return why;
    }
    let name = s
        .peer_common_name()
        .unwrap_or_else(|| peer.ip().to_string());
    let (tx, rx): (Sender<Outgoing>, Receiver<Outgoing>) = crossbeam_channel::unbounded();
    let wake = match EventFd::new() {
        Ok(w) => Arc::new(w),
        Err(e) => return format!("relay {name} at {peer}: eventfd: {e}"),
    };
    let close = Arc::new(AtomicBool::new(false));
    let last_seen_ms = Arc::new(AtomicU64::new(ms_since(ctx.epoch)));
    let _ = ctx.events.send(LinkEvent::Up(RemoteHandle {
        conn,
        name: name.clone(),
        peer: peer.ip(),
        tx,
        wake: wake.clone(),
        close: close.clone(),
        last_seen_ms: last_seen_ms.clone(),
    }));
    let mut pending: HashMap<u64, (Sender<String>, Instant)> = HashMap::new();
    let mut seq = 0u64;
    let mut last_rx = Instant::now();
    let mut lines = Lines::new(MAX_LINK_LINE);
    loop {
        if ctx.stop.load(Ordering::Acquire) {
            return format!("relay {name} at {peer}: dispatcher stopping");
        }
        if close.load(Ordering::Acquire) {
            return format!("relay {name} at {peer}: replaced by a newer connection");
        }
        let _ = poll_any(
            &[(s.fd(), s.wants_write()), (wake.as_raw_fd(), false)],
            Duration::from_millis(500),
        );
        wake.drain();
        let now = Instant::now();
        while let Ok(out) = rx.try_recv() {
            let framed = match &out.wire {
                Wire::Request(r) => wire::frame_request(r, seq),
                Wire::Drain => Ok(wire::frame_drain(seq)),
            };
            match framed {
                Ok(bytes) => {
                    pending.insert(seq, (out.reply, now));
                    seq += 1;
                    if let Err(e) = s.send(bytes.as_bytes()) {
                        return format!("relay {name} at {peer}: write: {e}");
                    }
                }
                Err(e) => {
                    log(LogLevel::Warn, format!("request not sent to {name}: {e}"));
                    let _ = out.reply.send("error".into());
                }
            }
        }
        match s.read_some() {
            Ok(true) => {}
            Ok(false) => return format!("relay {name} at {peer} closed the connection"),
            Err(e) => return format!("relay {name} at {peer}: {e}"),
        }
        lines.push(&s.take_input());
        while let Some(line) = lines.next_line() {
            last_rx = now;
            last_seen_ms.store(ms_since(ctx.epoch), Ordering::Release);
            let Ok(line) = line else {
                log(
                    LogLevel::Warn,
                    format!("relay {name}: overlong line dropped"),
                );
                continue;
            };
            match wire::parse_relay_line(&line) {
                RelayLine::Ping => {
                    if let Err(e) = s.send(b"pong\r\n") {
                        return format!("relay {name} at {peer}: write: {e}");
                    }
                }
                RelayLine::Reply { seq, payload } => match pending.remove(&seq) {
                    Some((reply, _)) => {
                        let _ = reply.send(payload);
                    }
                    None => log(
                        LogLevel::Info,
                        format!("relay {name}: late or unexpected reply to #{seq} ignored"),
                    ),
                },
                RelayLine::Expired(json) => {
                    let _ = ctx.events.send(LinkEvent::Expired { conn, json });
                }
                RelayLine::Garbage(l) => log(
                    LogLevel::Warn,
                    format!(
                        "relay {name}: unexpected line {:?}",
                        l.chars().take(80).collect::<String>()
                    ),
                ),
            }
        }
        if let Err(e) = s.flush() {
            return format!("relay {name} at {peer}: write: {e}");
        }
        if now.saturating_duration_since(last_rx) > ctx.timers.dead_after {
            return format!(
                "relay {name} at {peer}: silent for {} s, link dropped",
                ctx.timers.dead_after.as_secs()
            );
        }
        pending.retain(|_, (_, t)| now.saturating_duration_since(*t) < PENDING_KEEP);
    }
}
