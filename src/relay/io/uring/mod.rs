//! The io_uring back end of the relay workers.
//!
//! Per worker one ring, created on the worker's own thread (single issuer with task work
//! deferred to the worker's own waits where the kernel offers it, so receives run in batches
//! when the worker asks for completions and never interrupt it):
//! * **receive**: one multishot `recvmsg` (`IORING_OP_RECVMSG` + `IORING_RECV_MULTISHOT`) per
//!   socket the worker owns, all drawing from one provided buffer ring
//!   (`IORING_REGISTER_PBUF_RING`). Each completion carries one datagram in one buffer: an
//!   `io_uring_recvmsg_out` header, the source address, the payload. A wait returns the packets of thousands of sockets at once.
//! * **send**: a forwarded packet becomes an `IORING_OP_SEND` with a destination (`sendto`)
//!   straight from its receive buffer (no copy), with a per-buffer destination address; every
//!   submission of a batch goes to the kernel in the one `io_uring_enter` that also waits for
//!   the next completions. The send's completion gives the buffer back to the ring.
//! * **sockets** are addressed through a registered-file table (index = slot × 2 + side, no
//!   descriptor lookup per request; descriptors where the table could not be set up).
//! * **re-arm**: when a receive's completion lacks `IORING_CQE_F_MORE` the kernel has ended it
//!   (no free buffer: `ENOBUFS`; a full completion queue; an error): the socket is armed again
//!   once buffers are back (errors other than `ENOBUFS` after a short pause, so a socket that
//!   keeps failing cannot spin the worker). Its packets wait in the socket meanwhile.
//! * **close**: the receive of a removed flow is cancelled by its `user_data`; the socket is
//!   closed only once the receive's last completion has arrived (an in-flight request holds the
//!   socket: closing it earlier would keep the port bound and let its completions run on). Every
//!   receive's `user_data` carries a generation, so completions that were already queued for a
//!   flow that is gone, or for the flow that reuses its slot, are recognised and dropped.
//! * **wake-up**: a multishot poll on the worker's eventfd; commands from the control thread
//!   are applied at the start of every batch, before its packets (as the epoll back end does).
//!
//! The per-packet path does not allocate and takes no lock: buffers, send addresses and the
//! re-arm lists are sized when flows are added. `unsafe` is confined to the ring's memory
//! ([`memory`]) and submissions ([`ring`]); each block says why it is sound.
//!
//! Rooms: [`memory`] (mappings, the provided buffer ring), [`ring`] (set-up, submissions, waits,
//! completions, tear-down), [`mod@probe`] (can io_uring run here?), [`forward`] (the packet path:
//! receive, judge, send, re-arm), and this file (the worker's state per flow, the event loop).

mod forward;
#[allow(unsafe_code)]
mod memory;
mod probe;
#[allow(unsafe_code)]
mod ring;

pub(crate) use probe::probe;

use super::{Driver, UringSettings};
use crate::relay::counters::Counters;
use crate::relay::events::LogLevel;
use crate::relay::worker::{mirror, Core, Flow, FlowIo};
use io_uring::cqueue;
use ring::{Cqe, Ring, Target};
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// `user_data` layout: kind in bits 62–63. Receives: generation in bits 32–61, slot in bits
/// 2–31, socket in bits 0–1 (see [`SOCKS`]). Sends: the buffer id.
const KIND_SHIFT: u32 = 62;
const K_RECV: u64 = 0;
const K_SEND: u64 = 1;
const K_WAKE: u64 = 2;
const K_CANCEL: u64 = 3;
const GEN_MASK: u32 = (1 << 30) - 1;
const SLOT_MAX: usize = (1 << 30) - 1;
/// Sockets per slot, numbered `k`: 0 and 1 are the flow's own (`Flow::socks[k]`, bound to its
/// ports), 2 and 3 the connected twins of 0 and 1 ([`Twin`]). Socket `k` belongs to side `k & 1`.
const SOCKS: usize = 4;

/// Idle wait (the worker wakes at least this often) and the pause before a receive that ended
/// with an error is armed again.
const IDLE_WAIT: Duration = Duration::from_secs(1);
const RETRY_MS: u64 = 50;
/// Completions taken from the queue at a time.
const REAP: usize = 1024;
/// Media copies held back per turn until their forwarded packets are submitted (more go at
/// once).
const COPIES: usize = REAP;
/// With `relay_batch_wait`, how many new completions end a wait before its time is up.
const WAIT_BATCH: usize = 64;

fn recv_ud(slot: usize, k: usize, gen: u32) -> u64 {
    (K_RECV << KIND_SHIFT)
        | (u64::from(gen & GEN_MASK) << 32)
        | ((slot as u64 & SLOT_MAX as u64) << 2)
        | (k as u64 & 3)
}

/// (slot, socket, generation) of a receive's `user_data`.
fn recv_parts(ud: u64) -> (usize, usize, u32) {
    (
        ((ud >> 2) & SLOT_MAX as u64) as usize,
        (ud & 3) as usize,
        ((ud >> 32) as u32) & GEN_MASK,
    )
}

/// The connected twin of one of a flow's sockets (`relay_connected_sockets`): made the first
/// time the worker sends from that socket, pointed at a new peer whenever the side's
/// destination changes (re-latch, new SDP address), closed with the flow.
#[derive(Default)]
struct Twin {
    sock: Option<UdpSocket>,
    /// Where `sock` is connected to; `None`: no socket, or the last connect failed.
    peer: Option<SocketAddr>,
    /// A destination whose twin could not be made or connected: sends to it go through the
    /// flow's own socket, with no new attempt until the destination changes.
    failed: Option<SocketAddr>,
}

#[derive(Default)]
struct SlotIo {
    gen: u32,
    /// Per socket `k` (see [`SOCKS`]): its multishot receive is in flight.
    armed: [bool; SOCKS],
    /// Per socket `k`: it is in the registered-file table at [`file_index`].
    fixed: [bool; SOCKS],
    /// The twins of sockets 0 and 1 (sockets 2 and 3).
    twins: [Twin; 2],
}

/// Where socket `k` of `slot` goes in the registered-file table.
fn file_index(slot: usize, k: usize) -> Option<u32> {
    u32::try_from(slot.checked_mul(SOCKS)?.checked_add(k)?).ok()
}

/// Socket `k` of a flow (its own, or its twin's where there is one).
fn sock_of<'a>(flow: &'a Flow, st: &'a SlotIo, k: usize) -> Option<&'a UdpSocket> {
    match k {
        0 | 1 => flow.socks.get(k),
        _ => st.twins.get(k - 2).and_then(|t| t.sock.as_ref()),
    }
}

pub(crate) struct UringIo {
    ring: Ring,
    /// Receive state per worker slot, beside `Core::flows`.
    slots: Vec<SlotIo>,
    next_gen: u32,
    /// Live sockets whose receive ended, to arm again once buffers are back (each at most once
    /// in `rearm` + `retry`; capacity for every socket is reserved when flows are added).
    rearm: Vec<u64>,
    /// Live sockets whose receive ended with an error, armed again at `retry_at_ms`.
    retry: Vec<u64>,
    retry_at_ms: u64,
    /// Sockets of removed flows whose cancelled receive has not posted its last completion.
    closing: HashMap<u64, UdpSocket>,
    /// Cancels that could not be queued yet.
    uncancelled: Vec<u64>,
    cqes: Vec<Cqe>,
    wake_fd: RawFd,
    wake_armed: bool,
    wake_seen: bool,
    /// `relay_batch_wait` in microseconds, 0 when off or when the kernel cannot do it.
    batch_us: u32,
    /// `relay_connected_sockets`: send through connected twins.
    twins: bool,
    counters: &'static Counters,
    /// Media copies of sends queued this turn, made once those are submitted: (slot, sending
    /// side, buffer, receive result). The buffers stay ours until the sends' completions.
    copies: Vec<(usize, usize, u16, i32)>,
}

impl UringIo {
    /// The ring of a worker, made on the worker's own thread, with its wake-up armed. `Err`:
    /// why not.
    pub(crate) fn new(core: &Core, s: UringSettings) -> Result<UringIo, String> {
        let ring = Ring::new(s.buffers, s.files)?;
        let mut io = UringIo {
            batch_us: if ring.min_wait_supported() {
                s.batch_us
            } else {
                0
            },
            ring,
            slots: Vec::new(),
            next_gen: 1,
            rearm: Vec::new(),
            retry: Vec::new(),
            retry_at_ms: 0,
            closing: HashMap::new(),
            uncancelled: Vec::new(),
            cqes: Vec::with_capacity(REAP),
            wake_fd: core.wake.as_raw_fd(),
            wake_armed: false,
            wake_seen: false,
            twins: s.twins,
            counters: core.counters,
            copies: Vec::with_capacity(COPIES),
        };
        io.arm_wake();
        if !io.wake_armed {
            return Err("cannot poll the wake-up eventfd".into());
        }
        if s.batch_us > 0 && io.batch_us == 0 {
            core.log.send_log(
                LogLevel::Info,
                format!(
                    "relay worker {}: relay_batch_wait needs Linux 6.12 (IORING_FEAT_MIN_TIMEOUT); \
                     waking for every completion",
                    core.id
                ),
            );
        }
        Ok(io)
    }
}

impl Driver for UringIo {
    fn turn(&mut self, core: &mut Core) -> bool {
        self.iteration(core)
    }

    fn finish(self, core: &mut Core) {
        // the ring cancels every receive and waits for the kernel before the sockets close
        let twins_open: usize = self
            .slots
            .iter()
            .map(|s| s.twins.iter().filter(|t| t.sock.is_some()).count())
            .sum();
        drop(self);
        Counters::sub(&core.counters.connected_sockets, twins_open as u64);
    }
}

impl FlowIo for UringIo {
    fn added(&mut self, slot: usize, flow: &Flow) -> io::Result<()> {
        if slot > SLOT_MAX {
            return Err(io::Error::other("slot out of range"));
        }
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, SlotIo::default);
        }
        let want = SOCKS * self.slots.len();
        for list in [&mut self.rearm, &mut self.retry] {
            if list.capacity() < want {
                list.reserve(want - list.len());
            }
        }
        let gen = self.next_gen;
        self.next_gen = (self.next_gen + 1) & GEN_MASK;
        let mut fixed = [false; SOCKS];
        for (k, f) in fixed.iter_mut().enumerate().take(2) {
            if let Some(idx) = file_index(slot, k) {
                *f = self.ring.register_file(idx, flow.socks[k].as_raw_fd());
            }
        }
        self.slots[slot] = SlotIo {
            gen,
            armed: [false; SOCKS],
            fixed,
            twins: Default::default(),
        };
        let mut failed = 0;
        for k in 0..2 {
            if !self.arm(slot, k, flow.socks[k].as_raw_fd()) {
                failed += 1;
            }
        }
        if failed > 0 {
            return Err(io::Error::other(
                "submission queue full: the receive starts shortly",
            ));
        }
        Ok(())
    }

    fn removed(&mut self, slot: usize, flow: Flow) {
        let Some(st) = self.slots.get_mut(slot) else {
            return;
        };
        let mut st = std::mem::take(st);
        let [s0, s1] = flow.socks;
        let [t0, t1] = std::mem::take(&mut st.twins).map(|t| t.sock);
        let twins = usize::from(t0.is_some()) + usize::from(t1.is_some());
        for (k, sock) in [Some(s0), Some(s1), t0, t1].into_iter().enumerate() {
            let Some(sock) = sock else {
                continue;
            };
            let ud = recv_ud(slot, k, st.gen);
            if st.armed[k] {
                if !self.ring.cancel(ud) {
                    self.uncancelled.push(ud);
                }
                self.closing.insert(ud, sock);
            } else {
                // not armed: nothing in flight holds it; forget any pending re-arm
                self.rearm.retain(|&u| u != ud);
                self.retry.retain(|&u| u != ud);
                drop(sock);
            }
            // the table lets go of the socket; a receive still in flight keeps its own hold
            // until its last completion
            if st.fixed[k] {
                if let Some(idx) = file_index(slot, k) {
                    self.ring.unregister_file(idx);
                }
            }
        }
        Counters::sub(&self.counters.connected_sockets, twins as u64);
    }
}

impl UringIo {
    fn arm_wake(&mut self) {
        self.wake_armed = self.ring.poll(self.wake_fd, K_WAKE << KIND_SHIFT);
    }

    /// Arms the receive of socket `k` of `slot` (current generation).
    fn arm(&mut self, slot: usize, k: usize, fd: RawFd) -> bool {
        let Some(st) = self.slots.get(slot) else {
            return false;
        };
        let ud = recv_ud(slot, k, st.gen);
        if self.ring.arm(self.target(slot, k, fd), ud) {
            self.slots[slot].armed[k] = true;
            true
        } else {
            self.retry.push(ud);
            false
        }
    }

    /// How requests name socket `k` of `slot` (descriptor `fd`).
    fn target(&self, slot: usize, k: usize, fd: RawFd) -> Target {
        match (self.slots.get(slot), file_index(slot, k)) {
            (Some(st), Some(idx)) if st.fixed.get(k) == Some(&true) => Target::Fixed(idx),
            _ => Target::Fd(fd),
        }
    }

    /// Whether a receive `user_data` belongs to the flow now in its slot.
    fn live(&self, core: &Core, slot: usize, gen: u32) -> bool {
        self.slots.get(slot).is_some_and(|s| s.gen == gen)
            && core.flows.get(slot).is_some_and(Option::is_some)
    }

    fn iteration(&mut self, core: &mut Core) -> bool {
        let batching = self.batch_us > 0 && !self.wake_seen;
        if batching {
            // Submit the queued sends and take their (inline) completions now, so that the wait
            // below counts only packets that arrive during it: otherwise the send completions
            // alone would end every wait when `batch_us` is up.
            self.ring.bufs().publish();
            if let Err(e) = Ring::submit(&mut self.ring) {
                return self.enter_failed(core, &e);
            }
            self.copy_submitted(core);
            if !self.settle(core) {
                return false;
            }
        }
        // after a wake-up, apply the commands without waiting for more completions; when
        // batching, wake early only for WAIT_BATCH new completions, and for any once `batch_us` is up
        let (want, min_us) = if self.wake_seen {
            (0, 0)
        } else if batching {
            (WAIT_BATCH, self.batch_us)
        } else {
            (1, 0)
        };
        self.wake_seen = false;
        let timeout = if self.retry.is_empty() && self.uncancelled.is_empty() && self.wake_armed {
            IDLE_WAIT
        } else {
            Duration::from_millis(RETRY_MS)
        };
        self.ring.bufs().publish();
        if !self.copies.is_empty() {
            // the forwarded packets go first, then their copies, then the wait
            if let Err(e) = Ring::submit(&mut self.ring) {
                return self.enter_failed(core, &e);
            }
            self.copy_submitted(core);
        }
        if let Err(e) = self.ring.submit_and_wait_min(want, timeout, min_us) {
            return self.enter_failed(core, &e);
        }
        self.settle(core)
    }

    /// Sends the media copies of the packets whose sends were just submitted (their buffers
    /// are still ours: a send gives its buffer back only when its completion is handled).
    fn copy_submitted(&mut self, core: &mut Core) {
        for (slot, side, bid, res) in self.copies.drain(..) {
            let Some(Some(flow)) = core.flows.get(slot) else {
                continue;
            };
            if let Some(d) = self.ring.datagram(bid, res) {
                mirror::copy(flow, side, d.src, d.payload, &mut core.pkt.local);
            }
        }
    }

    fn enter_failed(&mut self, core: &mut Core, e: &io::Error) -> bool {
        core.log.send_log(
            LogLevel::Error,
            format!("relay worker {}: io_uring_enter: {e}", core.id),
        );
        std::thread::sleep(Duration::from_millis(10));
        true
    }

    /// Applies the queued commands, then handles the completions there are, re-arms, retries
    /// cancels and publishes the counters. `false`: the worker is to stop.
    fn settle(&mut self, core: &mut Core) -> bool {
        // Signalling first (see the epoll back end): every command queued before the control
        // reply that let an endpoint send is applied before that endpoint's packets are judged.
        if !core.commands(self) {
            return false;
        }
        let now_ms = core.now_ms();
        // a bounded number of rounds, so a flood cannot hold off commands and re-arms
        for _ in 0..4 {
            let mut cqes = std::mem::take(&mut self.cqes);
            self.ring.reap(&mut cqes);
            let n = cqes.len();
            for c in &cqes {
                self.complete(core, *c, now_ms);
            }
            self.cqes = cqes;
            if n < REAP {
                break;
            }
        }
        if self.wake_seen {
            // reset before the next look at the channel, so a command queued meanwhile
            // wakes us again
            core.wake.drain();
        }
        if !self.wake_armed {
            self.arm_wake();
        }
        self.ring.bufs().publish();
        self.rearm_pending(core, now_ms);
        if !self.uncancelled.is_empty() {
            let list = std::mem::take(&mut self.uncancelled);
            for ud in list {
                if !self.ring.cancel(ud) {
                    self.uncancelled.push(ud);
                }
            }
        }
        core.flush_counters();
        true
    }

    fn complete(&mut self, core: &mut Core, c: Cqe, now_ms: u64) {
        let more = cqueue::more(c.flags);
        match c.ud >> KIND_SHIFT {
            K_RECV => self.received(core, c, more, now_ms),
            K_SEND => {
                let bid = (c.ud & 0xFFFF) as u16;
                let local = &mut core.pkt.local;
                if c.res >= 0 {
                    local.relayed += 1;
                    local.bytes += c.res as u64;
                } else {
                    local.dropped_other += 1;
                    core.socket_error(now_ms, "sendmsg", &io::Error::from_raw_os_error(-c.res));
                }
                self.ring.bufs().give(bid);
            }
            K_WAKE => {
                self.wake_seen = true;
                if !more {
                    self.wake_armed = false;
                }
            }
            _ => {} // cancel results: the cancelled receive's own completion does the work
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips() {
        for (slot, side, gen) in [(0, 0, 1), (5, 1, 7), (SLOT_MAX, 1, GEN_MASK)] {
            let ud = recv_ud(slot, side, gen);
            assert_eq!(ud >> KIND_SHIFT, K_RECV);
            assert_eq!(recv_parts(ud), (slot, side, gen));
        }
    }

    #[test]
    fn probe_answers() {
        // either io_uring works here, or the reason is given
        match probe() {
            Ok(()) => {}
            Err(why) => assert!(!why.is_empty()),
        }
    }
}
