//! The dispatcher: a [`Handler`] that spreads sessions over relays.
//!
//! Relays are the embedded engine (optional, any [`Handler`], named `local` unless told) and
//! every `mediaproxy-relay` (or original MediaProxy relay) connected over TLS, named by its
//! certificate's common name. Selection rule for a session the dispatcher does not know:
//!
//! 1. the relay named in the request's `media_relay` header (the `media_relay_avp` value;
//!    matched against relay names and peer addresses), if it is active;
//! 2. then every other active relay, least loaded first (sessions the dispatcher placed on it),
//!    ties broken by name;
//! 3. a relay answering `error`, `halting` or `None`, not answering within `relay_timeout`, or
//!    gone, is skipped and the next one is tried; `halting` marks it halting and a timeout
//!    marks it unresponsive: neither takes new sessions (an unresponsive relay again once it
//!    has been heard from since).
//!
//! The choice is kept for the session's life, keyed by Call-ID and the creator's From-tag (a
//! request from the other side matches through its To-tag), so two calls sharing a Call-ID do
//! not collide. Requests for a known session go to its relay only; when that relay is gone
//! they are answered `error` at once. A relay whose link drops loses its sessions: they are
//! reported (see [`Dispatcher::take_lost`]) and forgotten.
//!
//! `sessions` answers the sessions of every relay in one array (each object gains `relay`);
//! `summary` answers one object per relay (gaining `relay`, `relay_state` and the dispatcher's
//! counters for it; an unreachable relay is `{"status": "error"}`, a disconnected one
//! `"disconnected"`).

use crate::remote::accept::{Acceptor, LinkEvent, Outgoing, RemoteHandle, Timers, Wire};

mod links;
mod report;
mod view;

use crate::control::codec::{self, CodecError, RemoveRequest, Request, UpdateRequest};
use crate::control::server::Handler;
use crate::relay::LogLevel;
use crate::remote::tls;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Instant;
pub use view::{DispatcherConfig, EndedSession, RelayInfo, RelayState, RelayStats};

enum Link {
    Local,
    Remote(RemoteHandle),
    Gone,
}

struct Entry {
    name: String,
    peer: Option<IpAddr>,
    link: Link,
    halting: bool,
    /// Set by a timeout; cleared when the relay is heard from after it.
    unresponsive_since_ms: Option<u64>,
    load: usize,
    stats: RelayStats,
}

impl Entry {
    fn state(&self) -> RelayState {
        match &self.link {
            Link::Gone => RelayState::Disconnected,
            _ if self.halting => RelayState::Halting,
            Link::Remote(h) => match self.unresponsive_since_ms {
                Some(t) if h.last_seen_ms.load(Ordering::Acquire) <= t => RelayState::Unresponsive,
                _ => RelayState::Active,
            },
            Link::Local => RelayState::Active,
        }
    }
}

struct Pin {
    relay: String,
    to_tag: String,
    dialog_id: String,
}

enum Answer {
    Line(String),
    Timeout,
    Gone,
}

pub struct Dispatcher<H: Handler> {
    cfg: DispatcherConfig,
    local: Option<H>,
    entries: Vec<Entry>,
    pins: HashMap<(String, String), Pin>,
    events: Receiver<LinkEvent>,
    acceptor: Option<Acceptor>,
    epoch: Instant,
    logs: Vec<(LogLevel, String)>,
    ended: Vec<EndedSession>,
}

/// The embedded relay's place when there is none (remote relays only).
pub struct NoLocal;

impl Handler for NoLocal {
    fn handle(&mut self, _: Request) -> String {
        "error".into()
    }
    fn malformed(&mut self, _: &CodecError) {}
}

fn is_failure(payload: &str) -> bool {
    matches!(payload.trim(), "error" | "halting" | "None" | "")
}

impl<H: Handler> Dispatcher<H> {
    /// Starts the dispatcher: listens for relays when `cfg.listen` is set (the TLS files are
    /// read now: a bad file is an error here, not at the first relay).
    pub fn start(cfg: DispatcherConfig, local: Option<H>) -> Result<Dispatcher<H>, String> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let acceptor = match cfg.listen {
            Some(addr) => {
                let tls = tls::server_config(&cfg.tls)?;
                let timers = Timers {
                    handshake: cfg.handshake_timeout,
                    dead_after: cfg.dead_after,
                };
                Some(
                    Acceptor::start(addr, tls, timers, tx)
                        .map_err(|e| format!("cannot listen for relays on {addr}: {e}"))?,
                )
            }
            None => None,
        };
        let epoch = acceptor.as_ref().map_or_else(Instant::now, |a| a.epoch);
        let mut entries = Vec::new();
        if local.is_some() {
            entries.push(Entry {
                name: cfg.local_name.clone(),
                peer: None,
                link: Link::Local,
                halting: false,
                unresponsive_since_ms: None,
                load: 0,
                stats: RelayStats::default(),
            });
        }
        Ok(Dispatcher {
            cfg,
            local,
            entries,
            pins: HashMap::new(),
            events: rx,
            acceptor,
            epoch,
            logs: Vec::new(),
            ended: Vec::new(),
        })
    }

    /// Where relays connect (the bound address, useful with port 0).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.acceptor.as_ref().map(|a| a.local_addr())
    }

    /// The embedded relay's handler.
    pub fn local_mut(&mut self) -> Option<&mut H> {
        self.local.as_mut()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Log lines gathered since the last call.
    pub fn take_logs(&mut self) -> Vec<(LogLevel, String)> {
        self.poll_events();
        std::mem::take(&mut self.logs)
    }

    /// Sessions that ended on their relay by themselves (`expired`) or were lost with their
    /// relay, since the last call.
    pub fn take_ended(&mut self) -> Vec<EndedSession> {
        self.poll_events();
        std::mem::take(&mut self.ended)
    }

    fn log(&mut self, level: LogLevel, text: String) {
        if self.logs.len() < 4096 {
            self.logs.push((level, text));
        }
    }

    /// Every relay, in name order.
    pub fn relays(&mut self) -> Vec<RelayInfo> {
        self.poll_events();
        let mut v: Vec<RelayInfo> = self
            .entries
            .iter()
            .map(|e| RelayInfo {
                name: e.name.clone(),
                peer: e.peer,
                state: e.state(),
                sessions: e.load,
                stats: e.stats,
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Forgets a session that ended on its relay by itself (the embedded relay's expiry,
    /// reported to the host directly).
    pub fn forget(&mut self, call_id: &str, from_tag: &str, to_tag: &str) {
        self.poll_events();
        if let Some(key) = self.find_pin(call_id, from_tag, to_tag) {
            self.unpin(&key);
        }
    }

    fn find_pin(&self, call_id: &str, from_tag: &str, to_tag: &str) -> Option<(String, String)> {
        let k1 = (call_id.to_string(), from_tag.to_string());
        if self.pins.contains_key(&k1) {
            return Some(k1);
        }
        let k2 = (call_id.to_string(), to_tag.to_string());
        (!to_tag.is_empty() && self.pins.contains_key(&k2)).then_some(k2)
    }

    fn unpin(&mut self, key: &(String, String)) -> Option<Pin> {
        let p = self.pins.remove(key)?;
        if let Some(e) = self.entries.iter_mut().find(|e| e.name == p.relay) {
            e.load = e.load.saturating_sub(1);
        }
        Some(p)
    }

    fn ask(&mut self, idx: usize, wire: Wire) -> Answer {
        let timeout = self.cfg.relay_timeout;
        let Some(e) = self.entries.get_mut(idx) else {
            return Answer::Gone;
        };
        e.stats.requests += 1;
        match &e.link {
            Link::Gone => Answer::Gone,
            Link::Local => match (wire, self.local.as_mut()) {
                (Wire::Request(r), Some(h)) => Answer::Line(h.handle(*r)),
                (Wire::Drain, _) => Answer::Line("halting".into()),
                (_, None) => Answer::Gone,
            },
            Link::Remote(h) => {
                let (tx, rx) = crossbeam_channel::bounded(1);
                if !h.send(Outgoing { wire, reply: tx }) {
                    return Answer::Gone;
                }
                match rx.recv_timeout(timeout) {
                    Ok(p) => Answer::Line(p),
                    Err(RecvTimeoutError::Timeout) => {
                        e.stats.timeouts += 1;
                        Answer::Timeout
                    }
                    Err(RecvTimeoutError::Disconnected) => Answer::Gone,
                }
            }
        }
    }

    fn mark_timeout(&mut self, idx: usize) {
        let now = self.now_ms();
        if let Some(e) = self.entries.get_mut(idx) {
            e.unresponsive_since_ms = Some(now);
            let name = e.name.clone();
            self.log(
                LogLevel::Warn,
                format!(
                    "relay {name} did not answer within {} ms: no new sessions for it until it is heard from",
                    self.cfg.relay_timeout.as_millis()
                ),
            );
        }
    }

    /// Relays to try for a new session, in order (see the module documentation).
    fn candidates(&self, media_relay: &str) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].state() == RelayState::Active)
            .collect();
        v.sort_by(|&a, &b| {
            let (ea, eb) = (&self.entries[a], &self.entries[b]);
            ea.load.cmp(&eb.load).then_with(|| ea.name.cmp(&eb.name))
        });
        let want = media_relay.trim();
        if !want.is_empty() {
            if let Some(pos) = v.iter().position(|&i| {
                let e = &self.entries[i];
                e.name == want || e.peer.is_some_and(|p| p.to_string() == want)
            }) {
                let i = v.remove(pos);
                v.insert(0, i);
            }
        }
        v
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.name == name)
    }

    fn update(&mut self, u: UpdateRequest) -> String {
        if let Some(key) = self.find_pin(&u.call_id, &u.from_tag, &u.to_tag) {
            let relay = self
                .pins
                .get(&key)
                .map(|p| p.relay.clone())
                .unwrap_or_default();
            if let Some(p) = self.pins.get_mut(&key) {
                if p.to_tag.is_empty() && key.1 == u.from_tag {
                    p.to_tag.clone_from(&u.to_tag);
                }
            }
            let Some(idx) = self.index_of(&relay) else {
                return "error".into();
            };
            let call_id = u.call_id.clone();
            return match self.ask(idx, Wire::Request(Box::new(Request::Update(u)))) {
                Answer::Line(p) if !is_failure(&p) => p,
                Answer::Line(_) => {
                    self.entries[idx].stats.errors += 1;
                    "error".into()
                }
                Answer::Timeout => {
                    self.mark_timeout(idx);
                    "error".into()
                }
                Answer::Gone => {
                    self.log(
                        LogLevel::Warn,
                        format!("update for {call_id}: its relay {relay} is gone"),
                    );
                    "error".into()
                }
            };
        }
        let order = self.candidates(&u.media_relay);
        for idx in order {
            match self.ask(idx, Wire::Request(Box::new(Request::Update(u.clone())))) {
                Answer::Line(p) => {
                    let e = &mut self.entries[idx];
                    match p.trim() {
                        "halting" => {
                            e.halting = true;
                            let name = e.name.clone();
                            self.log(LogLevel::Info, format!("relay {name} is halting"));
                            continue;
                        }
                        t if is_failure(t) => {
                            e.stats.errors += 1;
                            continue;
                        }
                        _ => {}
                    }
                    if codec::parse_update_reply(&p, u.media.len()).is_err() {
                        e.stats.errors += 1;
                        let name = e.name.clone();
                        self.log(
                            LogLevel::Warn,
                            format!("relay {name}: malformed update reply {p:?}"),
                        );
                        continue;
                    }
                    e.load += 1;
                    e.stats.sessions_created += 1;
                    let relay = e.name.clone();
                    self.pins.insert(
                        (u.call_id.clone(), u.from_tag.clone()),
                        Pin {
                            relay,
                            to_tag: u.to_tag.clone(),
                            dialog_id: u.dialog_id.clone(),
                        },
                    );
                    return p;
                }
                Answer::Timeout => self.mark_timeout(idx),
                Answer::Gone => {}
            }
        }
        self.log(
            LogLevel::Warn,
            format!(
                "update for {} (from_tag {}): no relay took the session",
                u.call_id, u.from_tag
            ),
        );
        "error".into()
    }

    fn remove(&mut self, r: RemoveRequest) -> String {
        let Some(key) = self.find_pin(&r.call_id, &r.from_tag, &r.to_tag) else {
            self.log(
                LogLevel::Info,
                format!(
                    "remove for unknown session {} (from_tag {})",
                    r.call_id, r.from_tag
                ),
            );
            return "error".into();
        };
        let Some(pin) = self.unpin(&key) else {
            return "error".into();
        };
        let Some(idx) = self.index_of(&pin.relay) else {
            return "error".into();
        };
        let local = matches!(self.entries[idx].link, Link::Local);
        let want_stats = r.want_stats;
        let fwd = RemoveRequest {
            want_stats: true,
            ..r
        };
        let stats = match self.ask(idx, Wire::Request(Box::new(Request::Remove(fwd)))) {
            Answer::Line(p) if local => codec::parse_remove_reply(&p).ok(),
            Answer::Line(p) if p.trim() == "error" => None,
            Answer::Line(p) => Some(Some(p)),
            Answer::Timeout => {
                self.mark_timeout(idx);
                None
            }
            Answer::Gone => None,
        };
        match stats {
            Some(Some(json)) if want_stats => format!("removed {json}"),
            Some(_) => "removed".into(),
            None => {
                self.entries[idx].stats.errors += 1;
                "error".into()
            }
        }
    }

    /// A media copy of a running session goes to the session's relay (error when it has none
    /// or its relay is gone).
    fn copy(&mut self, c: crate::control::copy::CopyRequest) -> String {
        let tags = (c.call_id.clone(), c.from_tag.clone(), c.to_tag.clone());
        self.send_pinned("copy", tags, Request::Copy(c))
    }

    fn record(&mut self, r: crate::control::record::RecordRequest) -> String {
        let tags = (r.call_id.clone(), r.from_tag.clone(), r.to_tag.clone());
        self.send_pinned("record", tags, Request::Record(r))
    }

    /// Sends a request about one session (`copy`, `record`) to the relay the session is
    /// pinned to; its answer line as it is.
    fn send_pinned(
        &mut self,
        what: &str,
        (call_id, from_tag, to_tag): (String, String, String),
        req: Request,
    ) -> String {
        let Some(key) = self.find_pin(&call_id, &from_tag, &to_tag) else {
            self.log(
                LogLevel::Info,
                format!("{what} for unknown session {call_id} (from_tag {from_tag})"),
            );
            return "error".into();
        };
        let relay = self
            .pins
            .get(&key)
            .map(|p| p.relay.clone())
            .unwrap_or_default();
        let Some(idx) = self.index_of(&relay) else {
            return "error".into();
        };
        match self.ask(idx, Wire::Request(Box::new(req))) {
            Answer::Line(p) => p,
            Answer::Timeout => {
                self.mark_timeout(idx);
                "error".into()
            }
            Answer::Gone => "error".into(),
        }
    }

    /// The `[from_tag, to_tag]` pairs of a Call-ID's sessions on every connected relay.
    fn tags(&mut self, call_id: &str) -> String {
        let mut pairs = Vec::new();
        for idx in 0..self.entries.len() {
            if matches!(self.entries[idx].link, Link::Gone) {
                continue;
            }
            let req = Request::Tags {
                call_id: call_id.to_string(),
            };
            if let Answer::Line(p) = self.ask(idx, Wire::Request(Box::new(req))) {
                // an original relay does not know `tags` (error): it has none to add
                if let Ok(v) = codec::parse_tags_reply(&p) {
                    pairs.extend(v);
                }
            }
        }
        crate::remote::wire::tags_reply(&pairs)
    }

    /// Asks relay `name` to drain: it takes no new sessions, keeps its running ones and exits
    /// when they have ended. The embedded relay only stops taking new sessions.
    pub fn drain(&mut self, name: &str) -> Result<(), String> {
        self.poll_events();
        let idx = self
            .index_of(name)
            .ok_or_else(|| format!("no relay named {name}"))?;
        match self.ask(idx, Wire::Drain) {
            Answer::Line(p) if p.trim() == "halting" => {
                self.entries[idx].halting = true;
                self.log(LogLevel::Info, format!("relay {name} is draining"));
                Ok(())
            }
            Answer::Line(p) => Err(format!("relay {name} answered {p:?} to drain")),
            Answer::Timeout => Err(format!("relay {name} did not answer")),
            Answer::Gone => Err(format!("relay {name} is not connected")),
        }
    }
}

impl<H: Handler> Handler for Dispatcher<H> {
    fn handle(&mut self, req: Request) -> String {
        self.poll_events();
        match req {
            Request::Update(u) => self.update(u),
            Request::Remove(r) => self.remove(r),
            Request::Copy(c) => self.copy(c),
            Request::Record(r) => self.record(r),
            Request::Tags { call_id } => self.tags(&call_id),
            Request::Sessions => self.sessions(),
            Request::Summary => self.summary(),
            Request::Version => env!("CARGO_PKG_VERSION").to_string(),
            Request::Drain(name) => match self.drain(&name) {
                Ok(()) => "halting".into(),
                Err(e) => {
                    self.log(LogLevel::Warn, format!("drain: {e}"));
                    "error".into()
                }
            },
            Request::Quit => String::new(),
        }
    }

    fn malformed(&mut self, err: &CodecError) {
        match self.local.as_mut() {
            Some(h) => h.malformed(err),
            None => self.log(LogLevel::Warn, format!("malformed control request: {err}")),
        }
    }
}

impl<H: Handler> Drop for Dispatcher<H> {
    fn drop(&mut self) {
        for e in &self.entries {
            if let Link::Remote(h) = &e.link {
                h.shut();
            }
        }
    }
}
