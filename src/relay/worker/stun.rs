//! STUN parked until the side it goes to has an address (see [`crate::relay::ice`] for why):
//! a bounded parking lot per worker, no allocation and no lock on the packet path.

use super::flow::Flow;
use super::Local;

/// Parking slots per worker.
pub const PARK_SLOTS: usize = 32;
/// Parked packets per direction of a flow at most.
pub const PARK_PER_DIRECTION: usize = 4;
/// Largest STUN message parked (RFC 8489 §6.1: 548 bytes unless the path MTU is known).
pub const PARK_MAX_LEN: usize = 576;
/// A parked packet older than this is dropped instead of sent.
pub const PARK_MAX_AGE_MS: u64 = 10_000;

#[derive(Clone, Copy)]
struct Parked {
    /// Stream id, RTCP flow, towards which side (0 caller, 1 callee).
    key: (u64, bool, u8),
    at_ms: u64,
    /// 0: free.
    len: u16,
    buf: [u8; PARK_MAX_LEN],
}

const FREE: Parked = Parked {
    key: (0, false, 0),
    at_ms: 0,
    len: 0,
    buf: [0; PARK_MAX_LEN],
};

/// One worker's parked STUN packets. Allocated once per worker; parking and sending take no
/// allocation and no lock. A flow marks the directions it parked something for in
/// [`Flow::parked`] (bit `1 << side`), so the packet path only tests one byte.
pub(crate) struct StunPark {
    slots: Box<[Parked]>,
}

impl Default for StunPark {
    fn default() -> Self {
        StunPark {
            slots: vec![FREE; PARK_SLOTS].into_boxed_slice(),
        }
    }
}

impl StunPark {
    /// Keeps a copy of `pkt` (STUN received on the other side of `flow`) until side `towards`
    /// has an address. `false`: not kept (too long, or this direction already holds
    /// [`PARK_PER_DIRECTION`] packets); the caller counts it as dropped.
    pub fn park(&mut self, flow: &mut Flow, towards: usize, pkt: &[u8], now_ms: u64) -> bool {
        if pkt.len() > PARK_MAX_LEN {
            return false;
        }
        let key = (flow.stream_id, flow.rtcp, towards as u8);
        let live = |p: &Parked| p.len != 0 && now_ms.saturating_sub(p.at_ms) <= PARK_MAX_AGE_MS;
        let held = self
            .slots
            .iter()
            .filter(|p| live(p) && p.key == key)
            .count();
        if held >= PARK_PER_DIRECTION {
            return false;
        }
        // a free or stale slot, else the oldest packet gives way
        let pick = self
            .slots
            .iter()
            .enumerate()
            .min_by_key(|(_, p)| if live(p) { (1, p.at_ms) } else { (0, 0) })
            .map(|(n, _)| n);
        let Some(n) = pick else { return false };
        let p = &mut self.slots[n];
        p.key = key;
        p.at_ms = now_ms;
        p.len = pkt.len() as u16;
        p.buf[..pkt.len()].copy_from_slice(pkt);
        flow.parked |= 1 << towards;
        true
    }

    /// Sends what `flow` parked towards each side that now has an address, oldest first, from
    /// that side's socket; packets too old are dropped. Counted in `local`.
    pub fn flush(&mut self, flow: &mut Flow, now_ms: u64, local: &mut Local) {
        for towards in 0..2usize {
            if flow.parked & (1 << towards) == 0 {
                continue;
            }
            let Some(dest) = flow.sides[towards].destination() else {
                continue;
            };
            flow.parked &= !(1 << towards);
            let key = (flow.stream_id, flow.rtcp, towards as u8);
            loop {
                // oldest first: the order the agent sent them in
                let next = self
                    .slots
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.len != 0 && p.key == key)
                    .min_by_key(|(_, p)| p.at_ms)
                    .map(|(n, _)| n);
                let Some(n) = next else { break };
                let p = &mut self.slots[n];
                let len = usize::from(std::mem::take(&mut p.len));
                if now_ms.saturating_sub(p.at_ms) > PARK_MAX_AGE_MS {
                    local.dropped_other += 1;
                    continue;
                }
                match flow.socks[towards].send_to(&p.buf[..len], dest) {
                    Ok(_) => {
                        local.relayed += 1;
                        local.bytes += len as u64;
                    }
                    Err(_) => local.dropped_other += 1,
                }
            }
        }
    }
}
