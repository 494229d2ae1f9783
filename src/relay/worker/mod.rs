//! The core of a relay worker thread: the flows handed to it, the forwarding decision
//! ([`judge`]), the commands from the control thread and the latch notifications back to it
//! ([`Core`]). The worker's I/O back end (`relay::io`: epoll or io_uring) runs the core and moves
//! the datagrams; the core does not know which back end runs it. Nothing on the packet path is
//! shared with another thread except relaxed atomics written by this worker alone (per-stream
//! statistics) and the global counters, which are added once per event batch.
//!
//! A flow is one sub-stream of a relayed stream (RTP, or RTCP on port + 1) with two sockets:
//! `socks[0]` faces the caller (the caller sends to it), `socks[1]` faces the callee. A packet
//! received on `socks[i]` is checked against `sides[i]` (latching, [`super::latch`]) and the
//! relay's guard ([`super::guard`]) and sent from `socks[1 - i]` to `sides[1 - i].destination()`.
//! That decision is [`judge`], the same function for every back end; the flow table and the
//! commands from the control thread are [`Core`], also shared.
//!
//! The per-packet path does not allocate and takes no lock: buffers and headers are allocated
//! once per worker; latch notifications go through a bounded (preallocated) channel with
//! `try_send`.

use super::counters::Counters;
use super::events::{EventSink, LogLevel};
use super::guard::{Guard, LatchedIp, Owners, RateGate, SideKey};
use super::ice::StunPark;
use super::latch::{FlowRole, LatchPolicy, Side, SideConfig, Verdict};
use super::packet::{classify, PacketKind};
use super::sys::EventFd;
use crossbeam_channel::{Receiver, Sender};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Per-stream statistics written by the owning worker, read by the control thread. Index: the
/// sending party (0 caller, 1 callee). Times are milliseconds since the relay's epoch plus one
/// (0 = never).
#[derive(Debug, Default)]
pub struct StreamShared {
    pub packets: [AtomicU64; 2],
    pub bytes: [AtomicU64; 2],
    pub first_ms: [AtomicU64; 2],
    pub last_ms: [AtomicU64; 2],
    /// First RTP payload type + 1 (0 = none yet).
    pub codec: [AtomicU32; 2],
    /// The stream's packet-rate ceiling (worker only).
    pub rate: RateGate,
    /// Per party, the IP its RTP side latched to, which its RTCP side follows (worker only).
    pub rtp_ip: [LatchedIp; 2],
}

fn bump(a: &AtomicU64, n: u64) {
    // single writer: a plain load/store avoids a locked read-modify-write
    a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// What a new flow needs.
pub struct FlowInit {
    pub socks: [UdpSocket; 2],
    pub shared: Arc<StreamShared>,
    pub stream_id: u64,
    pub rtcp: bool,
    pub v6: bool,
}

pub enum Cmd {
    Add {
        slot: u32,
        flow: Box<FlowInit>,
    },
    Configure {
        slot: u32,
        party: usize,
        cfg: SideConfig,
    },
    Remove {
        slot: u32,
    },
    Stop,
}

/// A side latched (or re-latched) a new source; sent to the control thread for the statistics.
#[derive(Clone, Copy, Debug)]
pub struct LatchEvent {
    pub stream_id: u64,
    pub rtcp: bool,
    pub party: usize,
    pub addr: SocketAddr,
}

/// One relayed flow as its worker holds it.
pub(crate) struct Flow {
    pub socks: [UdpSocket; 2],
    pub sides: [Side; 2],
    pub shared: Arc<StreamShared>,
    pub stream_id: u64,
    pub rtcp: bool,
    pub v6: bool,
    /// Directions with STUN parked in the worker's [`StunPark`] (bit `1 << side`).
    pub parked: u8,
}

/// Per-batch counts, added to the global [`Counters`] once per batch.
#[derive(Default)]
pub(crate) struct Local {
    pub relayed: u64,
    pub bytes: u64,
    pub dropped_strict: u64,
    pub dropped_unlearned: u64,
    pub dropped_owned: u64,
    pub dropped_loop: u64,
    pub dropped_rate: u64,
    pub dropped_other: u64,
    pub rx_rearms: u64,
    pub rx_no_buffers: u64,
}

/// What [`judge`] needs besides the flow: the latching policy, the relay's guard, the
/// addresses this worker's sides own, where latch notifications go, the batch's counts.
pub(crate) struct PacketCtx {
    pub policy: LatchPolicy,
    pub guard: Arc<Guard>,
    pub latch_tx: Sender<LatchEvent>,
    pub local: Local,
    pub stun: StunPark,
}

impl Flow {
    fn key(&self, party: usize) -> SideKey {
        SideKey {
            stream_id: self.stream_id,
            rtcp: self.rtcp,
            party,
        }
    }

    /// New signalling for `party`: its side takes it (a reset latch gives its address up), and
    /// the learning window of both sides opens until `until_ms`.
    fn configure(&mut self, party: usize, cfg: SideConfig, until_ms: u64, owners: &Owners) {
        let before = self.sides[party].latched();
        self.sides[party].configure(cfg);
        let after = self.sides[party].latched();
        if let Some(old) = before.filter(|_| after != before) {
            owners.release(self.key(party), old);
        }
        if !self.rtcp {
            self.shared.rtp_ip[party].set(after.map(|a| a.ip()));
        }
        self.sides.iter_mut().for_each(|s| s.open_window(until_ms));
    }
}

/// The forwarding decision for one datagram received on `flow.socks[i]` from `src`: the guard
/// (no packet from or to the relay's own ports), latching and strict source, the rate ceiling,
/// per-stream statistics and codec, counts. Returns where to send it (from
/// `flow.socks[1 - i]`), or `None` when it is dropped (counted here, by reason). Shared by both
/// back ends; no allocation, no lock.
#[inline]
pub(crate) fn judge(
    flow: &mut Flow,
    i: usize,
    pkt: &[u8],
    src: SocketAddr,
    truncated: bool,
    now_ms: u64,
    ctx: &mut PacketCtx,
) -> Option<SocketAddr> {
    let o = 1 - (i & 1);
    let i = i & 1;
    if truncated {
        ctx.local.dropped_other += 1;
        return None;
    }
    if ctx.guard.is_own(src) {
        ctx.local.dropped_loop += 1;
        return None;
    }
    let kind = classify(pkt);
    let role = if flow.rtcp {
        FlowRole::Rtcp {
            rtp_ip: flow.shared.rtp_ip[i].get(),
        }
    } else {
        FlowRole::Rtp
    };
    let key = flow.key(i);
    let before = flow.sides[i].latched();
    let owners = &ctx.guard.owners;
    let verdict = flow.sides[i].on_packet(src, kind, role, now_ms, &ctx.policy, |a| {
        owners.owned_by_other(a, key)
    });
    match verdict {
        Verdict::DropStrict => {
            ctx.local.dropped_strict += 1;
            None
        }
        Verdict::DropUnlearned => {
            ctx.local.dropped_unlearned += 1;
            None
        }
        Verdict::DropOwned => {
            ctx.local.dropped_owned += 1;
            None
        }
        Verdict::Accept { learned } => {
            if let Some(addr) = learned {
                ctx.guard.owners.moved(key, before, addr);
                if !flow.rtcp {
                    flow.shared.rtp_ip[i].set(Some(addr.ip()));
                }
                let _ = ctx.latch_tx.try_send(LatchEvent {
                    stream_id: flow.stream_id,
                    rtcp: flow.rtcp,
                    party: i,
                    addr,
                });
            }
            let sh = &flow.shared;
            if kind.is_media() {
                bump(&sh.packets[i], 1);
                bump(&sh.bytes[i], pkt.len() as u64);
                if !flow.rtcp {
                    if sh.first_ms[i].load(Ordering::Relaxed) == 0 {
                        sh.first_ms[i].store(now_ms, Ordering::Relaxed);
                    }
                    sh.last_ms[i].store(now_ms, Ordering::Relaxed);
                    if let PacketKind::Rtp { pt, .. } = kind {
                        if sh.codec[i].load(Ordering::Relaxed) == 0 {
                            sh.codec[i].store(u32::from(pt) + 1, Ordering::Relaxed);
                        }
                    }
                }
            }
            if !flow.shared.rate.admit(now_ms, ctx.guard.max_packet_rate) {
                ctx.local.dropped_rate += 1;
                return None;
            }
            let dest = match flow.sides[o].destination() {
                None => {
                    if !(kind == PacketKind::Stun && ctx.stun.park(flow, o, pkt, now_ms)) {
                        ctx.local.dropped_other += 1;
                    }
                    None
                }
                Some(d) if ctx.guard.forbidden(d) => {
                    ctx.local.dropped_loop += 1;
                    None
                }
                dest => dest,
            };
            if flow.parked != 0 {
                ctx.stun.flush(flow, now_ms, &mut ctx.local);
            }
            dest
        }
    }
}

/// How an I/O back end follows changes of the flow table.
pub(crate) trait FlowIo {
    /// A flow was installed in `slot`: start receiving on both its sockets.
    fn added(&mut self, slot: usize, flow: &Flow) -> io::Result<()>;
    /// The flow that was in `slot` is gone: stop receiving on its sockets. The back end decides
    /// when they are closed (at once, or once the kernel has let go of them).
    fn removed(&mut self, slot: usize, flow: Flow);
}

/// The part of a worker that does not depend on the I/O back end: the flow table, the command
/// channel and its wake-up, counters, logging.
pub(crate) struct Core {
    pub id: usize,
    pub wake: Arc<EventFd>,
    pub rx: Receiver<Cmd>,
    pub epoch: Instant,
    pub counters: &'static Counters,
    pub log: EventSink,
    pub flows: Vec<Option<Flow>>,
    pub pkt: PacketCtx,
    last_error_log_ms: u64,
    suppressed_errors: u64,
}

impl Core {
    /// A worker's core before its thread runs (the thread runs it with its I/O back end:
    /// [`crate::relay::io::IoBackend::run`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: usize,
        wake: Arc<EventFd>,
        rx: Receiver<Cmd>,
        policy: LatchPolicy,
        guard: Arc<Guard>,
        epoch: Instant,
        counters: &'static Counters,
        latch_tx: Sender<LatchEvent>,
        log: EventSink,
    ) -> Core {
        Core {
            id,
            wake,
            rx,
            epoch,
            counters,
            log,
            flows: Vec::new(),
            pkt: PacketCtx {
                policy,
                guard,
                latch_tx,
                local: Local::default(),
                stun: StunPark::default(),
            },
            last_error_log_ms: 0,
            suppressed_errors: 0,
        }
    }

    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    pub fn flush_counters(&mut self) {
        let l = std::mem::take(&mut self.pkt.local);
        let c = self.counters;
        Counters::add(&c.packets_relayed, l.relayed);
        Counters::add(&c.bytes_relayed, l.bytes);
        Counters::add(&c.packets_dropped_strict, l.dropped_strict);
        Counters::add(&c.packets_dropped_unlearned, l.dropped_unlearned);
        Counters::add(&c.packets_dropped_owned, l.dropped_owned);
        Counters::add(&c.packets_dropped_loop, l.dropped_loop);
        Counters::add(&c.packets_dropped_rate, l.dropped_rate);
        Counters::add(&c.packets_dropped_no_session, l.dropped_other);
        Counters::add(&c.rx_rearms, l.rx_rearms);
        Counters::add(&c.rx_no_buffers, l.rx_no_buffers);
    }

    /// Applies every queued command. `false`: stop (a `Stop` command, or the control side is
    /// gone).
    pub fn commands(&mut self, io: &mut impl FlowIo) -> bool {
        loop {
            let cmd = match self.rx.try_recv() {
                Ok(c) => c,
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return false,
            };
            match cmd {
                Cmd::Add { slot, flow } => self.add(slot as usize, *flow, io),
                Cmd::Configure { slot, party, cfg } => {
                    let now_ms = self.now_ms();
                    let until = now_ms + self.pkt.policy.learn_window_ms;
                    if let Some(Some(f)) = self.flows.get_mut(slot as usize) {
                        f.configure(party & 1, cfg, until, &self.pkt.guard.owners);
                        if f.parked != 0 {
                            self.pkt.stun.flush(f, now_ms, &mut self.pkt.local);
                        }
                    }
                }
                Cmd::Remove { slot } => {
                    let slot = slot as usize;
                    if let Some(f) = self.flows.get_mut(slot).and_then(Option::take) {
                        for party in 0..2 {
                            if let Some(a) = f.sides[party].latched() {
                                self.pkt.guard.owners.release(f.key(party), a);
                            }
                        }
                        io.removed(slot, f);
                    }
                }
                Cmd::Stop => return false,
            }
        }
    }

    fn add(&mut self, slot: usize, f: FlowInit, io: &mut impl FlowIo) {
        if self.flows.len() <= slot {
            self.flows.resize_with(slot + 1, || None);
        }
        if let Some(old) = self.flows[slot].take() {
            io.removed(slot, old);
        }
        self.pkt.guard.owners.reserve(1);
        let until = self.now_ms() + self.pkt.policy.learn_window_ms;
        let mut sides = [Side::default(), Side::default()];
        sides.iter_mut().for_each(|s| s.open_window(until));
        let flow = self.flows[slot].insert(Flow {
            socks: f.socks,
            sides,
            shared: f.shared,
            stream_id: f.stream_id,
            rtcp: f.rtcp,
            v6: f.v6,
            parked: 0,
        });
        if let Err(e) = io.added(slot, flow) {
            self.log.send_log(
                LogLevel::Error,
                format!(
                    "relay worker {}: cannot receive on a new flow: {e}",
                    self.id
                ),
            );
        }
    }

    /// Logs socket errors at most once a second per worker.
    pub fn socket_error(&mut self, now_ms: u64, what: &str, e: &io::Error) {
        if now_ms.saturating_sub(self.last_error_log_ms) < 1000 && self.last_error_log_ms != 0 {
            self.suppressed_errors += 1;
            return;
        }
        let suppressed = std::mem::take(&mut self.suppressed_errors);
        self.last_error_log_ms = now_ms;
        let extra = if suppressed > 0 {
            format!(" ({suppressed} similar errors suppressed)")
        } else {
            String::new()
        };
        self.log.send_log(
            LogLevel::Debug,
            format!("relay worker {}: {what}: {e}{extra}", self.id),
        );
    }

    /// Runs `step` until it returns `false`; a panic in it is logged and the loop goes on.
    pub fn run_loop(&mut self, mut step: impl FnMut(&mut Core) -> bool) {
        loop {
            let keep_going =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(&mut *self)));
            match keep_going {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => {
                    self.log.send_log(
                        LogLevel::Error,
                        format!(
                            "relay worker {}: panic in the event loop, continuing",
                            self.id
                        ),
                    );
                }
            }
        }
    }
}
