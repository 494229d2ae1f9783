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
//!
//! The table files each session under the earliest instant it can time out ([`timers`]) and
//! reports the next one ([`SessionTable::next_deadline`]); [`SessionTable::tick`] looks only at
//! the sessions that are due. The cases of an `update` are in [`apply`], the statistics JSON in
//! [`stats`].

mod apply;
mod expiry;
pub mod recording;
mod stats;
mod timers;

use super::counters::Counters;
use super::ice;
use super::interfaces::{Facing, Want};
use super::latch::SideConfig;
use crate::control::codec::UpdateRequest;
use crate::media::{Direction, RelayAnswer, StreamDesc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};
use timers::Timers;

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
    /// Packets sent to media copies (recording), by sender.
    pub copied: [u64; 2],
}

#[derive(Debug)]
pub enum OpenError {
    /// The port range is exhausted.
    Exhausted,
    Io(io::Error),
}

/// Where streams really live: sockets, workers, counters. Faked in tests.
pub trait Backend {
    /// Which interface faces each party of a new session (what `want` asks for; see
    /// [`crate::relay::interfaces`]) and the address to advertise to each; `signaling_ip` is
    /// where the creating party signalled from.
    fn facing(&mut self, signaling_ip: Option<IpAddr>, want: &Want) -> io::Result<Facing>;
    /// Allocates and binds two port pairs, each on the interface `iface[party]`, and starts
    /// relaying between them.
    fn open(&mut self, now: Instant, iface: [usize; 2]) -> Result<StreamHandle, OpenError>;
    /// New signalling for one party of a stream (RTP address; RTCP is derived as port + 1).
    fn configure(&mut self, h: &StreamHandle, party: Party, cfg: SideConfig);
    /// Stops relaying and gives the ports back (they rest before reuse).
    fn close(&mut self, h: &StreamHandle, now: Instant);
    /// Gives back a stream opened for a request that is then refused: free at once.
    fn discard(&mut self, h: &StreamHandle);
    fn snapshot(&self, h: &StreamHandle) -> Snapshot;
    /// Starts a recording of a session with this Call-ID: its key and file, `None` when the
    /// backend records nothing ([`recording`]).
    fn record_open(&mut self, _call_id: &str) -> Option<(u64, String)> {
        None
    }
    /// Records a stream (both parties, RTP and RTCP) under recording `key`; the session
    /// advertises `relay_ip` to each party. Called again for a stream recorded already: nothing
    /// changes.
    fn record_stream(&mut self, _h: &StreamHandle, _key: u64, _relay_ip: [IpAddr; 2]) {}
    /// Ends recording `key`: its streams stop being recorded and its file is closed.
    fn record_close(&mut self, _key: u64, _now: Instant) {}
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
                || m.ip().is_some_and(|ip| ip.is_unspecified())
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
    /// The interface facing each party and the address the SDP that party receives names.
    facing: Facing,
    cseq: Option<(u32, u32)>,
    offer_by: Party,
    answered: bool,
    slots: Vec<Slot>,
    closed: Vec<StreamRecord>,
    start: Option<Instant>,
    last_signal: Instant,
    /// The table's own number for the session (its key in the timers).
    id: u64,
    /// Where the session is filed in the timers.
    deadline: Option<Instant>,
    /// The session's recording (key and file), while it records.
    recording: Option<(u64, String)>,
    /// The session's last recording file (kept after a stop, for the statistics).
    recorded: Option<String>,
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

pub struct SessionTable<B: Backend> {
    backend: B,
    timeouts: Timeouts,
    counters: &'static Counters,
    sessions: HashMap<String, Vec<Session>>,
    tombstones: VecDeque<Tombstone>,
    wall_base: (Instant, SystemTime),
    timers: Timers,
    next_id: u64,
    /// Every session is recorded from its first answer (`record_all`).
    record_all: bool,
}

fn side_config(d: &StreamDesc, signaling_ip: Option<IpAddr>, asymmetric: bool) -> SideConfig {
    SideConfig {
        sdp: d.socket_addr(),
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
            timers: Timers::default(),
            next_id: 0,
            record_all: false,
        }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    pub fn session_count(&self) -> usize {
        self.sessions.values().map(Vec::len).sum()
    }

    /// Live streams (with relay ports) per media type.
    fn stream_counts(&self) -> BTreeMap<String, u64> {
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

    /// The advertised address and the stream handles (by stream index; `None`: no relay
    /// ports) of the session for these tags, if it exists (media copies, `relay/mirror.rs`).
    pub fn stream_handles(
        &self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
    ) -> Option<(IpAddr, Vec<Option<StreamHandle>>)> {
        let s = self
            .sessions
            .get(call_id)?
            .get(self.find(call_id, from_tag, to_tag)?)?;
        Some((s.facing.ip[0], s.slots.iter().map(|sl| sl.handle).collect()))
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
                let wait = stats::timeout_wait(&slot, &snap, timeouts);
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
        let sig_ip = crate::media::signaling_ip(&req.signaling_ip);
        let (found, created) = match self.find(&req.call_id, &req.from_tag, &req.to_tag) {
            Some(i) => (i, false),
            None => {
                if req.media.is_empty() {
                    return Err(TableError::NotFound);
                }
                let facing = self
                    .backend
                    .facing(sig_ip, &Want::of_creating(req))
                    .map_err(TableError::Io)?;
                self.next_id += 1;
                let id = self.next_id;
                let list = self.sessions.entry(req.call_id.clone()).or_default();
                list.push(Session {
                    call_id: req.call_id.clone(),
                    from_tag: req.from_tag.clone(),
                    to_tag: String::new(),
                    dialog_id: String::new(),
                    from_uri: req.from_uri.clone(),
                    to_uri: req.to_uri.clone(),
                    ua: [None, None],
                    facing,
                    cseq: None,
                    offer_by: Party::Caller,
                    answered: false,
                    slots: Vec::new(),
                    closed: Vec::new(),
                    start: None,
                    last_signal: now,
                    id,
                    deadline: None,
                    recording: None,
                    recorded: None,
                });
                (list.len() - 1, true)
            }
        };
        let was_answered = self.answered(&req.call_id, found);
        let result = self.apply(req, found, sig_ip, now);
        if result.is_ok() {
            self.keep_recording(&req.call_id, found, was_answered);
        }
        match &result {
            Ok(_) if created => {
                Counters::add(&self.counters.sessions_created, 1);
                Counters::add(&self.counters.sessions_active, 1);
            }
            Err(_) if created => {
                let _ = self.take(&req.call_id, found);
                return result;
            }
            _ => {}
        }
        // signalling may have changed every timer of the session
        self.refile(&req.call_id, found, now);
        result
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
        let mut s = list.remove(idx);
        if list.is_empty() {
            self.sessions.remove(call_id);
        }
        self.timers.unfile(&mut s);
        Some(s)
    }

    /// Files the session at `idx` of `call_id` under its current deadline.
    fn refile(&mut self, call_id: &str, idx: usize, now: Instant) {
        let Some(s) = self.sessions.get_mut(call_id).and_then(|l| l.get_mut(idx)) else {
            return;
        };
        let at = timers::session_deadline(&self.backend, s, &self.timeouts, now);
        self.timers.file(s, at);
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
        if let Some((key, _)) = &s.recording {
            self.backend.record_close(*key, now);
        }
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

#[cfg(test)]
mod tests;
