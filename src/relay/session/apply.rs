//! One `update` applied to one session, in its cases: classify the request ([`Kind`]), apply an
//! offer (open the new streams first, then rebuild the slots), apply an answer or a refresh
//! (the other side of the existing slots), and answer with the ports facing the other party.

use super::{
    side_config, Backend, OpenError, Party, Session, SessionTable, Slot, StreamHandle, TableError,
    Timeouts,
};
use crate::control::codec::{MessageType, UpdateRequest};
use crate::media::RelayAnswer;
use crate::relay::counters::Counters;
use std::net::IpAddr;
use std::time::Instant;

/// What an `update` with SDP is to the session's offer/answer state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Offer,
    Answer,
    /// The offerer sends its SDP again with the same CSeq pair.
    Refresh,
    /// A smaller CSeq pair: answered with the current ports, nothing changes.
    Old,
}

/// Who sent the SDP and where the request stands among the session's generations.
struct Role {
    /// The message comes from the tag space of the session's creator.
    caller_space: bool,
    is_request: bool,
    party: Party,
    /// The session's CSeq pair with this message's CSeq in its place.
    pair: (u32, u32),
}

impl Role {
    fn of(s: &Session, req: &UpdateRequest) -> Role {
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
        Role {
            caller_space,
            is_request,
            party,
            pair,
        }
    }

    /// See the module notes on generations and the PRACK/UPDATE fix.
    fn classify(&self, s: &Session) -> Kind {
        let cur = s.cseq.unwrap_or((0, 0));
        if s.cseq.is_none() {
            Kind::Offer
        } else if !s.answered && s.offer_by == self.party.other() {
            Kind::Answer
        } else if self.pair > cur {
            Kind::Offer
        } else if self.pair == cur {
            if s.offer_by == self.party {
                Kind::Refresh
            } else {
                Kind::Answer
            }
        } else {
            Kind::Old
        }
    }
}

/// Records what every message says about the session: signalling time, dialog id, User-Agent,
/// the callee's tag.
fn note_message(s: &mut Session, req: &UpdateRequest, role: &Role, now: Instant) {
    s.last_signal = now;
    if !req.dialog_id.is_empty() {
        s.dialog_id = req.dialog_id.clone();
    }
    let ua = &mut s.ua[role.party.idx()];
    if ua.is_none() && !req.user_agent.is_empty() {
        *ua = Some(req.user_agent.clone());
    }
    if role.caller_space {
        if !req.to_tag.is_empty() && (s.to_tag.is_empty() || !role.is_request) {
            s.to_tag = req.to_tag.clone();
        }
    } else if s.to_tag.is_empty() {
        s.to_tag = req.from_tag.clone();
    }
}

/// The ports facing the other party, one per stream of the request (0 where the relay does not
/// serve it).
fn answer_ports(s: &Session, req: &UpdateRequest, party: Party) -> Vec<u16> {
    req.media
        .iter()
        .enumerate()
        .map(|(i, d)| match s.slots.get(i) {
            Some(sl) if d.port != 0 && sl.media_type == d.media_type => {
                sl.handle.map_or(0, |h| h.ports[party.other().idx()])
            }
            _ => 0,
        })
        .collect()
}

/// What the offer and answer cases share: the backend and the table's settings.
struct Ctx<'a, B: Backend> {
    backend: &'a mut B,
    counters: &'static Counters,
    timeouts: Timeouts,
    sig_ip: Option<IpAddr>,
    now: Instant,
}

impl<B: Backend> Ctx<'_, B> {
    fn close(&mut self, s: &mut Session, slot: Slot, status: &'static str) {
        SessionTable::close_slot(
            self.backend,
            self.counters,
            s,
            slot,
            status,
            self.now,
            &self.timeouts,
        );
    }

    /// A new offer: opens every new stream first, so that a failure leaves the session as it
    /// was; keeps the ports of a stream at the same index with the same media type; closes
    /// the rest.
    fn offer(
        &mut self,
        s: &mut Session,
        req: &UpdateRequest,
        role: &Role,
    ) -> Result<(), TableError> {
        let now = self.now;
        let party = role.party;
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
            match self.backend.open(now, s.facing.iface) {
                Ok(h) => opened.push(Some(h)),
                Err(e) => {
                    for h in opened.iter().flatten() {
                        self.backend.discard(h);
                    }
                    return Err(match e {
                        OpenError::Exhausted => TableError::NoPorts,
                        OpenError::Io(e) => TableError::Io(e),
                    });
                }
            }
        }
        let mut old: Vec<Option<Slot>> =
            std::mem::take(&mut s.slots).into_iter().map(Some).collect();
        let mut slots = Vec::with_capacity(req.media.len());
        for (i, (d, new)) in req.media.iter().zip(opened).enumerate() {
            let prev = old.get_mut(i).and_then(Option::take);
            let cfg = side_config(d, self.sig_ip, req.asymmetric);
            let slot = match (new, prev) {
                (None, Some(mut p)) if d.port != 0 => {
                    // same index, same type: keep the ports
                    if let Some(h) = &p.handle {
                        self.backend.configure(h, party, cfg);
                    }
                    p.media[party.idx()] = Some(d.clone());
                    p.timer_base = now;
                    p
                }
                (new, prev) => {
                    if let Some(p) = prev {
                        self.close(s, p, "closed");
                    }
                    if let Some(h) = &new {
                        Counters::add(&self.counters.streams_active, 1);
                        self.backend.configure(h, party, cfg);
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
            self.close(s, p, "closed");
        }
        s.slots = slots;
        s.cseq = Some(role.pair);
        s.offer_by = party;
        s.answered = false;
        Ok(())
    }

    /// An answer (or the offerer's refresh): the party's side of each existing slot; port 0
    /// rejects (or, in a refresh, closes) the stream.
    fn answer(&mut self, s: &mut Session, req: &UpdateRequest, role: &Role, kind: Kind) {
        let now = self.now;
        let party = role.party;
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
                self.close(s, taken, status);
                continue;
            }
            if let Some(h) = &slot.handle {
                self.backend
                    .configure(h, party, side_config(d, self.sig_ip, req.asymmetric));
            }
            if kind == Kind::Answer {
                slot.answered = true;
            }
        }
    }
}

impl<B: Backend> SessionTable<B> {
    /// Applies one `update` to the session at `idx` of its Call-ID.
    pub(super) fn apply(
        &mut self,
        req: &UpdateRequest,
        idx: usize,
        sig_ip: Option<IpAddr>,
        now: Instant,
    ) -> Result<RelayAnswer, TableError> {
        let mut ctx = Ctx {
            backend: &mut self.backend,
            counters: self.counters,
            timeouts: self.timeouts,
            sig_ip,
            now,
        };
        let Some(s) = self
            .sessions
            .get_mut(&req.call_id)
            .and_then(|l| l.get_mut(idx))
        else {
            return Err(TableError::NotFound);
        };
        let role = Role::of(s, req);
        note_message(s, req, &role, now);
        if req.media.is_empty() {
            // body-less 200 OK: only stamps the start
            if !role.is_request {
                s.start.get_or_insert(now);
            }
            return Ok(RelayAnswer {
                ip: s.facing.ip[role.party.other().idx()],
                ports: Vec::new(),
            });
        }
        match role.classify(s) {
            Kind::Offer => ctx.offer(s, req, &role)?,
            kind @ (Kind::Answer | Kind::Refresh) => ctx.answer(s, req, &role, kind),
            Kind::Old => {}
        }
        Ok(RelayAnswer {
            ip: s.facing.ip[role.party.other().idx()],
            ports: answer_ports(s, req, role.party),
        })
    }
}
