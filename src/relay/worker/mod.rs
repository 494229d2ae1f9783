//! The core of a relay worker thread: the flows handed to it, the forwarding decision
//! ([`judge()`]), the commands from the control thread and the latch notifications back to it
//! ([`Core`]). The worker's I/O back end (`relay::io`: epoll or io_uring) runs the core and moves
//! the datagrams; the core does not know which back end runs it. Nothing on the packet path is
//! shared with another thread except relaxed atomics written by this worker alone (per-stream
//! statistics) and the global counters, which are added once per event batch.
//!
//! A flow is one sub-stream of a relayed stream (RTP, or RTCP on port + 1) with two sockets:
//! `socks[0]` faces the caller (the caller sends to it), `socks[1]` faces the callee. A packet
//! received on `socks[i]` is checked against `sides[i]` (latching, [`super::latch`]) and the
//! relay's guard ([`super::guard`]) and sent from `socks[1 - i]` to `sides[1 - i].destination()`.
//! That decision is [`judge()`], the same function for every back end; the flow table and the
//! commands from the control thread are [`Core`], also shared. Every point of a flow's life
//! (added, latched on both sides, re-latched, unlatched, removed) is in [`flow`], where a
//! [`flow::FlowObserver`] (a kernel fast path) can follow them.
//!
//! The per-packet path does not allocate and takes no lock: buffers and headers are allocated
//! once per worker; latch notifications go through a bounded (preallocated) channel with
//! `try_send`.

pub(crate) mod flow;
mod judge;
pub(crate) mod mirror;
mod stun;

pub(crate) use flow::{Flow, FlowObserver, NoObserver};
pub use flow::{FlowInit, StreamShared};
pub(crate) use judge::{judge, Forward};

use super::counters::Counters;
use super::events::{EventSink, LogLevel};
use super::guard::Guard;
use super::latch::{LatchPolicy, SideConfig};
use super::sys::EventFd;
use crossbeam_channel::{Receiver, Sender};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use stun::StunPark;

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
    /// A change of the flow's media copies (`worker/mirror.rs`).
    Mirror {
        slot: u32,
        op: mirror::MirrorOp,
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

/// Per-batch counts, added to the global counters once per batch
/// ([`Core::flush_counters`]).
#[derive(Default)]
pub(crate) struct Local {
    pub relayed: u64,
    pub bytes: u64,
    pub dropped_strict: u64,
    pub dropped_unlearned: u64,
    pub dropped_owned: u64,
    pub dropped_loop: u64,
    pub dropped_rate: u64,
    /// Nowhere to go (the other side has no address yet), or the send failed.
    pub dropped_other: u64,
    /// Longer than the relay relays (cut by the receive).
    pub dropped_truncated: u64,
    pub rx_rearms: u64,
    pub rx_no_buffers: u64,
    /// Media copies sent, and refused by the kernel ([`mirror`]).
    pub copied: u64,
    pub copy_failed: u64,
    /// Forwarded by the kernel fast path (also in `relayed`).
    pub kernel: u64,
}

/// What [`judge()`] needs besides the flow: the latching policy, the relay's guard, the
/// addresses this worker's sides own, where latch notifications go, the batch's counts, the
/// parked STUN, and who follows the flows' life cycle.
pub(crate) struct PacketCtx {
    pub policy: LatchPolicy,
    pub guard: Arc<Guard>,
    pub latch_tx: Sender<LatchEvent>,
    pub local: Local,
    pub stun: StunPark,
    pub observer: Box<dyn FlowObserver>,
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
                observer: Box::new(NoObserver),
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
        Counters::add(&c.packets_dropped_truncated, l.dropped_truncated);
        Counters::add(&c.rx_rearms, l.rx_rearms);
        Counters::add(&c.rx_no_buffers, l.rx_no_buffers);
        mirror::flush(c, &l);
        Counters::add(&c.packets_kernel, l.kernel);
    }

    /// Applies every queued command. `false`: stop (a `Stop` command, or the control side is
    /// gone).
    pub fn commands(&mut self, io: &mut impl FlowIo) -> bool {
        let now_ms = self.now_ms();
        self.pkt
            .observer
            .tick(&self.flows, now_ms, &mut self.pkt.local);
        loop {
            let cmd = match self.rx.try_recv() {
                Ok(c) => c,
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return false,
            };
            match cmd {
                Cmd::Add { slot, flow } => self.add(slot as usize, *flow, io),
                Cmd::Configure { slot, party, cfg } => self.configure(slot as usize, party, cfg),
                Cmd::Remove { slot } => self.remove(slot as usize, io),
                Cmd::Mirror { slot, op } => {
                    if let Some(Some(f)) = self.flows.get_mut(slot as usize) {
                        mirror::apply(f, op);
                        // a copied flow's packets must pass the worker (kernel fast path)
                        self.pkt.observer.resignalled(f);
                    }
                }
                Cmd::Stop => return false,
            }
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

#[cfg(test)]
mod tests;
