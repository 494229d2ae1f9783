//! Media copies on the packet path (the worker side; the control side is `relay/mirror.rs`):
//! per flow a short list of [`Out`]s (the sending party and a [`Sink`]: a UDP copy or a
//! recording), changed only by [`MirrorOp`] commands, and [`copy`], the one extra send per copy
//! of a media packet (RTP or RTCP, never STUN) that [`super::judge()`] accepted for forwarding.
//! A back end calls it once the forwarded packet is on its way (epoll: after the batch's
//! `sendmmsg`; io_uring: after the batch's sends are submitted), so a copy never holds the
//! forwarded packet back.
//!
//! * UDP copy: a non-blocking `sendto` from the copy's own socket; a failed copy is counted
//!   (`packets_copy_failed`) and nothing else.
//! * Recording: the datagram as it arrived (the party's address → the relay port) goes to the
//!   recorder's queue (`relay/record/`) with a `try_send` that never waits; a full queue costs
//!   the recorded copy only (counted by the recorder).

use super::flow::{bump, Flow};
use super::Local;
use crate::relay::counters::Counters;
use crate::relay::packet::classify;
use crate::relay::record::RecordHandle;
use std::net::{SocketAddr, UdpSocket};

/// One copy of one flow direction, as the worker holds it. A flow holds at most one `Out` per
/// `(key, party)`.
pub struct Out {
    pub key: u64,
    /// Whose packets are copied (0 caller, 1 callee).
    pub party: usize,
    pub sink: Sink,
}

/// Where a copy goes.
pub enum Sink {
    /// Sent from the copy's own socket to `dest` (none yet: not sent).
    Udp {
        sock: UdpSocket,
        dest: Option<SocketAddr>,
    },
    /// Written to the call's pcap file: `local` is the relay's address of the port the party
    /// sends to (the recorded packet's destination).
    Record {
        rec: RecordHandle,
        local: SocketAddr,
    },
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
            flow.mirrors
                .retain(|o| o.key != out.key || o.party != out.party);
            flow.mirrors.push(*out);
        }
        MirrorOp::Target { key, dest } => {
            for o in flow.mirrors.iter_mut().filter(|o| o.key == key) {
                if let Sink::Udp { dest: d, .. } = &mut o.sink {
                    *d = dest;
                }
            }
        }
        MirrorOp::Remove { key } => flow.mirrors.retain(|o| o.key != key),
    }
}

/// Sends the copies of a packet `party` sent from `src` and the back end has just sent on (its
/// media: RTP, RTCP; never STUN). Per packet: nothing when the flow has no copies; no lock, and
/// no allocation but a recording's queued copy.
#[inline]
pub(crate) fn copy(flow: &Flow, party: usize, src: SocketAddr, pkt: &[u8], local: &mut Local) {
    if flow.mirrors.is_empty() || !classify(pkt).is_media() {
        return;
    }
    for o in &flow.mirrors {
        if o.party != party {
            continue;
        }
        match &o.sink {
            Sink::Udp { sock, dest } => {
                let Some(dest) = *dest else { continue };
                match sock.send_to(pkt, dest) {
                    Ok(_) => {
                        local.copied += 1;
                        bump(&flow.shared.copied[party], 1);
                    }
                    Err(_) => local.copy_failed += 1,
                }
            }
            Sink::Record { rec, local: to } => {
                // a full queue is counted by the recorder; the call never notices
                let _ = rec.packet(o.key, src, *to, pkt);
            }
        }
    }
}

/// Adds a batch's copy counts to the relay's counters.
pub(crate) fn flush(c: &Counters, l: &Local) {
    Counters::add(&c.packets_copied, l.copied);
    Counters::add(&c.packets_copy_failed, l.copy_failed);
}
