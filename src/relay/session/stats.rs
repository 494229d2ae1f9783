//! The statistics of a session as MediaProxy writes them (`sessions`, `remove` with `stats:
//! yes`, expiry events): one JSON object per session with its streams, closed streams of
//! earlier generations included. The JSON writer itself is [`crate::relay::json`].

use super::timers::stream_timeout;
use super::{Backend, Session, SessionTable, Slot, Snapshot, StreamRecord, Timeouts};
use crate::relay::counters::Counters;
use crate::relay::json::{self, Obj};
use crate::relay::packet::codec_name;
use std::net::SocketAddr;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// `timeout_wait` of the statistics: the timeout the stream waits (or waited) for.
pub(super) fn timeout_wait(sl: &Slot, snap: &Snapshot, t: &Timeouts) -> u64 {
    stream_timeout(sl, snap, t).as_secs()
}

impl<B: Backend> SessionTable<B> {
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
    pub(super) fn session_json(&self, s: &Session, expiry: Option<bool>, now: Instant) -> String {
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
        if let Some(path) = &s.recorded {
            o.str("recording", path);
        }
        if let Some(all_ice) = expiry {
            o.bool("all_streams_ice", all_ice);
        }
        let mut streams = String::from("[");
        for (i, r) in self.records(s).iter().enumerate() {
            if i > 0 {
                streams.push(',');
            }
            let local =
                |party: usize| SocketAddr::new(s.facing.ip[party], r.ports[party]).to_string();
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
                .str("caller_local", &local(0))
                .str("callee_local", &local(1))
                .str("caller_remote", &remote(r.snap.remote[0]))
                .str("callee_remote", &remote(r.snap.remote[1]));
            if r.snap.copied != [0, 0] {
                // recorded streams only (an addition to MediaProxy's fields)
                so.u64("caller_copied", r.snap.copied[0])
                    .u64("callee_copied", r.snap.copied[1]);
            }
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

    /// `tags`: the `[from_tag, to_tag]` pairs of a Call-ID's sessions, as a JSON array.
    pub fn tags_json(&self, call_id: &str) -> String {
        let mut out = String::from("[");
        for (i, s) in self.sessions.get(call_id).into_iter().flatten().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            json::string(&mut out, &s.from_tag);
            out.push(',');
            json::string(&mut out, &s.to_tag);
            out.push(']');
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

    /// `summary`: MediaProxy's relay summary (`ip` advertised, `uptime`, `bps` relayed over the
    /// last period), and the relay's own counters after it.
    pub fn summary_json(&self, ip: &str, uptime: Duration, bps: u64) -> String {
        let mut counts = String::from("{");
        for (i, (k, v)) in self.stream_counts().iter().enumerate() {
            if i > 0 {
                counts.push(',');
            }
            json::string(&mut counts, k);
            counts.push(':');
            counts.push_str(&v.to_string());
        }
        counts.push('}');
        let c = self.counters;
        let mut out = String::from("[");
        let mut o = Obj::new(&mut out);
        o.str("ip", ip)
            .str("version", env!("CARGO_PKG_VERSION"))
            .str("status", "active")
            .u64("uptime", uptime.as_secs())
            .u64("session_count", self.session_count() as u64)
            .raw("stream_count", &counts)
            .u64("bps_relayed", bps);
        // additions (not in MediaProxy)
        for (name, counter) in [
            ("packets_relayed", &c.packets_relayed),
            ("packets_dropped_strict", &c.packets_dropped_strict),
            ("packets_dropped_no_session", &c.packets_dropped_no_session),
            ("packets_dropped_truncated", &c.packets_dropped_truncated),
            ("packets_kernel", &c.packets_kernel),
            ("ports_in_use", &c.ports_in_use),
            ("ports_free", &c.ports_free),
            ("port_exhaustion", &c.port_exhaustion),
            ("packets_dropped_unlearned", &c.packets_dropped_unlearned),
            ("packets_dropped_owned", &c.packets_dropped_owned),
            ("packets_dropped_loop", &c.packets_dropped_loop),
            ("packets_dropped_rate", &c.packets_dropped_rate),
            ("updates_refused_limit", &c.updates_refused_limit),
            ("updates_refused_address", &c.updates_refused_address),
            ("sessions_timed_out", &c.sessions_timed_out),
            ("sessions_ice_unselected", &c.sessions_ice_unselected),
            ("packets_copied", &c.packets_copied),
            ("packets_copy_failed", &c.packets_copy_failed),
            ("recorded_calls", &c.recorded_calls),
            ("recorded_packets", &c.recorded_packets),
            ("recorded_bytes", &c.recorded_bytes),
            ("recording_dropped", &c.recording_dropped),
        ] {
            o.u64(name, Counters::get(counter));
        }
        o.finish();
        out.push(']');
        out
    }
}
