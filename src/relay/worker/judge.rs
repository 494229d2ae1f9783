//! The forwarding decision for one received datagram, the same for every I/O back end.

use super::flow::{self, bump, Flow};
use super::PacketCtx;
use crate::relay::latch::{FlowRole, Verdict};
use crate::relay::packet::{classify, Datagram, PacketKind};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

/// Where a datagram goes: sent from the flow's socket `side` (`flow.socks[side]`, the side
/// opposite the one it arrived on) to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Forward {
    pub side: usize,
    pub to: SocketAddr,
}

/// The forwarding decision for datagram `d` received on `flow.socks[side]`: the guard (no packet
/// from or to the relay's own ports), latching and strict source, the rate ceiling, per-stream
/// statistics and codec, counts. Returns where to send it, or `None` when it is dropped
/// (counted here, by reason). Shared by every back end; no allocation, no lock.
#[inline]
pub(crate) fn judge(
    flow: &mut Flow,
    side: usize,
    d: &Datagram<'_>,
    now_ms: u64,
    ctx: &mut PacketCtx,
) -> Option<Forward> {
    let i = side & 1;
    let o = 1 - i;
    if d.truncated {
        ctx.local.dropped_truncated += 1;
        return None;
    }
    let (pkt, src) = (d.payload, d.src);
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
    if before.is_some_and(|b| b != src) && !flow.rtcp && matches!(kind, PacketKind::Rtp { .. }) {
        // a stranger or a rebinding NAT, while the latched source may be forwarded elsewhere
        if let Some((ssrc, seq)) = ctx.observer.last_rtp(flow, i) {
            flow.sides[i].resume(ssrc, seq);
        }
    }
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
            // after the statistics: a flow latched on both sides may leave the worker now
            // (the kernel fast path), with its first packets' codec recorded
            if let Some(addr) = learned {
                flow::learned(flow, i, before, addr, ctx);
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
            dest.map(|to| Forward { side: o, to })
        }
    }
}
