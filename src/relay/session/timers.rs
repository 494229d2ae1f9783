//! When sessions may expire: the table keeps, per session, the earliest instant it can time
//! out (a lower bound, see [`session_deadline`]) in an ordered index, so that a tick visits only
//! the sessions that are due and the control thread knows how long it may sleep (as quinn-proto's
//! and str0m's `poll_timeout`).
//!
//! Why a lower bound: a stream's last packet time lives in the workers' atomics and only grows,
//! so the expiry computed from it now can only move later. A due session is checked again with
//! the exact rule ([`alive`]); one still alive is filed again under its new bound.

use super::{Backend, Session, Slot, Snapshot, Timeouts};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The timeout that applies to a stream: `hold` on hold, else `setup` before any media and
/// `media` after (see the module notes).
pub(super) fn stream_timeout(sl: &Slot, snap: &Snapshot, t: &Timeouts) -> Duration {
    if sl.on_hold() {
        t.hold
    } else if snap.last_media.iter().all(Option::is_none) {
        t.setup
    } else {
        t.media
    }
}

/// When the stream's timer started: the later of its last signalling and its last packet.
fn timer_start(sl: &Slot, snap: &Snapshot) -> Instant {
    let last_media = snap.last_media.iter().flatten().max().copied();
    last_media.map_or(sl.timer_base, |m| m.max(sl.timer_base))
}

fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .unwrap_or(t + Duration::from_secs(86_400 * 365))
}

/// Whether a session is alive at `now`: one of its streams has not run out its timeout, or,
/// with no stream holding relay ports (all port 0), signalling is younger than `setup`.
pub(super) fn alive<B: Backend>(b: &B, s: &Session, t: &Timeouts, now: Instant) -> bool {
    let mut any = false;
    for sl in &s.slots {
        let Some(h) = &sl.handle else { continue };
        any = true;
        let snap = b.snapshot(h);
        if now.saturating_duration_since(timer_start(sl, &snap)) < stream_timeout(sl, &snap, t) {
            return true;
        }
    }
    !any && now.saturating_duration_since(s.last_signal) < t.setup
}

/// The earliest instant the session can be dead by [`alive`]'s rule, as known at `now`. A
/// stream that has had no media yet may still get some and then stop: its bound is the sooner
/// of the setup timeout and the media timeout counted from now.
pub(super) fn session_deadline<B: Backend>(
    b: &B,
    s: &Session,
    t: &Timeouts,
    now: Instant,
) -> Instant {
    let mut deadline: Option<Instant> = None;
    for sl in &s.slots {
        let Some(h) = &sl.handle else { continue };
        let snap = b.snapshot(h);
        let mut due = later(timer_start(sl, &snap), stream_timeout(sl, &snap, t));
        if !sl.on_hold() && snap.last_media.iter().all(Option::is_none) {
            due = due.min(later(now.max(sl.timer_base), t.media));
        }
        deadline = Some(deadline.map_or(due, |d| d.max(due)));
    }
    deadline.unwrap_or_else(|| later(s.last_signal, t.setup))
}

/// Sessions by deadline: `(deadline, session id)` → Call-ID. Each session has at most one entry
/// (the one its `deadline` field names), replaced whenever it is filed again.
#[derive(Default)]
pub(super) struct Timers {
    due: BTreeMap<(Instant, u64), String>,
}

impl Timers {
    /// Files the session under `at`, replacing its previous entry.
    pub fn file(&mut self, s: &mut Session, at: Instant) {
        self.unfile(s);
        self.due.insert((at, s.id), s.call_id.clone());
        s.deadline = Some(at);
    }

    pub fn unfile(&mut self, s: &mut Session) {
        if let Some(at) = s.deadline.take() {
            self.due.remove(&(at, s.id));
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.due.keys().next().map(|(at, _)| *at)
    }

    /// Takes every entry due at `now`: `(session id, Call-ID)`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, id), call_id) = entry.remove_entry();
            out.push((id, call_id));
        }
        out
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.due.len()
    }
}
