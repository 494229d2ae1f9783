//! Media copies on the packet path (the worker side; the control side is `relay/mirror.rs`):
//! per flow a short list of [`Out`]s (the sending party, the copy socket, the destination if
//! known), changed only by [`MirrorOp`] commands, and [`copy`], the one extra send per copy of
//! a media packet (RTP or RTCP, never STUN) that [`super::judge()`] accepted for forwarding. A
//! back end calls it once the forwarded packet is on its way (epoll: after the batch's
//! `sendmmsg`; io_uring: after the batch's sends are submitted), so a copy never holds the
//! forwarded packet back. The send is a non-blocking `sendto`; a failed copy is counted
//! (`packets_copy_failed`) and nothing else.

use super::flow::{bump, Flow};
use super::Local;
use crate::relay::counters::Counters;
use crate::relay::packet::classify;
use std::net::{SocketAddr, UdpSocket};

/// One copy of one flow direction, as the worker holds it.
pub struct Out {
    pub key: u64,
    /// Whose packets are copied (0 caller, 1 callee).
    pub party: usize,
    pub sock: UdpSocket,
    pub dest: Option<SocketAddr>,
}

/// A change of a flow's copies.
pub enum MirrorOp {
    Add(Box<Out>),
    Target { key: u64, dest: Option<SocketAddr> },
    Remove { key: u64 },
}

/// Applies a [`MirrorOp`] to a flow (worker side).
pub(crate) fn apply(flow: &mut Flow, op: MirrorOp) {
    match op {
        MirrorOp::Add(out) => {
            flow.mirrors.retain(|o| o.key != out.key);
            flow.mirrors.push(*out);
        }
        MirrorOp::Target { key, dest } => {
            if let Some(o) = flow.mirrors.iter_mut().find(|o| o.key == key) {
                o.dest = dest;
            }
        }
        MirrorOp::Remove { key } => flow.mirrors.retain(|o| o.key != key),
    }
}

/// Sends the copies of a packet `party` sent and the back end has just sent on (its media:
/// RTP, RTCP; never STUN). Per packet: no allocation, no lock; nothing when the flow has no
/// copies.
#[inline]
pub(crate) fn copy(flow: &Flow, party: usize, pkt: &[u8], local: &mut Local) {
    if flow.mirrors.is_empty() || !classify(pkt).is_media() {
        return;
    }
    for o in &flow.mirrors {
        if o.party != party {
            continue;
        }
        let Some(dest) = o.dest else { continue };
        match o.sock.send_to(pkt, dest) {
            Ok(_) => {
                local.copied += 1;
                bump(&flow.shared.copied[party], 1);
            }
            Err(_) => local.copy_failed += 1,
        }
    }
}

/// Adds a batch's copy counts to the relay's counters.
pub(crate) fn flush(c: &Counters, l: &Local) {
    Counters::add(&c.packets_copied, l.copied);
    Counters::add(&c.packets_copy_failed, l.copy_failed);
}
