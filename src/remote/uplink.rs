//! The relay's end of the link: `mediaproxy-relay --dispatcher HOST:PORT`.
//!
//! One thread connects out to the dispatcher over TLS (mutual X.509), reconnecting with a
//! back-off (1 s after a lost link, doubling up to 10 s while the dispatcher cannot be reached),
//! and answers the dispatcher's commands through the relay's own control socket, so the link
//! serves exactly what the unix socket serves. It pings every 10 s and drops the link after 3
//! unanswered pings, as MediaProxy's relay does; `expired` reports are sent as they come.
//!
//! Drain (SIGTERM, or the dispatcher's `drain`): `update`s that would create a session are
//! answered `halting`, updates and removes of running sessions are served, `summary` says
//! `halting`; once the relay holds no session [`Uplink::is_drained`] turns true and the binary
//! exits.

use super::tls::{self, TlsFiles, TlsStream};
use super::wire::{self, CommandReader, LinkCommand};
use crate::control::client::{Client, ClientConfig};
use crate::control::codec::{self, Request, UpdateRequest};
use crate::relay::sys::{poll_any, EventFd};
use crate::relay::LogLevel;
use serde_json::Value;
use std::collections::VecDeque;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where log lines go.
pub type LogFn = Arc<dyn Fn(LogLevel, String) + Send + Sync>;

/// `expired` reports queued at most while the dispatcher is unreachable.
const MAX_OUTBOX: usize = 10_000;

#[derive(Clone)]
pub struct UplinkConfig {
    /// `host:port` of the dispatcher.
    pub dispatcher: String,
    pub tls: TlsFiles,
    /// The relay's own control socket.
    pub socket: PathBuf,
    pub ping_interval: Duration,
    pub missed_pings: u32,
    pub reconnect_first: Duration,
    pub reconnect_max: Duration,
    /// Per request to the local control socket.
    pub request_timeout: Duration,
    /// How often a draining relay checks whether its sessions have ended.
    pub drain_check: Duration,
    pub log: LogFn,
}

impl UplinkConfig {
    /// MediaProxy's timers.
    pub fn new(dispatcher: String, tls: TlsFiles, socket: PathBuf, log: LogFn) -> UplinkConfig {
        UplinkConfig {
            dispatcher,
            tls,
            socket,
            ping_interval: Duration::from_secs(10),
            missed_pings: 3,
            reconnect_first: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(10),
            request_timeout: Duration::from_secs(4),
            drain_check: Duration::from_millis(500),
            log,
        }
    }
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    draining: AtomicBool,
    drained: AtomicBool,
    connected: AtomicBool,
    outbox: Mutex<VecDeque<String>>,
}

pub struct Uplink {
    shared: Arc<Shared>,
    wake: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

impl Uplink {
    /// Reads the TLS files (errors are reported now) and starts the link thread.
    pub fn start(cfg: UplinkConfig) -> Result<Uplink, String> {
        let tls = tls::client_config(&cfg.tls)?;
        if cfg.dispatcher.rsplit_once(':').is_none() {
            return Err(format!(
                "dispatcher address {:?}: expected HOST:PORT",
                cfg.dispatcher
            ));
        }
        let shared = Arc::new(Shared::default());
        let wake = Arc::new(EventFd::new().map_err(|e| format!("eventfd: {e}"))?);
        let (s, w) = (shared.clone(), wake.clone());
        let thread = std::thread::Builder::new()
            .name("mp-uplink".into())
            .spawn(move || {
                let log = cfg.log.clone();
                let mut link = Link {
                    client: Client::new(ClientConfig {
                        socket: cfg.socket.clone(),
                        timeout: cfg.request_timeout,
                        retry_interval: Duration::ZERO,
                    }),
                    cfg,
                    tls,
                    shared: s,
                    wake: w,
                    next_drain_check: Instant::now(),
                };
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| link.run())).is_err() {
                    log(
                        LogLevel::Error,
                        "dispatcher link thread: internal error (panic), link stopped".into(),
                    );
                }
            })
            .map_err(|e| format!("cannot start the dispatcher link thread: {e}"))?;
        Ok(Uplink {
            shared,
            wake,
            thread: Some(thread),
        })
    }

    /// Takes no new sessions from now on.
    pub fn drain(&self) {
        self.shared.draining.store(true, Ordering::Release);
        self.wake.notify();
    }

    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::Acquire)
    }

    /// Draining, and no session is left.
    pub fn is_drained(&self) -> bool {
        self.shared.drained.load(Ordering::Acquire)
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// Reports a session that ended by itself (its statistics JSON).
    pub fn expired(&self, stats_json: &str) {
        if let Ok(mut q) = self.shared.outbox.lock() {
            if q.len() < MAX_OUTBOX {
                q.push_back(stats_json.to_string());
            }
        }
        self.wake.notify();
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.wake.notify();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Link {
    cfg: UplinkConfig,
    tls: Arc<rustls::ClientConfig>,
    client: Client,
    shared: Arc<Shared>,
    wake: Arc<EventFd>,
    next_drain_check: Instant,
}

impl Link {
    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }

    fn log(&self, level: LogLevel, text: String) {
        (self.cfg.log)(level, text);
    }

    fn run(&mut self) {
        let mut backoff = self.cfg.reconnect_first;
        while !self.stopping() {
            self.check_drain();
            match self.connect() {
                Ok(s) => {
                    backoff = self.cfg.reconnect_first;
                    self.log(
                        LogLevel::Info,
                        format!("connected to dispatcher {}", self.cfg.dispatcher),
                    );
                    self.shared.connected.store(true, Ordering::Release);
                    let why = self.serve(s);
                    self.shared.connected.store(false, Ordering::Release);
                    if self.stopping() {
                        return;
                    }
                    self.log(
                        LogLevel::Warn,
                        format!("link to dispatcher {} lost: {why}", self.cfg.dispatcher),
                    );
                    self.pause(self.cfg.reconnect_first);
                }
                Err(e) => {
                    self.log(
                        LogLevel::Warn,
                        format!(
                            "cannot connect to dispatcher {} (retrying in {} ms): {e}",
                            self.cfg.dispatcher,
                            backoff.as_millis()
                        ),
                    );
                    self.pause(backoff);
                    backoff = (backoff * 2).min(self.cfg.reconnect_max);
                }
            }
        }
    }

    /// Waits `d`, still checking the drain and the stop flag.
    fn pause(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopping() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let _ = poll_any(
                &[(self.wake.as_raw_fd(), false)],
                left.min(self.cfg.drain_check),
            );
            self.wake.drain();
            self.check_drain();
        }
    }

    fn connect(&mut self) -> io::Result<TlsStream> {
        let host = self
            .cfg
            .dispatcher
            .rsplit_once(':')
            .map_or("", |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let addr = self
            .cfg
            .dispatcher
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
        let sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        let mut s = TlsStream::connect(sock, self.tls.clone(), &host)?;
        s.handshake(Instant::now() + Duration::from_secs(5))?;
        Ok(s)
    }

    /// Serves one connected link; returns why it ended.
    fn serve(&mut self, mut s: TlsStream) -> String {
        let mut reader = CommandReader::default();
        let mut next_ping = Instant::now() + self.cfg.ping_interval;
        let mut missed = 0u32;
        loop {
            if self.stopping() {
                return "stopping".into();
            }
            let wait = next_ping
                .saturating_duration_since(Instant::now())
                .min(self.cfg.drain_check);
            let _ = poll_any(
                &[(s.fd(), s.wants_write()), (self.wake.as_raw_fd(), false)],
                wait,
            );
            self.wake.drain();
            let expired: Vec<String> = match self.shared.outbox.lock() {
                Ok(mut q) => q.drain(..).collect(),
                Err(_) => Vec::new(),
            };
            for json in expired {
                if let Err(e) = s.send(format!("expired {json}\r\n").as_bytes()) {
                    return format!("write: {e}");
                }
            }
            match s.read_some() {
                Ok(true) => {}
                Ok(false) => return "the dispatcher closed the connection".into(),
                Err(e) => return e.to_string(),
            }
            reader.push(&s.take_input());
            while let Some(cmd) = reader.next_command() {
                let out = match cmd {
                    LinkCommand::Pong => {
                        missed = 0;
                        continue;
                    }
                    LinkCommand::Garbage(l) => {
                        self.log(
                            LogLevel::Warn,
                            format!(
                                "dispatcher sent an unreadable line {:?}",
                                l.chars().take(80).collect::<String>()
                            ),
                        );
                        continue;
                    }
                    LinkCommand::Bad { seq, err } => {
                        self.log(
                            LogLevel::Warn,
                            format!("bad command from the dispatcher: {err}"),
                        );
                        wire::reply_line(&seq, "error")
                    }
                    LinkCommand::Drain { seq } => {
                        if !self.shared.draining.swap(true, Ordering::AcqRel) {
                            self.log(
                                LogLevel::Info,
                                "draining on the dispatcher's request: no new sessions".into(),
                            );
                        }
                        wire::reply_line(&seq, "halting")
                    }
                    LinkCommand::Request { seq, req } => {
                        let payload = self.answer(*req);
                        wire::reply_line(&seq, &payload)
                    }
                };
                if let Err(e) = s.send(out.as_bytes()) {
                    return format!("write: {e}");
                }
            }
            if Instant::now() >= next_ping {
                if missed >= self.cfg.missed_pings {
                    return format!("{missed} keep-alives unanswered");
                }
                if let Err(e) = s.send(b"ping\r\n") {
                    return format!("write: {e}");
                }
                missed += 1;
                next_ping = Instant::now() + self.cfg.ping_interval;
            }
            if let Err(e) = s.flush() {
                return format!("write: {e}");
            }
            self.check_drain();
        }
    }

    fn draining(&self) -> bool {
        self.shared.draining.load(Ordering::Acquire)
    }

    fn answer(&mut self, req: Request) -> String {
        match req {
            Request::Update(u) => {
                if self.draining() && !self.holds(&u) {
                    return "halting".into();
                }
                match self.client.update(&u) {
                    Ok(a) => codec::encode_answer(&a),
                    Err(e) => {
                        self.log(
                            LogLevel::Info,
                            format!("update for {} answered error: {e}", u.call_id),
                        );
                        "error".into()
                    }
                }
            }
            Request::Remove(r) => match self.client.remove(&r.call_id, &r.from_tag, &r.to_tag) {
                Ok(Some(json)) => json,
                Ok(None) => "{}".into(),
                Err(_) => "error".into(),
            },
            Request::Summary => match self.summary() {
                Some(mut obj) => {
                    if self.draining() {
                        obj.insert("status".into(), Value::from("halting"));
                    }
                    Value::Object(obj).to_string()
                }
                None => "error".into(),
            },
            Request::Sessions => self
                .client
                .command("sessions")
                .unwrap_or_else(|_| "error".into()),
            Request::Tags { call_id } => match self.client.tags(&call_id) {
                Ok(pairs) => super::wire::tags_reply(&pairs),
                Err(_) => "error".into(),
            },
            Request::Copy(c) => match self.client.copy(&c) {
                Ok(a) => super::wire::copy_reply(&c, a),
                Err(_) => "error".into(),
            },
            Request::Record(r) => match self.client.record(&r) {
                Ok(f) => crate::control::record::encode_reply(f.as_deref()),
                Err(_) => "error".into(),
            },
            Request::Version | Request::Quit | Request::Drain(_) => "error".into(),
        }
    }

    /// The local relay's summary object (it answers a one-element array).
    fn summary(&mut self) -> Option<serde_json::Map<String, Value>> {
        let line = self.client.command("summary").ok()?;
        match serde_json::from_str::<Value>(&line).ok()? {
            Value::Object(m) => Some(m),
            Value::Array(mut a) => match a.pop()? {
                Value::Object(m) => Some(m),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the local relay holds the session `u` belongs to (matched as the relay matches:
    /// Call-ID and the creator's From-tag, which is this message's From- or To-tag).
    fn holds(&mut self, u: &UpdateRequest) -> bool {
        let Ok(line) = self.client.command("sessions") else {
            return false;
        };
        let Ok(Value::Array(list)) = serde_json::from_str::<Value>(&line) else {
            return false;
        };
        list.iter().any(|s| {
            let f = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("");
            f("call_id") == u.call_id
                && (f("from_tag") == u.from_tag
                    || (!u.to_tag.is_empty() && f("from_tag") == u.to_tag))
        })
    }

    fn check_drain(&mut self) {
        if !self.draining() || self.shared.drained.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        if now < self.next_drain_check {
            return;
        }
        self.next_drain_check = now + self.cfg.drain_check;
        let count = self
            .summary()
            .and_then(|m| m.get("session_count").and_then(Value::as_u64));
        if count == Some(0) {
            self.log(LogLevel::Info, "drained: no session left".into());
            self.shared.drained.store(true, Ordering::Release);
        }
    }
}
