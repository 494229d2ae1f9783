//! The packet path of the io_uring worker: a receive completion becomes a datagram for the
//! core's decision ([`judge`]) and a send straight from its buffer (through the connected twin
//! of the sending socket where there is one); receives the kernel ended are armed again.

use super::ring::{Cqe, Target};
use super::{file_index, recv_parts, sock_of, UringIo, RETRY_MS};
use crate::relay::counters::Counters;
use crate::relay::sys::{connected_twin, reconnect_twin};
use crate::relay::worker::{judge, mirror, Core, Forward};
use io_uring::cqueue;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

/// Errors a connected socket reports for an ICMP message from its peer.
fn is_icmp_error(errno: i32) -> bool {
    matches!(
        errno,
        libc::ECONNREFUSED
            | libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::ENOPROTOOPT
            | libc::EOPNOTSUPP
            | libc::EACCES
            | libc::EPROTO
            | libc::EMSGSIZE
    )
}

impl UringIo {
    pub(super) fn received(&mut self, core: &mut Core, c: Cqe, more: bool, now_ms: u64) {
        let (slot, k, gen) = recv_parts(c.ud);
        let live = self.live(core, slot, gen);
        if let Some(bid) = cqueue::buffer_select(c.flags) {
            self.ring.bufs().held += 1;
            let mut queued = false;
            if live && c.res >= 0 {
                // a twin's packets are its side's, like those of the flow's own socket
                queued = self.forward(core, slot, k & 1, bid, c.res, now_ms);
            }
            if !queued {
                self.ring.bufs().give(bid);
            }
        }
        if more {
            return;
        }
        // the kernel ended this receive
        if !live {
            // a removed flow's socket: the kernel has let go of it, close it now
            self.closing.remove(&c.ud);
            return;
        }
        self.slots[slot].armed[k] = false;
        match c.res {
            r if r >= 0 || r == -libc::ENOBUFS || r == -libc::ECANCELED => {
                if r == -libc::ENOBUFS {
                    core.pkt.local.rx_no_buffers += 1;
                }
                self.rearm.push(c.ud);
            }
            // A connected socket (a twin; the others never get one) reports an ICMP error from
            // its peer (port unreachable, say: the peer's port was closed when a packet reached
            // it) on its next receive, which then ends. The receive consumed the error: arm
            // again at once, the peer's next packets are already on their way.
            r if is_icmp_error(-r) => self.rearm.push(c.ud),
            r => {
                core.socket_error(now_ms, "recvmsg", &io::Error::from_raw_os_error(-r));
                if self.retry.is_empty() {
                    self.retry_at_ms = now_ms + RETRY_MS;
                }
                self.retry.push(c.ud);
            }
        }
    }

    /// Judges the datagram in buffer `bid` and queues its send. `false`: not sent (dropped and
    /// counted); the buffer is still ours.
    pub(super) fn forward(
        &mut self,
        core: &mut Core,
        slot: usize,
        side: usize,
        bid: u16,
        res: i32,
        now_ms: u64,
    ) -> bool {
        let Some(Some(flow)) = core.flows.get_mut(slot) else {
            return false;
        };
        let Some(d) = self.ring.datagram(bid, res) else {
            core.pkt.local.dropped_other += 1;
            return false;
        };
        let len = d.payload.len();
        let Some(Forward { side: o, to: dest }) = judge(flow, side, &d, now_ms, &mut core.pkt)
        else {
            return false;
        };
        let v6 = flow.sock_v6.get(o).copied().unwrap_or(flow.v6);
        let copying = !flow.mirrors.is_empty();
        let (t, to) = match self.twin_towards(slot, o, &flow.socks[o], dest) {
            Ok(Some(t)) => (t, None),
            Ok(None) => (self.target(slot, o, flow.socks[o].as_raw_fd()), Some(dest)),
            Err(e) => {
                let t = self.target(slot, o, flow.socks[o].as_raw_fd());
                core.socket_error(now_ms, "connected socket", &e);
                (t, Some(dest))
            }
        };
        if self.ring.send(t, bid, len, to, v6) {
            if copying {
                if self.copies.len() < self.copies.capacity() {
                    self.copies.push((slot, side, bid, res));
                } else if let (Some(Some(flow)), Some(d)) =
                    (core.flows.get(slot), self.ring.datagram(bid, res))
                {
                    // more copies this turn than room for: this one goes now
                    mirror::copy(flow, side, d.src, d.payload, &mut core.pkt.local);
                }
            }
            true
        } else {
            core.pkt.local.dropped_other += 1;
            false
        }
    }

    /// The connected twin of socket `o` of `slot` (`primary`), pointed at `dest`: made, or
    /// connected again, when it is not connected there yet. `Ok(None)`: send from `primary` with
    /// the destination (twins are off, or this destination already failed); `Err`: it failed
    /// now (the caller logs it and sends from `primary`).
    pub(super) fn twin_towards(
        &mut self,
        slot: usize,
        o: usize,
        primary: &UdpSocket,
        dest: SocketAddr,
    ) -> io::Result<Option<Target>> {
        if !self.twins {
            return Ok(None);
        }
        let Some(tw) = self.slots.get(slot).and_then(|st| st.twins.get(o)) else {
            return Ok(None);
        };
        if tw.peer != Some(dest) {
            if tw.failed == Some(dest) {
                return Ok(None);
            }
            self.point_twin(slot, o, primary, dest)?;
        }
        let Some(fd) = self.slots[slot].twins[o]
            .sock
            .as_ref()
            .map(AsRawFd::as_raw_fd)
        else {
            return Ok(None);
        };
        Ok(Some(self.target(slot, 2 + o, fd)))
    }

    /// The cold part of [`UringIo::twin_towards`]: makes the twin of socket `o` of `slot`
    /// (registers and arms it) or connects it again, to `dest`. On failure the destination is
    /// remembered as failed.
    #[cold]
    pub(super) fn point_twin(
        &mut self,
        slot: usize,
        o: usize,
        primary: &UdpSocket,
        dest: SocketAddr,
    ) -> io::Result<()> {
        let k = 2 + o;
        let Some(st) = self.slots.get_mut(slot) else {
            return Ok(());
        };
        let made = match &st.twins[o].sock {
            // sends already queued go out first, to the peer they were queued for
            Some(s) => self
                .ring
                .submit()
                .and_then(|()| reconnect_twin(s, dest))
                .map(|()| None),
            None => connected_twin(primary, dest).map(Some),
        };
        let tw = &mut st.twins[o];
        let new = match made {
            Ok(new) => new,
            Err(e) => {
                tw.peer = None;
                tw.failed = Some(dest);
                return Err(e);
            }
        };
        tw.peer = Some(dest);
        tw.failed = None;
        if let Some(sock) = new {
            let fd = sock.as_raw_fd();
            tw.sock = Some(sock);
            Counters::add(&self.counters.connected_sockets, 1);
            st.fixed[k] = file_index(slot, k).is_some_and(|idx| self.ring.register_file(idx, fd));
            // its peer's packets now come to it: receive them
            self.arm(slot, k, fd);
        }
        Ok(())
    }

    /// Arms again the receives the kernel ended, when buffers are there (errors: after their
    /// pause).
    pub(super) fn rearm_pending(&mut self, core: &mut Core, now_ms: u64) {
        if !self.retry.is_empty() && now_ms >= self.retry_at_ms {
            let mut retry = std::mem::take(&mut self.retry);
            self.rearm.append(&mut retry);
            self.retry = retry;
        }
        if self.rearm.is_empty() || self.ring.bufs().available() == 0 {
            return;
        }
        let mut list = std::mem::take(&mut self.rearm);
        for &ud in &list {
            let (slot, k, gen) = recv_parts(ud);
            if !self.live(core, slot, gen) || self.slots[slot].armed[k] {
                continue;
            }
            let Some(Some(flow)) = core.flows.get(slot) else {
                continue;
            };
            let Some(fd) = sock_of(flow, &self.slots[slot], k).map(AsRawFd::as_raw_fd) else {
                continue;
            };
            if self.arm(slot, k, fd) {
                core.pkt.local.rx_rearms += 1;
            } else if self.retry.len() == 1 {
                self.retry_at_ms = now_ms + RETRY_MS;
            }
        }
        list.clear();
        self.rearm = list;
    }
}
