//! A relayed flow as its worker holds it, and its life cycle. Every change of a flow's state
//! that something outside the packet path may need to follow happens in one function here:
//!
//! * **added** ([`Core::add`]): the control thread hands a flow over (`Cmd::Add`); the back end
//!   starts receiving on its sockets ([`FlowIo::added`]). Neither side is latched.
//! * **latched, re-latched, unlatched** ([`latch_changed`]): the pair of latched sources changes,
//!   either because a packet latched or re-latched a side ([`learned`], from [`super::judge()`]) or
//!   because signalling reset a side's latch ([`Core::configure`], `Cmd::Configure`). A flow is
//!   *latched* when both sides are: from then on each direction has one accepted source and one
//!   destination, which is what a kernel fast path needs to forward it without the worker.
//! * **removed** ([`Core::remove`]): `Cmd::Remove`, or its slot is taken by a new flow; the
//!   sides give up their addresses, the back end stops receiving and closes the sockets
//!   ([`FlowIo::removed`]).
//!
//! [`FlowObserver`] is told of each of these points (a no-op unless one is installed with
//! [`Core::observe`]).

use super::{Core, FlowIo, LatchEvent, Local, PacketCtx};
use crate::relay::events::LogLevel;
use crate::relay::guard::{LatchedIp, Owners, RateGate, SideKey};
use crate::relay::kernel::StreamKernel;
use crate::relay::latch::{Side, SideConfig};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

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
    /// Packets copied per sending party (media copies, `worker/mirror.rs`).
    pub copied: [AtomicU64; 2],
    /// The stream's flows in the kernel fast path, whose packets the statistics count too.
    pub kernel: StreamKernel,
}

pub(super) fn bump(a: &AtomicU64, n: u64) {
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

/// One relayed flow as its worker holds it.
pub(crate) struct Flow {
    /// Where it is in the worker's flow table (`Core::flows`).
    pub slot: usize,
    pub socks: [UdpSocket; 2],
    pub sides: [Side; 2],
    pub shared: Arc<StreamShared>,
    pub stream_id: u64,
    pub rtcp: bool,
    /// Either socket is IPv6 (a kernel fast path that keys IPv4 flows leaves the flow alone).
    pub v6: bool,
    /// Each socket's family (`true`: IPv6): how a destination is written for a send from it
    /// (the two sides of a flow may be on different interfaces and families).
    pub sock_v6: [bool; 2],
    /// Directions with STUN parked in the worker's [`super::stun::StunPark`] (bit `1 << side`).
    pub parked: u8,
    /// Media copies of this flow ([`super::mirror`]), usually none.
    pub mirrors: Vec<super::mirror::Out>,
}

impl Flow {
    pub(super) fn key(&self, party: usize) -> SideKey {
        SideKey {
            stream_id: self.stream_id,
            rtcp: self.rtcp,
            party,
        }
    }

    /// The latched sources of both sides (caller's, callee's), when both sides are latched.
    pub fn latched(&self) -> Option<[SocketAddr; 2]> {
        Some([self.sides[0].latched()?, self.sides[1].latched()?])
    }
}

/// Follows the life cycle of a worker's flows (see the module documentation): a kernel fast
/// path installs a flow when it is latched, updates it when it is re-latched, and removes it
/// when it is unlatched or removed. Called on the worker thread; `latched`/`relatched` come from
/// the packet path, so they must not block. Every method does nothing by default.
pub(crate) trait FlowObserver: Send {
    /// Both sides of `flow` are latched now, to `sources` (caller's, callee's).
    fn latched(&mut self, _flow: &Flow, _sources: [SocketAddr; 2]) {}
    /// `flow` was latched and still is, but a side moved to another source (a NAT rebinding, a
    /// better match, new signalling): `sources` are the new pair.
    fn relatched(&mut self, _flow: &Flow, _sources: [SocketAddr; 2]) {}
    /// `flow` was latched and no longer is (signalling reset a side's latch): its packets are
    /// the worker's again until it latches anew.
    fn unlatched(&mut self, _flow: &Flow) {}
    /// `flow` leaves the worker; its sockets close right after.
    fn removed(&mut self, _flow: &Flow) {}
    /// New signalling for a side of `flow` (a re-INVITE, an update, a hold) left it latched to
    /// the same pair, or its media copies changed: what was decided before is decided again.
    fn resignalled(&mut self, _flow: &Flow) {}
    /// A packet from a source other than the latched one reached `party`'s side of a latched
    /// `flow`: the SSRC and sequence number of the last RTP packet of the latched source that
    /// went elsewhere (not through the worker), if any, so that the latch judges a NAT
    /// rebinding against the stream as it is now.
    fn last_rtp(&mut self, _flow: &Flow, _party: usize) -> Option<(u32, u16)> {
        None
    }
    /// Once per turn of the worker's loop (at least once a second): packets forwarded
    /// elsewhere are added to the flows' statistics and to `local`.
    fn tick(&mut self, _flows: &[Option<Flow>], _now_ms: u64, _local: &mut Local) {}
}

/// The observer of a worker that has none installed.
pub(crate) struct NoObserver;

impl FlowObserver for NoObserver {}

/// The one place a change of `flow`'s latched pair is reported (`before`: the pair before the
/// change).
pub(super) fn latch_changed(
    obs: &mut dyn FlowObserver,
    flow: &Flow,
    before: Option<[SocketAddr; 2]>,
) {
    match (before, flow.latched()) {
        (None, Some(now)) => obs.latched(flow, now),
        (Some(was), Some(now)) if was != now => obs.relatched(flow, now),
        (Some(_), None) => obs.unlatched(flow),
        _ => {}
    }
}

/// Side `i` of `flow` latched (or re-latched) to `addr`, from `before` (the judged packet's
/// verdict): the address changes hands in the guard's owner table, an RTP side tells its RTCP
/// side, the control thread hears of it (statistics), and the latched pair may have changed.
pub(super) fn learned(
    flow: &mut Flow,
    i: usize,
    before: Option<SocketAddr>,
    addr: SocketAddr,
    ctx: &mut PacketCtx,
) {
    let key = flow.key(i);
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
    let other = flow.sides[1 - i].latched();
    let pair = |a: SocketAddr, b: SocketAddr| if i == 0 { [a, b] } else { [b, a] };
    let was = before.zip(other).map(|(b, o)| pair(b, o));
    latch_changed(&mut *ctx.observer, flow, was);
}

/// New signalling for `party` of `flow`: its side takes it (a reset latch gives its address
/// up), and the learning window of both sides opens until `until_ms`.
fn configure(flow: &mut Flow, party: usize, cfg: SideConfig, until_ms: u64, owners: &Owners) {
    let before = flow.sides[party].latched();
    flow.sides[party].configure(cfg);
    let after = flow.sides[party].latched();
    if let Some(old) = before.filter(|_| after != before) {
        owners.release(flow.key(party), old);
    }
    if !flow.rtcp {
        flow.shared.rtp_ip[party].set(after.map(|a| a.ip()));
    }
    flow.sides.iter_mut().for_each(|s| s.open_window(until_ms));
}

impl Core {
    /// Installs the observer of this worker's flows ([`FlowObserver`]).
    pub(crate) fn observe(&mut self, observer: Box<dyn FlowObserver>) {
        self.pkt.observer = observer;
    }

    /// A flow is handed over (`Cmd::Add`) into `slot`: a flow still there is removed first.
    pub(super) fn add(&mut self, slot: usize, f: FlowInit, io: &mut impl FlowIo) {
        if self.flows.len() <= slot {
            self.flows.resize_with(slot + 1, || None);
        }
        self.remove(slot, io);
        self.pkt.guard.owners.reserve(1);
        let until = self.now_ms() + self.pkt.policy.learn_window_ms;
        let mut sides = [Side::default(), Side::default()];
        sides.iter_mut().for_each(|s| s.open_window(until));
        let sock_v6 = [0, 1].map(|i| f.socks[i].local_addr().map_or(f.v6, |a| a.is_ipv6()));
        let flow = self.flows[slot].insert(Flow {
            slot,
            socks: f.socks,
            sides,
            shared: f.shared,
            stream_id: f.stream_id,
            rtcp: f.rtcp,
            v6: f.v6 || sock_v6.iter().any(|&v| v),
            sock_v6,
            parked: 0,
            mirrors: Vec::new(),
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

    /// New signalling for `party` of the flow in `slot` (`Cmd::Configure`); STUN parked for a
    /// side that now has an address goes out.
    pub(super) fn configure(&mut self, slot: usize, party: usize, cfg: SideConfig) {
        let now_ms = self.now_ms();
        let until = now_ms + self.pkt.policy.learn_window_ms;
        let Some(Some(f)) = self.flows.get_mut(slot) else {
            return;
        };
        let before = f.latched();
        configure(f, party & 1, cfg, until, &self.pkt.guard.owners);
        latch_changed(&mut *self.pkt.observer, f, before);
        if before.is_some() && f.latched() == before {
            self.pkt.observer.resignalled(f);
        }
        if f.parked != 0 {
            self.pkt.stun.flush(f, now_ms, &mut self.pkt.local);
        }
    }

    /// The flow in `slot` (if any) leaves the worker (`Cmd::Remove`, or its slot is reused): its
    /// sides give their addresses up, the back end lets go of its sockets.
    pub(super) fn remove(&mut self, slot: usize, io: &mut impl FlowIo) {
        let Some(f) = self.flows.get_mut(slot).and_then(Option::take) else {
            return;
        };
        for party in 0..2 {
            if let Some(a) = f.sides[party].latched() {
                self.pkt.guard.owners.release(f.key(party), a);
            }
        }
        self.pkt.observer.removed(&f);
        io.removed(slot, f);
    }
}
