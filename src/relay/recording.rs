//! Recording's control side: the relay's [`Recorder`] (started when `recording_dir` is set),
//! attaching a recording to a stream's flows (a [`Sink::Record`] per flow and party, whose
//! address is the relay port that party sends to), detaching it, the `record` command of
//! [`crate::control::record`], and the `recorded_*` counters. The writer is `record/`; the
//! packet path is `worker/mirror.rs`; which sessions record is the session table's
//! (`session/recording.rs`).

use super::counters::Counters;
use super::engine::{Engine, RealBackend};
use super::record::{RecordNote, Recorder, RECORD_QUEUE};
use super::session::StreamHandle;
use super::worker::mirror::{MirrorOp, Out, Sink};
use super::worker::Cmd;
use super::{EventSink, LogLevel};
use crate::control::record::RecordRequest;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long after its detach a recording's file is closed.
const CLOSE_AFTER: Duration = Duration::from_millis(200);

/// Starts the writer for `dir`. Its notes become log lines: a failure (unwritable directory,
/// full disk) once, then again only after a file was written in between; the call goes on.
pub(crate) fn start_recorder(dir: &Path, log: EventSink) -> std::io::Result<Recorder> {
    let notify = move |note: RecordNote| {
        match note {
        RecordNote::Failed { path, error } => log.send_log(
            LogLevel::Error,
            format!(
                "recording to {} failed: {error}; recording stops, the calls go on (reported once until a recording succeeds)",
                path.display()
            ),
        ),
        RecordNote::Closed {
            path,
            packets,
            bytes,
            ..
        } => log.send_log(
            LogLevel::Info,
            format!(
                "recording {} closed: {packets} packets, {bytes} bytes",
                path.display()
            ),
        ),
    }
    };
    Recorder::start(dir, RECORD_QUEUE, Box::new(notify))
}

impl RealBackend {
    pub(super) fn record_open_file(&mut self, call_id: &str) -> Option<(u64, String)> {
        let rec = self.recorder.as_ref()?;
        self.next_record += 1;
        // 1, 2, …: part of the file name; copies' keys have the high bit set (`relay/mirror.rs`)
        let key = self.next_record;
        let path = rec.open(key, call_id);
        Some((key, path.to_string_lossy().into_owned()))
    }

    /// Records stream `h` under `key` (once): both flows, both parties. A party's packets are
    /// recorded as sent to the address its side listens on, or (a wildcard listener) to the
    /// address the session advertised to it (`relay_ip`).
    pub(super) fn record_attach(&mut self, h: &StreamHandle, key: u64, relay_ip: [IpAddr; 2]) {
        let Some(rec) = self.recorder.as_ref().map(|r| r.handle()) else {
            return;
        };
        if self.recorded.get(&h.id) == Some(&key) {
            return;
        }
        let Some(s) = self.streams.get(&h.id) else {
            return;
        };
        let Some(w) = self.workers.get(s.worker) else {
            return;
        };
        let ip = |party: usize| {
            let listen = self.interfaces.listen(s.iface[party]);
            if listen.is_unspecified() {
                relay_ip[party]
            } else {
                listen
            }
        };
        for (rtcp, slot) in s.slots.iter().enumerate() {
            for party in 0..2 {
                let port = h.ports[party].saturating_add(rtcp as u16);
                let out = Out {
                    key,
                    party,
                    sink: Sink::Record {
                        rec: rec.clone(),
                        local: SocketAddr::new(ip(party), port),
                    },
                };
                w.send(Cmd::Mirror {
                    slot: *slot,
                    op: MirrorOp::Add(Box::new(out)),
                });
            }
        }
        self.recorded.insert(h.id, key);
    }

    /// Stops recording `key` on every stream; its file is closed [`CLOSE_AFTER`] later (a
    /// worker queues a packet's recorded copy just after sending the packet on: a copy may
    /// still be on its way when the call's last packet has arrived).
    pub(super) fn record_detach(&mut self, key: u64, now: Instant) {
        let ids: Vec<u64> = self
            .recorded
            .iter()
            .filter(|(_, k)| **k == key)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.recorded.remove(&id);
            if let Some(s) = self.streams.get(&id) {
                if let Some(w) = self.workers.get(s.worker) {
                    for slot in s.slots {
                        w.send(Cmd::Mirror {
                            slot,
                            op: MirrorOp::Remove { key },
                        });
                    }
                }
            }
        }
        if self.recorder.is_some() {
            self.closing.push((now + CLOSE_AFTER, key));
        }
    }

    /// Closes the files due ([`RealBackend::record_detach`]) and brings the `recorded_*`
    /// counters up to date.
    pub(super) fn record_housekeeping(&mut self, now: Instant, c: &Counters) {
        if let Some(r) = &self.recorder {
            self.closing.retain(|&(at, key)| {
                if at <= now {
                    r.close(key);
                }
                at > now
            });
        }
        if let Some(r) = &self.recorder {
            let st = r.stats();
            for (to, from) in [
                (&c.recorded_calls, &st.calls),
                (&c.recorded_packets, &st.packets),
                (&c.recorded_bytes, &st.bytes),
                (&c.recording_dropped, &st.dropped),
            ] {
                to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
    }
}

impl Engine {
    /// Answers a `record` request (see [`crate::control::record`]).
    pub(super) fn record(&mut self, r: RecordRequest, now: Instant) -> String {
        if !r.start {
            self.table
                .stop_recording(&r.call_id, &r.from_tag, &r.to_tag, now);
            return crate::control::record::encode_reply(None);
        }
        match self
            .table
            .start_recording(&r.call_id, &r.from_tag, &r.to_tag)
        {
            Ok(path) => crate::control::record::encode_reply(Some(&path)),
            Err(e) => {
                Counters::add(&self.counters.control_errors, 1);
                self.events.send_log(
                    LogLevel::Warn,
                    format!(
                        "record for {} (from_tag {}) failed: {e}",
                        r.call_id, r.from_tag
                    ),
                );
                "error".into()
            }
        }
    }
}
