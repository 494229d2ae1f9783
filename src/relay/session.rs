//! The session table: MediaProxy's signalling state machine, sans I/O. Time is a parameter
//! (`now`) of every entry point; sockets and packets live behind the [`Backend`] trait, so the
//! whole offer/answer and timeout logic runs under a fake clock in tests.
//!
//! Keying and direction (`prior-art.md` §1.6):
//! * a session is keyed by Call-ID and the From tag of the message that created it (the
//!   caller's); lookups try the message's From tag, then its To tag;
//! * the party whose SDP a message carries is the caller when `(from_tag == session tag) ==
//!   (type == request)` ("downstream"), else the callee; the reply gives the ports facing the
//!   *other* party (where it will send);
//! * generations: a CSeq pair `(caller_cseq, callee_cseq)`; a greater pair is a new offer, an
//!   equal one an answer (or, from the offerer itself, a refresh), a smaller one is old and only
//!   answered with the current ports (never `None`).
//!
//! Differences from MediaProxy, on purpose:
//! * PRACK/UPDATE fix: while an offer from one party is unanswered, SDP from the other party is
//!   its answer whatever its CSeq (an answer in a PRACK is not a new offer);
//! * a re-offer keeps the relay ports of a stream at the same index with the same media type
//!   (only the offerer's side re-latches if its address changed);
//! * forked answers (several To tags): the last answer wins; the previous latched source becomes
//!   obsolete so stragglers from a losing branch cannot steal the latch;
//! * an answer with more streams than the offer gets port 0 for the extra ones.
//!
//! Timeouts (per stream; a session expires when none of its streams is alive):
//! * no media yet: `setup` (90 s) since the stream was last touched by signalling;
//! * media stopped: `media` (60 s) since the last packet either way;
//! * on hold (either party `sendonly`/`inactive` or address `0.0.0.0`): `hold` (7200 s).
//! * both parties use ICE: the stream ends as an unselected candidate instead ([`ice`]).

use super::counters::Counters;
use super::ice;
use super::json::{self, Obj};
use super::latch::SideConfig;
use super::packet::codec_name;
use crate::control::codec::{MessageType, UpdateRequest};
use crate::media::{Direction, RelayAnswer, StreamDesc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which end of the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Party {
    Caller = 0,
    Callee = 1,
}

impl Party {
    pub fn idx(self) -> usize {
        self as usize
    }
    pub fn other(self) -> Party {
        match self {
            Party::Caller => Party::Callee,
            Party::Callee => Party::Caller,
        }
    }
}

/// A relayed stream as the backend gave it out. `ports[Party::Caller]` is the caller-facing
/// RTP port (the caller sends there; it goes into the SDP the caller receives), RTCP is +1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHandle {
    pub id: u64,
    pub ports: [u16; 2],
}

/// Traffic seen on a stream, indexed by [`Party::idx`] of the *sender*.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    pub first_media: [Option<Instant>; 2],
    pub last_media: [Option<Instant>; 2],
    pub codec: [Option<u8>; 2],
    pub remote: [Option<SocketAddr>; 2],
}

#[derive(Debug)]
pub enum OpenError {
    /// The port range is exhausted.
    Exhausted,
    Io(io::Error),
}

/// Where streams really live: sockets, workers, counters. Faked in tests.
pub trait Backend {
    /// The address to advertise for a new session whose party signalled from `signaling_ip`.
    fn relay_ip(&mut self, signaling_ip: Option<IpAddr>) -> io::Result<IpAddr>;
    /// Allocates and binds two port pairs and starts relaying between them.
    fn open(&mut self, now: Instant) -> Result<StreamHandle, OpenError>;
    /// New signalling for one party of a stream (RTP address; RTCP is derived as port + 1).
    fn configure(&mut self, h: &StreamHandle, party: Party, cfg: SideConfig);
    /// Stops relaying and gives the ports back (they rest before reuse).
    fn close(&mut self, h: &StreamHandle, now: Instant);
    /// Gives back a stream opened for a request that is then refused: free at once.
    fn discard(&mut self, h: &StreamHandle);
    fn snapshot(&self, h: &StreamHandle) -> Snapshot;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub setup: Duration,
    pub media: Duration,
    pub hold: Duration,
}

impl From<&crate::settings::RelayConfig> for Timeouts {
    fn from(c: &crate::settings::RelayConfig) -> Self {
        Timeouts {
            setup: c.setup_timeout,
            media: c.media_timeout,
            hold: c.hold_timeout,
        }
    }
}

impl Default for Timeouts {
    /// The timeouts of the default settings.
    fn default() -> Self {
        Timeouts::from(&crate::settings::RelayConfig::default())
    }
}

#[derive(Debug)]
pub enum TableError {
    /// Port range exhausted.
    NoPorts,
    /// No such session (or a body-less update for an unknown one).
    NotFound,
    Io(io::Error),
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::NoPorts => f.write_str("port range exhausted"),
            TableError::NotFound => f.write_str("no such session"),
            TableError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A session ended by a timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired {
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: String,
    pub dialog_id: Option<String>,
    pub stats_json: String,
    /// Every stream ended as an unselected ICE candidate: not a timeout, the call goes on.
    pub all_streams_ice: bool,
}

struct Slot {
    media_type: String,
    handle: Option<StreamHandle>,
    media: [Option<StreamDesc>; 2],
    created: Instant,
    /// Last time signalling touched the stream (timers count from the later of this and the
    /// last packet).
    timer_base: Instant,
    answered: bool,
}

impl Slot {
    fn on_hold(&self) -> bool {
        self.media.iter().flatten().any(|m| {
            matches!(m.direction, Direction::SendOnly | Direction::Inactive)
                || m.addr.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified())
        })
    }
}

/// A stream as the statistics show it (live or closed).
struct StreamRecord {
    media_type: String,
    status: &'static str,
    timeout_wait: u64,
    snap: Snapshot,
    created: Instant,
    ended: Option<Instant>,
    ports: [u16; 2],
    answered: bool,
}

struct Session {
    call_id: String,
    from_tag: String,
    to_tag: String,
    dialog_id: String,
    from_uri: String,
    to_uri: String,
    ua: [Option<String>; 2],
    relay_ip: IpAddr,
    cseq: Option<(u32, u32)>,
    offer_by: Party,
    answered: bool,
    slots: Vec<Slot>,
    closed: Vec<StreamRecord>,
    start: Option<Instant>,
    last_signal: Instant,
}

/// Closed streams kept per session for the statistics (a re-INVITE loop cannot grow it).
const MAX_CLOSED: usize = 64;
/// Expired sessions remembered so a later `remove` is answered `removed`.
const MAX_TOMBSTONES: usize = 100_000;
const TOMBSTONE_TTL: Duration = Duration::from_secs(3600);

struct Tombstone {
    at: Instant,
    call_id: String,
    tags: [String; 2],
    json: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Offer,
    Answer,
    Refresh,
    Old,
}

pub struct SessionTable<B: Backend> {
    backend: B,
    timeouts: Timeouts,
    counters: &'static Counters,
    sessions: HashMap<String, Vec<Session>>,
    tombstones: VecDeque<Tombstone>,
    wall_base: (Instant, SystemTime),
}

fn parse_signaling_ip(s: &str) -> Option<IpAddr> {
    // MediaProxy also accepts "src_dst" (underscore joined); the first part is the source.
    // The wildcard address is no source: unknown.
    let first = s.split('_').next().unwrap_or("");
    let ip: IpAddr = first
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    (!ip.is_unspecified()).then_some(ip)
}

fn side_config(d: &StreamDesc, signaling_ip: Option<IpAddr>, asymmetric: bool) -> SideConfig {
    let sdp = match d
        .addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) if !ip.is_unspecified() && d.port != 0 => Some(SocketAddr::new(ip, d.port)),
        _ => None,
    };
    SideConfig {
        sdp,
        signaling_ip,
        asymmetric,
    }
}

impl<B: Backend> SessionTable<B> {
    /// `wall_base` maps the monotonic clock to wall time for the statistics (`start_time`).
    pub fn new(
        backend: B,
        timeouts: Timeouts,
        counters: &'static Counters,
        wall_base: (Instant, SystemTime),
    ) -> Self {
        SessionTable {
            backend,
            timeouts,
            counters,
            sessions: HashMap::new(),
            tombstones: VecDeque::new(),
            wall_base,
        }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub fn session_count(&self) -> usize {
        self.sessions.values().map(Vec::len).sum()
    }

    /// Live streams (with relay ports) per media type.
    pub fn stream_counts(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for s in self.sessions.values().flatten() {
            for sl in s.slots.iter().filter(|sl| sl.handle.is_some()) {
                *m.entry(sl.media_type.clone()).or_insert(0) += 1;
            }
        }
        m
    }

    /// The relay ports (pair bases) of the session for these tags, if it exists.
    pub fn relay_ports(&self, call_id: &str, from_tag: &str, to_tag: &str) -> Option<Vec<u16>> {
        let s = self
            .sessions
            .get(call_id)?
            .get(self.find(call_id, from_tag, to_tag)?)?;
        Some(
            s.slots
                .iter()
                .filter_map(|sl| sl.handle)
                .flat_map(|h| h.ports)
                .collect(),
        )
    }

    fn find(&self, call_id: &str, from_tag: &str, to_tag: &str) -> Option<usize> {
        let list = self.sessions.get(call_id)?;
        list.iter()
            .position(|s| s.from_tag == from_tag)
            .or_else(|| {
                list.iter()
                    .position(|s| !to_tag.is_empty() && s.from_tag == to_tag)
            })
    }

    fn close_slot(
        backend: &mut B,
        counters: &Counters,
        s: &mut Session,
        mut slot: Slot,
        status: &'static str,
        now: Instant,
        timeouts: &Timeouts,
    ) {
        if let Some(h) = slot.handle.take() {
            let snap = backend.snapshot(&h);
            backend.close(&h, now);
            Counters::sub(&counters.streams_active, 1);
            if slot.answered || snap.packets.iter().any(|&p| p > 0) {
                if s.closed.len() >= MAX_CLOSED {
                    s.closed.remove(0);
                }
                let wait = timeout_wait(&slot, &snap, timeouts);
                s.closed.push(StreamRecord {
                    media_type: slot.media_type,
                    status,
                    timeout_wait: wait,
                    snap,
                    created: slot.created,
                    ended: Some(now),
                    ports: h.ports,
                    answered: slot.answered,
                });
            }
        }
    }

    /// Handles one `update`. The answer has one port per stream of the request (0 for a
    /// stream the relay does not serve); with no streams (body-less 200 OK) it is the IP alone.
    pub fn update(&mut self, req: &UpdateRequest, now: Instant) -> Result<RelayAnswer, TableError> {
        let sig_ip = parse_signaling_ip(&req.signaling_ip);
        let (found, created) = match self.find(&req.call_id, &req.from_tag, &req.to_tag) {
            Some(i) => (i, false),
            None => {
                if req.media.is_empty() {
                    return Err(TableError::NotFound);
                }
                let relay_ip = self.backend.relay_ip(sig_ip).map_err(TableError::Io)?;
                let list = self.sessions.entry(req.call_id.clone()).or_default();
                list.push(Session {
                    call_id: req.call_id.clone(),
                    from_tag: req.from_tag.clone(),
                    to_tag: String::new(),
                    dialog_id: String::new(),
                    from_uri: req.from_uri.clone(),
                    to_uri: req.to_uri.clone(),
                    ua: [None, None],
                    relay_ip,
                    cseq: None,
                    offer_by: Party::Caller,
                    answered: false,
                    slots: Vec::new(),
                    closed: Vec::new(),
                    start: None,
                    last_signal: now,
                });
                (list.len() - 1, true)
            }
        };
        let result = self.apply(req, found, sig_ip, now);
        match &result {
            Ok(_) if created => {
                Counters::add(&self.counters.sessions_created, 1);
                Counters::add(&self.counters.sessions_active, 1);
            }
            Err(_) if created => {
                if let Some(list) = self.sessions.get_mut(&req.call_id) {
                    list.pop();
                    if list.is_empty() {
                        self.sessions.remove(&req.call_id);
                    }
                }
            }
            _ => {}
        }
        result
    }

    fn apply(
        &mut self,
        req: &UpdateRequest,
        idx: usize,
        sig_ip: Option<IpAddr>,
        now: Instant,
    ) -> Result<RelayAnswer, TableError> {
        let timeouts = self.timeouts;
        let counters = self.counters;
        let backend = &mut self.backend;
        let Some(s) = self
            .sessions
            .get_mut(&req.call_id)
            .and_then(|l| l.get_mut(idx))
        else {
            return Err(TableError::NotFound);
        };
        let caller_space = req.from_tag == s.from_tag;
        let is_request = req.kind == MessageType::Request;
        let party = if caller_space == is_request {
            Party::Caller
        } else {
            Party::Callee
        };
        let cur = s.cseq.unwrap_or((0, 0));
        let pair = if caller_space {
            (req.cseq, cur.1)
        } else {
            (cur.0, req.cseq)
        };

        s.last_signal = now;
        if !req.dialog_id.is_empty() {
            s.dialog_id = req.dialog_id.clone();
        }
        if s.ua[party.idx()].is_none() && !req.user_agent.is_empty() {
            s.ua[party.idx()] = Some(req.user_agent.clone());
        }
        if caller_space {
            if !req.to_tag.is_empty() && (s.to_tag.is_empty() || !is_request) {
                s.to_tag = req.to_tag.clone();
            }
        } else if s.to_tag.is_empty() {
            s.to_tag = req.from_tag.clone();
        }

        if req.media.is_empty() {
            // body-less 200 OK: only stamps the start
            if !is_request {
                s.start.get_or_insert(now);
            }
            return Ok(RelayAnswer {
                ip: s.relay_ip,
                ports: Vec::new(),
            });
        }

        let kind = if s.cseq.is_none() {
            Kind::Offer
        } else if !s.answered && s.offer_by == party.other() {
            Kind::Answer
        } else if pair > cur {
            Kind::Offer
        } else if pair == cur {
            if s.offer_by == party {
                Kind::Refresh
            } else {
                Kind::Answer
            }
        } else {
            Kind::Old
        };

        match kind {
            Kind::Offer => {
                // open every new stream first, so a failure leaves the session as it was
                let mut opened: Vec<Option<StreamHandle>> = Vec::with_capacity(req.media.len());
                for (i, d) in req.media.iter().enumerate() {
                    let reuse = s
                        .slots
                        .get(i)
                        .is_some_and(|sl| sl.handle.is_some() && sl.media_type == d.media_type);
                    if d.port == 0 || reuse {
                        opened.push(None);
                        continue;
                    }
                    match backend.open(now) {
                        Ok(h) => opened.push(Some(h)),
                        Err(e) => {
                            for h in opened.iter().flatten() {
                                backend.discard(h);
                            }
                            return Err(match e {
                                OpenError::Exhausted => TableError::NoPorts,
                                OpenError::Io(e) => TableError::Io(e),
                            });
                        }
                    }
                }
                let old: Vec<Slot> = std::mem::take(&mut s.slots);
                let mut old = old.into_iter().map(Some).collect::<Vec<_>>();
                let mut slots = Vec::with_capacity(req.media.len());
                for (i, (d, new)) in req.media.iter().zip(opened).enumerate() {
                    let prev = old.get_mut(i).and_then(Option::take);
                    let cfg = side_config(d, sig_ip, req.asymmetric);
                    let slot = match (new, prev) {
                        (None, Some(mut p)) if d.port != 0 => {
                            // same index, same type: keep the ports
                            if let Some(h) = &p.handle {
                                backend.configure(h, party, cfg);
                            }
                            p.media[party.idx()] = Some(d.clone());
                            p.timer_base = now;
                            p
                        }
                        (new, prev) => {
                            if let Some(p) = prev {
                                Self::close_slot(backend, counters, s, p, "closed", now, &timeouts);
                            }
                            if let Some(h) = &new {
                                Counters::add(&counters.streams_active, 1);
                                backend.configure(h, party, cfg);
                            }
                            let mut media = [None, None];
                            media[party.idx()] = Some(d.clone());
                            Slot {
                                media_type: d.media_type.clone(),
                                handle: new,
                                media,
                                created: now,
                                timer_base: now,
                                answered: false,
                            }
                        }
                    };
                    slots.push(slot);
                }
                for p in old.into_iter().flatten() {
                    Self::close_slot(backend, counters, s, p, "closed", now, &timeouts);
                }
                s.slots = slots;
                s.cseq = Some(pair);
                s.offer_by = party;
                s.answered = false;
            }
            Kind::Answer | Kind::Refresh => {
                if kind == Kind::Answer {
                    s.answered = true;
                    s.start.get_or_insert(now);
                }
                for (i, d) in req.media.iter().enumerate() {
                    let Some(slot) = s.slots.get_mut(i) else {
                        break;
                    };
                    if slot.handle.is_none() || slot.media_type != d.media_type {
                        continue;
                    }
                    slot.media[party.idx()] = Some(d.clone());
                    slot.timer_base = now;
                    if d.port == 0 {
                        let taken = Slot {
                            media_type: slot.media_type.clone(),
                            handle: slot.handle.take(),
                            media: slot.media.clone(),
                            created: slot.created,
                            timer_base: now,
                            answered: slot.answered,
                        };
                        let status = if kind == Kind::Answer {
                            "rejected"
                        } else {
                            "closed"
                        };
                        Self::close_slot(backend, counters, s, taken, status, now, &timeouts);
                        continue;
                    }
                    if let Some(h) = &slot.handle {
                        backend.configure(h, party, side_config(d, sig_ip, req.asymmetric));
                    }
                    if kind == Kind::Answer {
                        slot.answered = true;
                    }
                }
            }
            Kind::Old => {}
        }

        let ports = req
            .media
            .iter()
            .enumerate()
            .map(|(i, d)| match s.slots.get(i) {
                Some(sl) if d.port != 0 && sl.media_type == d.media_type => {
                    sl.handle.map_or(0, |h| h.ports[party.other().idx()])
                }
                _ => 0,
            })
            .collect();
        Ok(RelayAnswer {
            ip: s.relay_ip,
            ports,
        })
    }

    /// Handles one `remove`: ends the session and returns its statistics JSON. A session that
    /// already expired is answered from its tombstone.
    pub fn remove(
        &mut self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        now: Instant,
    ) -> Option<String> {
        if let Some(idx) = self.find(call_id, from_tag, to_tag) {
            let s = self.take(call_id, idx)?;
            let json = self.finish(s, "closed", false, now).0;
            Counters::add(&self.counters.sessions_ended, 1);
            Counters::sub(&self.counters.sessions_active, 1);
            return Some(json);
        }
        let pos = self.tombstones.iter().position(|t| {
            t.call_id == call_id
                && (t.tags.iter().any(|x| !x.is_empty() && x == from_tag)
                    || (!to_tag.is_empty() && t.tags.iter().any(|x| x == to_tag)))
        })?;
        self.tombstones.remove(pos).map(|t| t.json)
    }

    fn take(&mut self, call_id: &str, idx: usize) -> Option<Session> {
        let list = self.sessions.get_mut(call_id)?;
        if idx >= list.len() {
            return None;
        }
        let s = list.remove(idx);
        if list.is_empty() {
            self.sessions.remove(call_id);
        }
        Some(s)
    }

    /// Closes every stream of a session (with `status`, or its timeout status) and returns its
    /// JSON and whether an expired one was all unselected ICE candidates.
    fn finish(
        &mut self,
        mut s: Session,
        status: &'static str,
        timed_out: bool,
        now: Instant,
    ) -> (String, bool) {
        let slots = std::mem::take(&mut s.slots);
        for sl in slots {
            let st = if timed_out {
                ice::expiry_status(&sl.media, sl.on_hold())
            } else {
                status
            };
            Self::close_slot(
                &mut self.backend,
                self.counters,
                &mut s,
                sl,
                st,
                now,
                &self.timeouts,
            );
        }
        let answered = s.closed.iter().filter(|r| r.answered);
        let all_ice = timed_out && ice::all_unselected(answered.map(|r| r.status));
        let json = self.session_json(&s, timed_out.then_some(all_ice), now);
        (json, all_ice)
    }

    /// Checks every timer. Expired sessions are ended and returned with their statistics.
    pub fn tick(&mut self, now: Instant) -> Vec<Expired> {
        let mut dead: Vec<(String, usize)> = Vec::new();
        for (call_id, list) in &self.sessions {
            for (i, s) in list.iter().enumerate() {
                if !self.alive(s, now) {
                    dead.push((call_id.clone(), i));
                }
            }
        }
        // remove from the back so indices stay valid
        dead.sort_by(|a, b| b.cmp(a));
        let mut out = Vec::with_capacity(dead.len());
        for (call_id, i) in dead {
            let Some(s) = self.take(&call_id, i) else {
                continue;
            };
            let (from_tag, to_tag) = (s.from_tag.clone(), s.to_tag.clone());
            let dialog_id = (!s.dialog_id.is_empty()).then(|| s.dialog_id.clone());
            let (json, all_streams_ice) = self.finish(s, "", true, now);
            Counters::add(ice::expiry_counter(self.counters, all_streams_ice), 1);
            Counters::add(&self.counters.sessions_ended, 1);
            Counters::sub(&self.counters.sessions_active, 1);
            if self.tombstones.len() >= MAX_TOMBSTONES {
                self.tombstones.pop_front();
            }
            self.tombstones.push_back(Tombstone {
                at: now,
                call_id: call_id.clone(),
                tags: [from_tag.clone(), to_tag.clone()],
                json: json.clone(),
            });
            out.push(Expired {
                call_id,
                from_tag,
                to_tag,
                dialog_id,
                stats_json: json,
                all_streams_ice,
            });
        }
        while self
            .tombstones
            .front()
            .is_some_and(|t| now.saturating_duration_since(t.at) > TOMBSTONE_TTL)
        {
            self.tombstones.pop_front();
        }
        out
    }

    fn alive(&self, s: &Session, now: Instant) -> bool {
        let mut any = false;
        for sl in &s.slots {
            let Some(h) = &sl.handle else { continue };
            any = true;
            let snap = self.backend.snapshot(h);
            let last_media = snap.last_media.iter().flatten().max().copied();
            let limit = stream_timeout(sl, &snap, &self.timeouts);
            let last = last_media.map_or(sl.timer_base, |m| m.max(sl.timer_base));
            if now.saturating_duration_since(last) < limit {
                return true;
            }
        }
        // no stream with relay ports (all port 0): give signalling the setup time
        !any && now.saturating_duration_since(s.last_signal) < self.timeouts.setup
    }

    fn wall(&self, t: Instant) -> f64 {
        let (base_i, base_w) = self.wall_base;
        let w = if t >= base_i {
            base_w + (t - base_i)
        } else {
            base_w - (base_i - t)
        };
        w.duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    fn records(&self, s: &Session) -> Vec<StreamRecord> {
        let mut v: Vec<StreamRecord> = Vec::with_capacity(s.closed.len() + s.slots.len());
        for r in &s.closed {
            v.push(StreamRecord {
                media_type: r.media_type.clone(),
                status: r.status,
                timeout_wait: r.timeout_wait,
                snap: r.snap,
                created: r.created,
                ended: r.ended,
                ports: r.ports,
                answered: r.answered,
            });
        }
        for sl in &s.slots {
            let Some(h) = &sl.handle else { continue };
            let snap = self.backend.snapshot(h);
            v.push(StreamRecord {
                media_type: sl.media_type.clone(),
                status: if sl.on_hold() { "on hold" } else { "active" },
                timeout_wait: timeout_wait(sl, &snap, &self.timeouts),
                snap,
                created: sl.created,
                ended: None,
                ports: h.ports,
                answered: sl.answered,
            });
        }
        v.retain(|r| r.answered);
        v.sort_by_key(|r| r.created);
        v
    }

    /// `expiry`: `Some(all_streams_ice)` for a session that expired.
    fn session_json(&self, s: &Session, expiry: Option<bool>, now: Instant) -> String {
        let mut out = String::with_capacity(512);
        let base = s.start.unwrap_or(now);
        let rel = |t: Instant| -> f64 {
            if t >= base {
                (t - base).as_secs_f64()
            } else {
                0.0
            }
        };
        let mut o = Obj::new(&mut out);
        o.str("call_id", &s.call_id)
            .str("from_tag", &s.from_tag)
            .str("from_uri", &s.from_uri)
            .str("to_tag", &s.to_tag)
            .str("to_uri", &s.to_uri)
            .opt_f64("start_time", s.start.map(|t| self.wall(t)))
            .u64(
                "duration",
                s.start
                    .map_or(0, |t| now.saturating_duration_since(t).as_secs()),
            )
            .str("caller_ua", s.ua[0].as_deref().unwrap_or("Unknown"))
            .str("callee_ua", s.ua[1].as_deref().unwrap_or("Unknown"))
            .raw("username", "null")
            .opt_str(
                "dialog_id",
                (!s.dialog_id.is_empty()).then_some(s.dialog_id.as_str()),
            )
            .bool("timed_out", expiry == Some(false));
        if let Some(all_ice) = expiry {
            o.bool("all_streams_ice", all_ice);
        }
        let mut streams = String::from("[");
        for (i, r) in self.records(s).iter().enumerate() {
            if i > 0 {
                streams.push(',');
            }
            let local = |p: u16| SocketAddr::new(s.relay_ip, p).to_string();
            let remote =
                |a: Option<SocketAddr>| a.map_or_else(|| "Unknown".to_string(), |a| a.to_string());
            let first = r.snap.first_media.iter().flatten().min().copied();
            let mut so = Obj::new(&mut streams);
            so.str("media_type", &r.media_type)
                .str("status", r.status)
                .u64("timeout_wait", r.timeout_wait)
                .str("caller_codec", &codec_name(r.snap.codec[0]))
                .str("callee_codec", &codec_name(r.snap.codec[1]))
                .f64("start_time", rel(r.created))
                .opt_f64("end_time", r.ended.map(rel))
                .opt_f64(
                    "post_dial_delay",
                    first.map(|f| f.saturating_duration_since(r.created).as_secs_f64()),
                )
                .u64("caller_bytes", r.snap.bytes[0])
                .u64("callee_bytes", r.snap.bytes[1])
                .u64("caller_packets", r.snap.packets[0])
                .u64("callee_packets", r.snap.packets[1])
                .str("caller_local", &local(r.ports[0]))
                .str("callee_local", &local(r.ports[1]))
                .str("caller_remote", &remote(r.snap.remote[0]))
                .str("callee_remote", &remote(r.snap.remote[1]));
            so.finish();
        }
        streams.push(']');
        o.raw("streams", &streams);
        o.finish();
        out
    }

    /// `sessions`: one JSON array of every session.
    pub fn sessions_json(&self, now: Instant) -> String {
        let mut out = String::from("[");
        let mut first = true;
        for s in self.sessions.values().flatten() {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&self.session_json(s, None, now));
        }
        out.push(']');
        out
    }

    /// The statistics JSON of one session, if it exists.
    pub fn session_stats(
        &self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        now: Instant,
    ) -> Option<String> {
        let i = self.find(call_id, from_tag, to_tag)?;
        let s = self.sessions.get(call_id)?.get(i)?;
        Some(self.session_json(s, None, now))
    }

    /// Ends every session (shutdown), returning nothing: the statistics are dropped.
    pub fn clear(&mut self, now: Instant) {
        let keys: Vec<String> = self.sessions.keys().cloned().collect();
        for k in keys {
            while let Some(s) = self.take(&k, 0) {
                let _ = self.finish(s, "closed", false, now);
                Counters::add(&self.counters.sessions_ended, 1);
                Counters::sub(&self.counters.sessions_active, 1);
            }
        }
    }
}

/// The timeout that applies to a stream: `hold` on hold, else `setup` before any media and
/// `media` after (see the module notes).
fn stream_timeout(sl: &Slot, snap: &Snapshot, t: &Timeouts) -> Duration {
    if sl.on_hold() {
        t.hold
    } else if snap.last_media.iter().all(Option::is_none) {
        t.setup
    } else {
        t.media
    }
}

/// `timeout_wait` of the statistics: the timeout the stream waits (or waited) for.
fn timeout_wait(sl: &Slot, snap: &Snapshot, t: &Timeouts) -> u64 {
    stream_timeout(sl, snap, t).as_secs()
}

/// Appends `s` as a JSON string (re-exported for the engine's summary).
pub fn json_string(out: &mut String, s: &str) {
    json::string(out, s)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
