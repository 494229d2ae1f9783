//! Media copies ("mirrors"): for recording (SIPREC) and forking, every packet a stream forwards
//! in one direction is also sent, unchanged, from a port pair of the relay's own to a
//! destination. This is the control side ([`Mirrors`], the `copy` command of
//! [`crate::control::copy`]): it allocates the pairs and tells the stream's worker; the worker
//! side is a small part of the forwarding path ([`super::worker::mirror`]).
//!
//! An entry's RTP copy leaves from the pair's even port to the destination port, its RTCP copy
//! from the odd port to the destination port + 1. Removing a copy (or ending its stream) drops
//! the `Out`s at the worker's next command batch: no copy is sent after that.

use super::counters::Counters;
use super::engine::RealBackend;
use super::session::StreamHandle;
use super::worker::mirror::{MirrorOp, Out, Sink};
use super::worker::Cmd;
use crate::control::copy::CopyEntry;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

/// Most copies of one stream (entries, each one party's media to one destination): four
/// recorders of both parties.
pub(crate) const MAX_PER_STREAM: usize = 8;

/// The high bit marks a copy's key (a flow's `Out`s share one key space).
const COPY_KEYS: u64 = 1 << 63;

/// One entry of a copy, as the control side keeps it.
struct Rec {
    copy: (String, String),
    entry: CopyEntry,
    stream_id: u64,
    /// The even port of the copy's pair (RTP; RTCP is + 1).
    base: u16,
}

/// Every copy of the relay (control side): by key, by copy (`(call_id, copy_id)`) and by
/// stream, so that a stream's end frees its copies' ports.
#[derive(Default)]
pub(crate) struct Mirrors {
    next_key: u64,
    recs: HashMap<u64, Rec>,
    by_copy: HashMap<(String, String), Vec<u64>>,
    by_stream: HashMap<u64, Vec<u64>>,
}

impl Mirrors {
    fn find(&self, copy: &(String, String), entry: CopyEntry) -> Option<u64> {
        self.by_copy
            .get(copy)?
            .iter()
            .copied()
            .find(|k| self.recs.get(k).is_some_and(|r| r.entry == entry))
    }

    fn insert(&mut self, rec: Rec) -> u64 {
        self.next_key += 1;
        // apart from the recordings' keys (`relay/recording.rs`), which count up from 1
        let key = COPY_KEYS | self.next_key;
        self.by_copy.entry(rec.copy.clone()).or_default().push(key);
        self.by_stream.entry(rec.stream_id).or_default().push(key);
        self.recs.insert(key, rec);
        key
    }

    /// Forgets one entry; its stream id and pair base.
    fn take(&mut self, key: u64) -> Option<(u64, u16)> {
        let r = self.recs.remove(&key)?;
        if let Some(v) = self.by_copy.get_mut(&r.copy) {
            v.retain(|k| *k != key);
            if v.is_empty() {
                self.by_copy.remove(&r.copy);
            }
        }
        if let Some(v) = self.by_stream.get_mut(&r.stream_id) {
            v.retain(|k| *k != key);
            if v.is_empty() {
                self.by_stream.remove(&r.stream_id);
            }
        }
        Some((r.stream_id, r.base))
    }

    /// The pair bases of every copy of a stream that ended (its flows, and their `Out`s, are
    /// gone with it).
    pub fn stream_ended(&mut self, stream_id: u64) -> Vec<u16> {
        let keys = self.by_stream.get(&stream_id).cloned().unwrap_or_default();
        keys.into_iter()
            .filter_map(|k| self.take(k).map(|(_, b)| b))
            .collect()
    }
}

/// Why a copy request failed.
#[derive(Debug)]
pub(crate) enum CopyError {
    NoPorts,
    /// The stream has [`MAX_PER_STREAM`] copies already.
    Limit,
    Forbidden(SocketAddr),
    Io(std::io::Error),
}

impl std::fmt::Display for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyError::NoPorts => f.write_str("port range exhausted"),
            CopyError::Limit => write!(f, "a stream has at most {MAX_PER_STREAM} copies"),
            CopyError::Forbidden(a) => write!(f, "copy destination {a} is not allowed"),
            CopyError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl RealBackend {
    fn mirror_send(&self, stream_id: u64, rtcp: bool, op: MirrorOp) {
        let Some(s) = self.streams.get(&stream_id) else {
            return;
        };
        if let Some(w) = self.workers.get(s.worker) {
            w.send(Cmd::Mirror {
                slot: s.slots[usize::from(rtcp)],
                op,
            });
        }
    }

    /// `copy` offer: a port pair for every entry whose stream has relay ports (`handles[i]`,
    /// by stream index), kept for an entry that has one on the same stream already. The ports
    /// in entry order (0: no relay ports). `paused`: the entries' copies stop until the next
    /// answer.
    pub(crate) fn copy_offer(
        &mut self,
        copy: (String, String),
        entries: &[CopyEntry],
        handles: &[Option<StreamHandle>],
        paused: bool,
        now: Instant,
    ) -> Result<Vec<u16>, CopyError> {
        let mut ports = Vec::with_capacity(entries.len());
        let mut opened = Vec::new();
        for &entry in entries {
            let Some(h) = handles.get(entry.stream).copied().flatten() else {
                ports.push(0);
                continue;
            };
            if let Some(key) = self.mirrors.find(&copy, entry) {
                let same = self
                    .mirrors
                    .recs
                    .get(&key)
                    .filter(|r| r.stream_id == h.id)
                    .map(|r| r.base);
                if let Some(base) = same {
                    if paused {
                        self.mirror_send(h.id, false, MirrorOp::Target { key, dest: None });
                        self.mirror_send(h.id, true, MirrorOp::Target { key, dest: None });
                    }
                    ports.push(base);
                    continue;
                }
                // the stream was replaced (a re-offer): a new pair on the new stream
                self.remove_copy_entry(key, now);
            }
            let full = self
                .mirrors
                .by_stream
                .get(&h.id)
                .is_some_and(|v| v.len() >= MAX_PER_STREAM);
            let bound = if full {
                Err(CopyError::Limit)
            } else {
                // the copies leave from the caller-facing interface
                let iface = self.streams.get(&h.id).map_or(0, |s| s.iface[0]);
                self.bind_pair(now, iface).map_err(|e| match e {
                    super::session::OpenError::Exhausted => CopyError::NoPorts,
                    super::session::OpenError::Io(e) => CopyError::Io(e),
                })
            };
            let (base, rtp, rtcp) = match bound {
                Ok(p) => p,
                Err(e) => {
                    for key in opened {
                        self.remove_copy_entry(key, now);
                    }
                    return Err(e);
                }
            };
            let key = self.mirrors.insert(Rec {
                copy: copy.clone(),
                entry,
                stream_id: h.id,
                base,
            });
            opened.push(key);
            for (rtcp_flow, sock) in [(false, rtp), (true, rtcp)] {
                let out = Out {
                    key,
                    party: entry.party,
                    sink: Sink::Udp { sock, dest: None },
                };
                self.mirror_send(h.id, rtcp_flow, MirrorOp::Add(Box::new(out)));
            }
            ports.push(base);
        }
        self.update_port_counters();
        Ok(ports)
    }

    /// `copy` answer: where each entry's copies go (entries the relay has no pair for are
    /// skipped). A destination that is one of the relay's own ports (or multicast, broadcast,
    /// port 0) refuses the whole answer before anything changes.
    pub(crate) fn copy_answer(
        &mut self,
        copy: (String, String),
        targets: &[(CopyEntry, Option<SocketAddr>)],
    ) -> Result<(), CopyError> {
        if let Some(a) = targets
            .iter()
            .filter_map(|(_, t)| *t)
            .find(|a| self.guard.forbidden(*a))
        {
            return Err(CopyError::Forbidden(a));
        }
        for &(entry, dest) in targets {
            let Some(key) = self.mirrors.find(&copy, entry) else {
                continue;
            };
            let Some(stream_id) = self.mirrors.recs.get(&key).map(|r| r.stream_id) else {
                continue;
            };
            let rtcp_dest =
                dest.and_then(|d| d.port().checked_add(1).map(|p| SocketAddr::new(d.ip(), p)));
            self.mirror_send(stream_id, false, MirrorOp::Target { key, dest });
            self.mirror_send(
                stream_id,
                true,
                MirrorOp::Target {
                    key,
                    dest: rtcp_dest,
                },
            );
        }
        Ok(())
    }

    /// `copy` delete: ends every entry of the copy at once. Nothing to end is no error (the
    /// session may have ended first).
    pub(crate) fn copy_delete(&mut self, copy: &(String, String), now: Instant) {
        let keys = self.mirrors.by_copy.get(copy).cloned().unwrap_or_default();
        for key in keys {
            self.remove_copy_entry(key, now);
        }
        self.update_port_counters();
    }

    fn remove_copy_entry(&mut self, key: u64, now: Instant) {
        let Some((stream_id, base)) = self.mirrors.take(key) else {
            return;
        };
        self.mirror_send(stream_id, false, MirrorOp::Remove { key });
        self.mirror_send(stream_id, true, MirrorOp::Remove { key });
        self.give_back(base, Some(now));
    }
}

impl super::engine::Engine {
    /// Answers a `copy` request (see [`crate::control::copy`]).
    pub(super) fn copy(&mut self, c: crate::control::copy::CopyRequest, now: Instant) -> String {
        use crate::control::copy::CopyAction;
        use crate::media::RelayAnswer;
        let key = (c.call_id.clone(), c.copy_id.clone());
        let result = match c.action {
            CopyAction::Delete => {
                self.table.backend_mut().copy_delete(&key, now);
                Ok("removed".to_string())
            }
            action => match self
                .table
                .stream_handles(&c.call_id, &c.from_tag, &c.to_tag)
            {
                None => Err("no such session".to_string()),
                Some((ip, handles)) => match action {
                    CopyAction::Offer { entries, paused } => self
                        .table
                        .backend_mut()
                        .copy_offer(key, &entries, &handles, paused, now)
                        .map(|ports| {
                            crate::control::codec::encode_answer(&RelayAnswer { ip, ports })
                        })
                        .map_err(|e| {
                            if matches!(e, CopyError::NoPorts) {
                                Counters::add(&self.counters.port_exhaustion, 1);
                            }
                            e.to_string()
                        }),
                    CopyAction::Answer { targets } => self
                        .table
                        .backend_mut()
                        .copy_answer(key, &targets)
                        .map(|()| "ok".to_string())
                        .map_err(|e| e.to_string()),
                    CopyAction::Delete => Ok("removed".to_string()),
                },
            },
        };
        result.unwrap_or_else(|why| {
            Counters::add(&self.counters.control_errors, 1);
            self.events.send_log(
                super::LogLevel::Warn,
                format!(
                    "copy {} for {} (from_tag {}) failed: {why}",
                    c.copy_id, c.call_id, c.from_tag
                ),
            );
            "error".into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(call: &str, copy: &str, stream: usize, party: usize, id: u64, base: u16) -> Rec {
        Rec {
            copy: (call.into(), copy.into()),
            entry: CopyEntry { stream, party },
            stream_id: id,
            base,
        }
    }

    #[test]
    fn entries_are_found_by_copy_and_freed_with_their_stream() {
        let mut m = Mirrors::default();
        let a = m.insert(rec("c1", "x", 0, 0, 7, 40000));
        let b = m.insert(rec("c1", "x", 0, 1, 7, 40002));
        let c = m.insert(rec("c1", "y", 1, 0, 8, 40004));
        let x = ("c1".to_string(), "x".to_string());
        assert_eq!(
            m.find(
                &x,
                CopyEntry {
                    stream: 0,
                    party: 1
                }
            ),
            Some(b)
        );
        assert_eq!(
            m.find(
                &x,
                CopyEntry {
                    stream: 1,
                    party: 0
                }
            ),
            None
        );
        // stream 7 ends: both of its entries go, copy "x" is forgotten, "y" stays
        let mut freed = m.stream_ended(7);
        freed.sort_unstable();
        assert_eq!(freed, vec![40000, 40002]);
        assert!(!m.recs.contains_key(&a) && !m.by_copy.contains_key(&x));
        assert!(!m.by_stream.contains_key(&7));
        assert_eq!(m.stream_ended(7), Vec::<u16>::new());
        assert_eq!(m.take(c), Some((8, 40004)));
        assert!(m.recs.is_empty() && m.by_copy.is_empty() && m.by_stream.is_empty());
        assert_eq!(m.take(c), None);
    }
}
