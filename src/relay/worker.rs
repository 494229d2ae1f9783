//! Relay worker threads. Each worker owns an epoll instance and the sockets of the flows handed
//! to it; nothing on the packet path is shared with another thread except relaxed atomics
//! written by this worker alone (per-stream statistics) and the global counters, which are
//! added once per event batch.
//!
//! A flow is one sub-stream of a relayed stream (RTP, or RTCP on port + 1) with two sockets:
//! `socks[0]` faces the caller (the caller sends to it), `socks[1]` faces the callee. A packet
//! received on `socks[i]` is checked against `sides[i]` (latching) and sent from
//! `socks[1 - i]` to `sides[1 - i].destination()`.
//!
//! The per-packet path does not allocate and takes no lock: buffers and headers are allocated
//! once per worker; latch notifications go through a bounded (preallocated) channel with
//! `try_send`.

use super::counters::Counters;
use super::latch::{LatchPolicy, Side, SideConfig, Verdict};
use super::packet::{classify, PacketKind};
use super::sys::{Epoll, EventBuf, EventFd, RecvBatch, SendBatch};
use super::{EventSink, LogLevel};
use crossbeam_channel::{Receiver, Sender};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Packets taken from one socket per readiness event.
pub const BATCH: usize = 16;
const WAKE_TOKEN: u64 = u64::MAX;

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

struct Flow {
    socks: [UdpSocket; 2],
    sides: [Side; 2],
    shared: Arc<StreamShared>,
    stream_id: u64,
    rtcp: bool,
    v6: bool,
}

#[derive(Default)]
struct Local {
    relayed: u64,
    bytes: u64,
    dropped_strict: u64,
    dropped_other: u64,
}

pub struct Worker {
    pub(crate) id: usize,
    pub(crate) epoll: Epoll,
    pub(crate) wake: Arc<EventFd>,
    pub(crate) rx: Receiver<Cmd>,
    pub(crate) policy: LatchPolicy,
    pub(crate) epoch: Instant,
    pub(crate) counters: &'static Counters,
    pub(crate) latch_tx: Sender<LatchEvent>,
    pub(crate) log: EventSink,
    flows: Vec<Option<Flow>>,
    recv: RecvBatch,
    send: SendBatch,
    out: Vec<(usize, SocketAddr)>,
    local: Local,
    last_error_log_ms: u64,
    suppressed_errors: u64,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        wake: Arc<EventFd>,
        rx: Receiver<Cmd>,
        policy: LatchPolicy,
        epoch: Instant,
        counters: &'static Counters,
        latch_tx: Sender<LatchEvent>,
        log: EventSink,
    ) -> std::io::Result<Worker> {
        let epoll = Epoll::new()?;
        epoll.add(wake.as_raw_fd(), WAKE_TOKEN)?;
        Ok(Worker {
            id,
            epoll,
            wake,
            rx,
            policy,
            epoch,
            counters,
            latch_tx,
            log,
            flows: Vec::new(),
            recv: RecvBatch::new(BATCH),
            send: SendBatch::new(BATCH),
            out: Vec::with_capacity(BATCH),
            local: Local::default(),
            last_error_log_ms: 0,
            suppressed_errors: 0,
        })
    }

    /// Runs until a `Stop` command (or the command channel closes).
    pub fn run(mut self) {
        let mut events = EventBuf::new(256);
        loop {
            let keep_going = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.iteration(&mut events)
            }));
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
        // flows (and their sockets) are dropped here
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn iteration(&mut self, events: &mut EventBuf) -> bool {
        let n = match self.epoll.wait(events, 1000) {
            Ok(n) => n,
            Err(e) => {
                self.log.send_log(
                    LogLevel::Error,
                    format!("relay worker {}: epoll_wait: {e}", self.id),
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
                return true;
            }
        };
        let now_ms = self.now_ms();
        // commands first: the control thread queues a flow's commands (Add, Configure) and wakes
        // us before it answers the update, so a packet sent in reply to that answer can be
        // readable in the same batch as the wake-up; it must find its flow configured
        let woke = (0..n).any(|i| events.token(i) == WAKE_TOKEN);
        if woke || n == 0 {
            self.wake.drain();
            if !self.commands() {
                return false;
            }
        }
        for i in 0..n {
            let t = events.token(i);
            if t != WAKE_TOKEN {
                self.readable(t, now_ms);
            }
        }
        self.flush_counters();
        true
    }

    fn flush_counters(&mut self) {
        let l = std::mem::take(&mut self.local);
        Counters::add(&self.counters.packets_relayed, l.relayed);
        Counters::add(&self.counters.bytes_relayed, l.bytes);
        Counters::add(&self.counters.packets_dropped_strict, l.dropped_strict);
        Counters::add(&self.counters.packets_dropped_no_session, l.dropped_other);
    }

    fn commands(&mut self) -> bool {
        loop {
            let cmd = match self.rx.try_recv() {
                Ok(c) => c,
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return false,
            };
            match cmd {
                Cmd::Add { slot, flow } => self.add(slot as usize, *flow),
                Cmd::Configure { slot, party, cfg } => {
                    if let Some(Some(f)) = self.flows.get_mut(slot as usize) {
                        if let Some(side) = f.sides.get_mut(party) {
                            side.configure(cfg);
                        }
                    }
                }
                Cmd::Remove { slot } => {
                    if let Some(f) = self.flows.get_mut(slot as usize).and_then(Option::take) {
                        for s in &f.socks {
                            let _ = self.epoll.delete(s.as_raw_fd());
                        }
                    }
                }
                Cmd::Stop => return false,
            }
        }
    }

    fn add(&mut self, slot: usize, f: FlowInit) {
        if self.flows.len() <= slot {
            self.flows.resize_with(slot + 1, || None);
        }
        if let Some(old) = self.flows[slot].take() {
            for s in &old.socks {
                let _ = self.epoll.delete(s.as_raw_fd());
            }
        }
        for (i, s) in f.socks.iter().enumerate() {
            let token = ((slot as u64) << 1) | i as u64;
            if let Err(e) = self.epoll.add(s.as_raw_fd(), token) {
                self.log.send_log(
                    LogLevel::Error,
                    format!("relay worker {}: epoll add: {e}", self.id),
                );
            }
        }
        self.flows[slot] = Some(Flow {
            socks: f.socks,
            sides: [Side::default(), Side::default()],
            shared: f.shared,
            stream_id: f.stream_id,
            rtcp: f.rtcp,
            v6: f.v6,
        });
    }

    fn readable(&mut self, token: u64, now_ms: u64) {
        let slot = (token >> 1) as usize;
        let i = (token & 1) as usize;
        let o = 1 - i;
        let Worker {
            flows,
            recv,
            send,
            out,
            local,
            policy,
            latch_tx,
            ..
        } = self;
        let Some(Some(flow)) = flows.get_mut(slot) else {
            return;
        };
        let n = match recv.recv(flow.socks[i].as_raw_fd()) {
            Ok(n) => n,
            Err(e) => {
                self.socket_error(now_ms, "recvmmsg", &e);
                return;
            }
        };
        out.clear();
        for k in 0..n {
            let Some((pkt, src, truncated)) = recv.get(k) else {
                continue;
            };
            if truncated {
                local.dropped_other += 1;
                continue;
            }
            let kind = classify(pkt);
            match flow.sides[i].on_packet(src, kind, policy) {
                Verdict::DropStrict => local.dropped_strict += 1,
                Verdict::Accept { learned } => {
                    if let Some(addr) = learned {
                        let _ = latch_tx.try_send(LatchEvent {
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
                    match flow.sides[o].destination() {
                        Some(d) => out.push((k, d)),
                        None => local.dropped_other += 1,
                    }
                }
            }
        }
        if out.is_empty() {
            return;
        }
        let res = send.send(flow.socks[o].as_raw_fd(), recv, out, flow.v6);
        local.relayed += res.sent as u64;
        local.bytes += res.bytes as u64;
        local.dropped_other += res.failed as u64;
        if let Some(e) = res.error {
            self.socket_error(now_ms, "sendmmsg", &e);
        }
    }

    /// Logs socket errors at most once a second per worker.
    fn socket_error(&mut self, now_ms: u64, what: &str, e: &std::io::Error) {
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
}
