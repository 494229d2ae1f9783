//! Ending sessions by time: the table's next deadline, [`SessionTable::tick`] (the sessions
//! whose deadline came: ended when they timed out, filed again otherwise) and the tombstone an
//! expired session leaves for a later `remove`.

use super::{
    ice, timers, Backend, Expired, Session, SessionTable, Tombstone, MAX_TOMBSTONES, TOMBSTONE_TTL,
};
use crate::relay::counters::Counters;
use std::time::{Duration, Instant};

impl<B: Backend> SessionTable<B> {
    /// When [`SessionTable::tick`] next has something to do (a session may have timed out, a
    /// tombstone may be old enough to drop); `None`: nothing is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        let tomb = self
            .tombstones
            .front()
            .map(|t| t.at + TOMBSTONE_TTL + Duration::from_millis(1));
        match (self.timers.next(), tomb) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Checks the sessions whose deadline has come (see [`timers`]): those that timed out are
    /// ended and returned with their statistics, the others filed again.
    pub fn tick(&mut self, now: Instant) -> Vec<Expired> {
        let mut out = Vec::new();
        for (id, call_id) in self.timers.take_due(now) {
            let Some(i) = self
                .sessions
                .get(&call_id)
                .and_then(|l| l.iter().position(|s| s.id == id))
            else {
                continue;
            };
            let still = self
                .sessions
                .get(&call_id)
                .and_then(|l| l.get(i))
                .is_some_and(|s| timers::alive(&self.backend, s, &self.timeouts, now));
            if still {
                self.refile(&call_id, i, now);
                continue;
            }
            let Some(s) = self.take(&call_id, i) else {
                continue;
            };
            out.push(self.expire(s, now));
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

    /// Ends a session that timed out: counts it, leaves a tombstone for a later `remove`.
    fn expire(&mut self, s: Session, now: Instant) -> Expired {
        let (call_id, from_tag, to_tag) = (s.call_id.clone(), s.from_tag.clone(), s.to_tag.clone());
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
        Expired {
            call_id,
            from_tag,
            to_tag,
            dialog_id,
            stats_json: json,
            all_streams_ice,
        }
    }
}
