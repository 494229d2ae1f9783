//! The epoll back end of the relay workers (a sibling of [`super::uring`]): level-triggered
//! readiness per socket, `recvmmsg` of up to [`RECV_BATCH`] datagrams from a readable socket, one
//! `sendmmsg` of what [`judge`] made of them. The fallback where io_uring is missing, disabled or
//! refused.

use super::Driver;
use crate::relay::events::LogLevel;
use crate::relay::sys::{Epoll, EventBuf, RecvBatch, SendBatch};
use crate::relay::worker::{judge, mirror, Core, Flow, FlowIo};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// Packets taken from one socket per readiness event.
pub const RECV_BATCH: usize = 16;
const WAKE_TOKEN: u64 = u64::MAX;

/// The epoll back end: level-triggered readiness per socket, `recvmmsg` of up to [`RECV_BATCH`]
/// datagrams from a readable socket, one `sendmmsg` of what they became.
pub(crate) struct EpollIo {
    epoll: Epoll,
    events: EventBuf,
    recv: RecvBatch,
    send: SendBatch,
    out: Vec<(usize, SocketAddr)>,
}

impl FlowIo for EpollIo {
    fn added(&mut self, slot: usize, flow: &Flow) -> io::Result<()> {
        for (i, s) in flow.socks.iter().enumerate() {
            let token = ((slot as u64) << 1) | i as u64;
            self.epoll.add(s.as_raw_fd(), token)?;
        }
        Ok(())
    }

    fn removed(&mut self, _slot: usize, flow: Flow) {
        for s in &flow.socks {
            let _ = self.epoll.delete(s.as_raw_fd());
        }
        // the sockets close here
    }
}

impl EpollIo {
    pub(crate) fn new(core: &Core) -> io::Result<EpollIo> {
        let epoll = Epoll::new()?;
        epoll.add(core.wake.as_raw_fd(), WAKE_TOKEN)?;
        Ok(EpollIo {
            epoll,
            events: EventBuf::new(256),
            recv: RecvBatch::new(RECV_BATCH),
            send: SendBatch::new(RECV_BATCH),
            out: Vec::with_capacity(RECV_BATCH),
        })
    }
}

impl Driver for EpollIo {
    fn turn(&mut self, core: &mut Core) -> bool {
        let n = match self.epoll.wait(&mut self.events, 1000) {
            Ok(n) => n,
            Err(e) => {
                core.log.send_log(
                    LogLevel::Error,
                    format!("relay worker {}: epoll_wait: {e}", core.id),
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
                return true;
            }
        };
        // Signalling first: a command (new flow, new SDP address) is always queued before the
        // control reply that lets an endpoint send, so applying every queued command before
        // reading packets means no packet is judged by stale latching state. The eventfd is
        // reset before the channel is read, so a command queued meanwhile wakes us again.
        if (0..n).any(|i| self.events.token(i) == WAKE_TOKEN) {
            core.wake.drain();
        }
        if !core.commands(self) {
            return false;
        }
        let now_ms = core.now_ms();
        for i in 0..n {
            let t = self.events.token(i);
            if t != WAKE_TOKEN {
                // a token of a flow removed (and its slot reused) by the commands above only
                // leads to a receive attempt on the slot's current socket: harmless
                self.readable(core, t, now_ms);
            }
        }
        core.flush_counters();
        true
    }
}

impl EpollIo {
    fn readable(&mut self, core: &mut Core, token: u64, now_ms: u64) {
        let slot = (token >> 1) as usize;
        let i = (token & 1) as usize;
        let o = 1 - i;
        let Some(Some(flow)) = core.flows.get_mut(slot) else {
            return;
        };
        let n = match self.recv.recv(flow.socks[i].as_raw_fd()) {
            Ok(n) => n,
            Err(e) => {
                core.socket_error(now_ms, "recvmmsg", &e);
                return;
            }
        };
        self.out.clear();
        for k in 0..n {
            let Some(d) = self.recv.get(k) else {
                continue;
            };
            if let Some(f) = judge(flow, i, &d, now_ms, &mut core.pkt) {
                self.out.push((k, f.to));
            }
        }
        if self.out.is_empty() {
            return;
        }
        let res = self.send.send(
            flow.socks[o].as_raw_fd(),
            &self.recv,
            &self.out,
            flow.sock_v6[o],
        );
        let local = &mut core.pkt.local;
        if !flow.mirrors.is_empty() {
            // media copies, once the forwarded packets are sent
            for &(k, _) in &self.out {
                if let Some(d) = self.recv.get(k) {
                    mirror::copy(flow, i, d.src, d.payload, local);
                }
            }
        }
        local.relayed += res.sent as u64;
        local.bytes += res.bytes as u64;
        local.dropped_other += res.failed as u64;
        if let Some(e) = res.error {
            core.socket_error(now_ms, "sendmmsg", &e);
        }
    }
}
