//! The relay's control side: the real [`Backend`] (port pool, sockets, hand-over to workers),
//! the [`Handler`] that answers control requests, and the control thread's loop.

use super::counters::Counters;
use super::guard::{Guard, Limits, Refusal};
use super::ice;
use super::interfaces::{Facing, Interfaces, Want};
use super::latch::SideConfig;
use super::mirror::Mirrors;
use super::pool::PortPool;
use super::session::{Backend, OpenError, Party, SessionTable, Snapshot, StreamHandle, TableError};
use super::sys::EventFd;
use super::worker::{Cmd, FlowInit, LatchEvent, StreamShared};
use super::{EventSink, LogLevel, RelayEvent};
use crate::control::codec::{encode_answer, CodecError, Request, UpdateRequest};
use crate::control::server::Handler;
use crossbeam_channel::{Receiver, Sender};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) struct WorkerLink {
    pub tx: Sender<Cmd>,
    pub wake: Arc<EventFd>,
    pub free_slots: Vec<u32>,
    pub next_slot: u32,
    pub flows: usize,
}

impl WorkerLink {
    fn alloc_slot(&mut self) -> u32 {
        self.flows += 1;
        self.free_slots.pop().unwrap_or_else(|| {
            self.next_slot += 1;
            self.next_slot - 1
        })
    }

    pub(super) fn send(&self, cmd: Cmd) {
        // a closed channel means the worker is gone (shutdown): nothing to do
        let _ = self.tx.send(cmd);
        self.wake.notify();
    }
}

pub(super) struct RealStream {
    shared: Arc<StreamShared>,
    pub(super) worker: usize,
    /// Worker slots of the RTP and RTCP flows.
    pub(super) slots: [u32; 2],
    /// Even port of the caller-facing and the callee-facing pair.
    bases: [u16; 2],
    /// The interface of the caller-facing and the callee-facing pair.
    pub(super) iface: [usize; 2],
    remote: [Option<SocketAddr>; 2],
}

pub(crate) struct RealBackend {
    pub(super) interfaces: Interfaces,
    pool: PortPool,
    pub(super) workers: Vec<WorkerLink>,
    pub(super) streams: HashMap<u64, RealStream>,
    next_id: u64,
    counters: &'static Counters,
    epoch: Instant,
    log: EventSink,
    pub(super) guard: Arc<Guard>,
    /// Media copies of the streams ([`super::mirror`]).
    pub(super) mirrors: Mirrors,
    /// Recordings ([`super::recording`]): the writer, if `recording_dir` is set.
    pub(super) recorder: Option<super::record::Recorder>,
    /// Recorded streams: stream id → recording key.
    pub(super) recorded: HashMap<u64, u64>,
    pub(super) next_record: u64,
    /// Recordings detached from their streams, closed once the copies the workers queued
    /// before they saw the detach are surely written: (when, key).
    pub(super) closing: Vec<(Instant, u64)>,
}

impl RealBackend {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        interfaces: Interfaces,
        pool: PortPool,
        workers: Vec<WorkerLink>,
        counters: &'static Counters,
        epoch: Instant,
        log: EventSink,
        guard: Arc<Guard>,
    ) -> RealBackend {
        let b = RealBackend {
            interfaces,
            pool,
            workers,
            streams: HashMap::new(),
            next_id: 0,
            counters,
            epoch,
            log,
            guard,
            mirrors: Mirrors::default(),
            recorder: None,
            recorded: HashMap::new(),
            next_record: 0,
            closing: Vec::new(),
        };
        b.update_port_counters();
        b
    }

    pub(super) fn update_port_counters(&self) {
        self.counters
            .ports_in_use
            .store(2 * self.pool.in_use_pairs() as u64, Ordering::Relaxed);
        self.counters
            .ports_free
            .store(2 * self.pool.free_pairs() as u64, Ordering::Relaxed);
    }

    pub fn wake_pool(&mut self, now: Instant) {
        // moves rested pairs to the free list so the counters show them
        if let Some(p) = self.pool.allocate(now) {
            self.pool.unallocate(p);
        }
        self.update_port_counters();
    }

    fn udp(ip: IpAddr, port: u16) -> io::Result<UdpSocket> {
        let addr = SocketAddr::new(ip, port);
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() && ip.is_unspecified() {
            s.set_only_v6(false)?;
        }
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        Ok(s.into())
    }

    /// Allocates a pair and binds both ports on interface `iface`; pairs that fail to bind are
    /// skipped.
    pub(super) fn bind_pair(
        &mut self,
        now: Instant,
        iface: usize,
    ) -> Result<(u16, UdpSocket, UdpSocket), OpenError> {
        let ip = self.interfaces.listen(iface);
        let attempts = self.pool.free_pairs().clamp(1, 64);
        let mut last_err = None;
        for _ in 0..attempts {
            let Some(base) = self.pool.allocate(now) else {
                break;
            };
            match Self::udp(ip, base).and_then(|a| Ok((a, Self::udp(ip, base + 1)?))) {
                Ok((rtp, rtcp)) => {
                    self.guard.hold(base, true);
                    self.guard.hold(base + 1, true);
                    return Ok((base, rtp, rtcp));
                }
                Err(e) => {
                    self.pool.skip(base);
                    last_err = Some(e);
                }
            }
        }
        match last_err {
            Some(e) => {
                self.log.send_log(
                    LogLevel::Warn,
                    format!("cannot bind a relay port pair on {ip}: {e}"),
                );
                Err(OpenError::Io(e))
            }
            None => Err(OpenError::Exhausted),
        }
    }

    pub fn drain_latches(&mut self, rx: &Receiver<LatchEvent>) {
        while let Ok(ev) = rx.try_recv() {
            if ev.rtcp {
                continue;
            }
            if let Some(s) = self.streams.get_mut(&ev.stream_id) {
                if let Some(r) = s.remote.get_mut(ev.party) {
                    *r = Some(ev.addr);
                }
            }
        }
    }

    /// Gives a port pair back: to rest for the quarantine (`Some(now)`: it was in use), or free
    /// at once (`None`: a refused request's rollback, it never carried a call).
    pub(super) fn give_back(&mut self, base: u16, rest_from: Option<Instant>) {
        self.guard.hold(base, false);
        self.guard.hold(base + 1, false);
        match rest_from {
            Some(now) => self.pool.release(base, now),
            None => self.pool.unallocate(base),
        }
    }

    fn end(&mut self, h: &StreamHandle, rest_from: Option<Instant>) {
        let Some(s) = self.streams.remove(&h.id) else {
            return;
        };
        if let Some(w) = self.workers.get_mut(s.worker) {
            for slot in s.slots {
                w.send(Cmd::Remove { slot });
                w.free_slots.push(slot);
                w.flows = w.flows.saturating_sub(1);
            }
        }
        for b in s.bases {
            self.give_back(b, rest_from);
        }
        for b in self.mirrors.stream_ended(h.id) {
            self.give_back(b, rest_from);
        }
        self.recorded.remove(&h.id);
        self.update_port_counters();
    }

    pub fn stop_workers(&mut self) {
        for w in &self.workers {
            w.send(Cmd::Stop);
        }
    }
}

impl Backend for RealBackend {
    fn facing(&mut self, signaling_ip: Option<IpAddr>, want: &Want) -> io::Result<Facing> {
        self.interfaces.facing(want, signaling_ip)
    }

    fn open(&mut self, now: Instant, iface: [usize; 2]) -> Result<StreamHandle, OpenError> {
        let (a, a_rtp, a_rtcp) = self.bind_pair(now, iface[0])?;
        let (b, b_rtp, b_rtcp) = match self.bind_pair(now, iface[1]) {
            Ok(p) => p,
            Err(e) => {
                self.give_back(a, None);
                return Err(e);
            }
        };
        self.next_id += 1;
        let id = self.next_id;
        let widx = self
            .workers
            .iter()
            .enumerate()
            .min_by_key(|(_, w)| w.flows)
            .map(|(i, _)| i)
            .unwrap_or(0);
        let shared = Arc::new(StreamShared::default());
        // either side on IPv6: a kernel fast path that keys IPv4 flows leaves it alone
        let v6 = iface.iter().any(|&i| self.interfaces.listen(i).is_ipv6());
        let Some(w) = self.workers.get_mut(widx) else {
            return Err(OpenError::Io(io::Error::other("no relay worker")));
        };
        let rtp_slot = w.alloc_slot();
        let rtcp_slot = w.alloc_slot();
        w.send(Cmd::Add {
            slot: rtp_slot,
            flow: Box::new(FlowInit {
                socks: [a_rtp, b_rtp],
                shared: shared.clone(),
                stream_id: id,
                rtcp: false,
                v6,
            }),
        });
        w.send(Cmd::Add {
            slot: rtcp_slot,
            flow: Box::new(FlowInit {
                socks: [a_rtcp, b_rtcp],
                shared: shared.clone(),
                stream_id: id,
                rtcp: true,
                v6,
            }),
        });
        self.streams.insert(
            id,
            RealStream {
                shared,
                worker: widx,
                slots: [rtp_slot, rtcp_slot],
                bases: [a, b],
                iface,
                remote: [None, None],
            },
        );
        self.update_port_counters();
        Ok(StreamHandle { id, ports: [a, b] })
    }

    fn configure(&mut self, h: &StreamHandle, party: Party, cfg: SideConfig) {
        let Some(s) = self.streams.get(&h.id) else {
            return;
        };
        let Some(w) = self.workers.get(s.worker) else {
            return;
        };
        let own = |a: SocketAddr| {
            self.interfaces
                .own_ips()
                .any(|ip| ice::is_own_port(a, [Some(ip), None], s.bases))
        };
        let cfg = SideConfig {
            sdp: cfg.sdp.filter(|a| !own(*a)),
            ..cfg
        };
        let rtcp_cfg = SideConfig {
            sdp: cfg
                .sdp
                .and_then(|a| a.port().checked_add(1).map(|p| SocketAddr::new(a.ip(), p))),
            ..cfg
        };
        w.send(Cmd::Configure {
            slot: s.slots[0],
            party: party.idx(),
            cfg,
        });
        w.send(Cmd::Configure {
            slot: s.slots[1],
            party: party.idx(),
            cfg: rtcp_cfg,
        });
    }

    fn close(&mut self, h: &StreamHandle, now: Instant) {
        self.end(h, Some(now));
    }

    fn discard(&mut self, h: &StreamHandle) {
        self.end(h, None);
    }

    fn snapshot(&self, h: &StreamHandle) -> Snapshot {
        let Some(s) = self.streams.get(&h.id) else {
            return Snapshot::default();
        };
        let sh = &s.shared;
        let t = |ms: u64| (ms > 0).then(|| self.epoch + Duration::from_millis(ms - 1));
        let mut snap = Snapshot {
            remote: s.remote,
            ..Snapshot::default()
        };
        // what the kernel forwarded since its worker last added it to the statistics
        sh.kernel.read(|extra| {
            for (i, x) in extra.iter().enumerate() {
                snap.packets[i] = sh.packets[i].load(Ordering::Relaxed) + x.packets;
                snap.bytes[i] = sh.bytes[i].load(Ordering::Relaxed) + x.bytes;
                snap.copied[i] = sh.copied[i].load(Ordering::Relaxed);
                snap.first_media[i] = t(sh.first_ms[i].load(Ordering::Relaxed)).or(x.last_media);
                snap.last_media[i] = t(sh.last_ms[i].load(Ordering::Relaxed)).max(x.last_media);
                let c = sh.codec[i].load(Ordering::Relaxed);
                snap.codec[i] = (c > 0).then(|| u8::try_from(c - 1).unwrap_or(0));
            }
        });
        snap
    }

    fn record_open(&mut self, call_id: &str) -> Option<(u64, String)> {
        self.record_open_file(call_id)
    }

    fn record_stream(&mut self, h: &StreamHandle, key: u64, relay_ip: [IpAddr; 2]) {
        self.record_attach(h, key, relay_ip);
    }

    fn record_close(&mut self, key: u64, now: Instant) {
        self.record_detach(key, now);
    }
}

/// Answers control requests; lives on the control thread.
pub(crate) struct Engine {
    pub table: SessionTable<RealBackend>,
    pub counters: &'static Counters,
    pub events: EventSink,
    pub started: Instant,
    pub summary_ip: String,
    pub latch_rx: Receiver<LatchEvent>,
    limits: Limits,
    bps: u64,
    bps_mark: (Instant, u64),
    /// When the port pool and the bit rate are next brought up to date.
    next_housekeeping: Instant,
}

const BPS_PERIOD: Duration = Duration::from_secs(15);
/// How often the port pool's counters and the bit rate are brought up to date.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

impl Engine {
    pub fn new(
        table: SessionTable<RealBackend>,
        counters: &'static Counters,
        events: EventSink,
        summary_ip: String,
        latch_rx: Receiver<LatchEvent>,
        limits: Limits,
    ) -> Engine {
        let now = Instant::now();
        Engine {
            table,
            counters,
            events,
            started: now,
            summary_ip,
            latch_rx,
            limits,
            bps: 0,
            bps_mark: (now, Counters::get(&counters.bytes_relayed)),
            next_housekeeping: now,
        }
    }

    /// When [`Engine::tick`] next has something to do: the session table's next deadline or
    /// the next housekeeping, whichever comes first.
    pub fn next_deadline(&self) -> Instant {
        self.table
            .next_deadline()
            .map_or(self.next_housekeeping, |d| d.min(self.next_housekeeping))
    }

    /// Ends the sessions that timed out (the table visits only those due) and, once a second,
    /// brings the port pool's counters and the bit rate up to date.
    pub fn tick(&mut self, now: Instant) {
        self.table.backend_mut().drain_latches(&self.latch_rx);
        for e in self.table.tick(now) {
            self.events.send_log(
                LogLevel::Info,
                format!(
                    "session {} (from_tag {}) {}: {}",
                    e.call_id,
                    e.from_tag,
                    if e.all_streams_ice {
                        "removed because ICE was used"
                    } else {
                        "expired"
                    },
                    e.stats_json
                ),
            );
            self.events.send(RelayEvent::Expired {
                call_id: e.call_id,
                from_tag: e.from_tag,
                to_tag: e.to_tag,
                dialog_id: e.dialog_id,
                stats_json: e.stats_json,
                all_streams_ice: e.all_streams_ice,
            });
        }
        if now < self.next_housekeeping {
            return;
        }
        self.next_housekeeping = now + HOUSEKEEPING;
        self.table.backend_mut().wake_pool(now);
        self.table
            .backend_mut()
            .record_housekeeping(now, self.counters);
        let elapsed = now.saturating_duration_since(self.bps_mark.0);
        if elapsed >= BPS_PERIOD {
            let bytes = Counters::get(&self.counters.bytes_relayed);
            self.bps =
                (bytes.saturating_sub(self.bps_mark.1) as f64 * 8.0 / elapsed.as_secs_f64()) as u64;
            self.bps_mark = (now, bytes);
        }
    }

    /// Checks an `update` against the limits and the guard before anything is allocated;
    /// `true`: refused (logged and counted).
    fn refuse(&mut self, u: &UpdateRequest) -> bool {
        let sessions = self.table.session_count();
        let own = self.table.relay_ports(&u.call_id, &u.from_tag, &u.to_tag);
        let Some(r) = self
            .limits
            .refuse(u, sessions, own.as_deref(), &self.table.backend().guard)
        else {
            return false;
        };
        let c = match r {
            Refusal::Limit(_) => &self.counters.updates_refused_limit,
            Refusal::Address(_) => &self.counters.updates_refused_address,
        };
        Counters::add(c, 1);
        self.refused(u, &r.to_string());
        true
    }

    fn refused(&self, u: &UpdateRequest, why: &str) {
        Counters::add(&self.counters.control_errors, 1);
        self.events.send_log(
            LogLevel::Warn,
            format!(
                "update for {} (from_tag {}) refused: {why}",
                u.call_id, u.from_tag
            ),
        );
    }
}

impl Handler for Engine {
    fn handle(&mut self, req: Request) -> String {
        let now = Instant::now();
        self.table.backend_mut().drain_latches(&self.latch_rx);
        match req {
            Request::Update(u) if self.refuse(&u) => "error".into(),
            Request::Update(u) => match self.table.update(&u, now) {
                Ok(a) => encode_answer(&a),
                Err(e) => {
                    Counters::add(&self.counters.control_errors, 1);
                    if matches!(e, TableError::NoPorts) {
                        Counters::add(&self.counters.port_exhaustion, 1);
                    }
                    self.events.send_log(
                        LogLevel::Warn,
                        format!(
                            "update for {} (from_tag {}) failed: {e}",
                            u.call_id, u.from_tag
                        ),
                    );
                    "error".into()
                }
            },
            Request::Remove(r) => {
                match self.table.remove(&r.call_id, &r.from_tag, &r.to_tag, now) {
                    Some(json) => {
                        if r.want_stats {
                            format!("removed {json}")
                        } else {
                            "removed".into()
                        }
                    }
                    None => {
                        Counters::add(&self.counters.control_errors, 1);
                        self.events.send_log(
                            LogLevel::Info,
                            format!(
                                "remove for unknown session {} (from_tag {})",
                                r.call_id, r.from_tag
                            ),
                        );
                        "error".into()
                    }
                }
            }
            Request::Copy(c) => self.copy(c, now),
            Request::Record(r) => self.record(r, now),
            Request::Sessions => self.table.sessions_json(now),
            Request::Summary => self.table.summary_json(
                &self.summary_ip,
                now.saturating_duration_since(self.started),
                self.bps,
            ),
            Request::Tags { call_id } => self.table.tags_json(&call_id),
            Request::Version => env!("CARGO_PKG_VERSION").to_string(),
            // the embedded relay alone has no relays to drain
            Request::Drain(_) => "error".into(),
            Request::Quit => String::new(),
        }
    }

    fn malformed(&mut self, err: &CodecError) {
        Counters::add(&self.counters.control_errors, 1);
        self.events
            .send_log(LogLevel::Warn, format!("malformed control request: {err}"));
    }
}
