//! The embedded media relay: session table, port pool, latching, timeouts, worker threads and
//! socket I/O.
//!
//! ```text
//!   control socket ──► control thread ──(crossbeam channel + eventfd)──► worker 0..N
//!   (unix stream)      Server + SessionTable                             io_uring or epoll,
//!                      + RealBackend (port pool, bind)                   latching, per-stream atomics
//!                            │ ▲ latch notifications (bounded channel)        │
//!                            ▼ └──────────────────────────────────────────────┘
//!                      events (logs, expiries) ──(bounded channel + eventfd)──► host reactor
//! ```
//!
//! API used by the host layer in the relay process:
//! * [`Relay::start`] binds the control socket (0660, replacing a stale file), raises
//!   `RLIMIT_NOFILE` to fit the port range, and spawns the control thread and the workers with
//!   every signal blocked;
//! * [`Relay::event_fd`] becomes readable when [`RelayEvent`]s are queued; the host reads them
//!   with [`Relay::drain_events`] on its own thread and turns them into log lines and dialog
//!   ends; relay threads never call into the host;
//! * [`Relay::shutdown`] stops every thread, closes every socket and removes the socket file.
//!
//! I/O back ends ([`RelayIo`], chosen once at start for every worker; one sibling each under
//! `io/`):
//! * io_uring (`io/uring/`): per worker one ring; a multishot `recvmsg` with a provided buffer
//!   ring on every socket the worker owns, so packets from thousands of sockets complete in one
//!   system call; each forwarded packet becomes a `sendmsg` submission straight from its receive
//!   buffer, all of a batch submitted together with the wait for the next completions;
//! * epoll (`io/epoll.rs`): level-triggered readiness, `recvmmsg`/`sendmmsg` per readable socket; the fallback
//!   where io_uring is missing, disabled or refused.
//!
//! Both run the same worker core ([`worker`]): the forwarding decision ([`worker::judge`]), the
//! flow table and its life cycle, the commands from the control thread. The core does not know
//! the back ends; they depend on it.
//!
//! Invariants: the per-packet path neither allocates nor locks; the signalling state machine
//! ([`session`]) and latching ([`latch`]) take time as a parameter and are tested under a fake
//! clock; `unsafe` lives only in [`sys`] and `io/uring/`'s `memory.rs` and `ring.rs` (socket I/O),
//! and in `kernel/sys.rs` (the `bpf(2)` calls of the kernel fast path, [`kernel`]).
//!
//! Statistics (`sessions`, `remove` with `stats: yes`, expiry events) use MediaProxy's JSON
//! fields. Per stream, `caller_*`/`callee_*` packets and bytes are what that party *sent*,
//! RTP and RTCP (port + 1 or muxed) together, STUN excluded; the codec is the payload type of
//! the party's first RTP packet; `*_remote` is the latched RTP source. Streams are listed once
//! answered (as MediaProxy does), closed streams of earlier generations included.
//!
//! ICE ([`ice`]): a stream both parties offered ICE for that runs out its timer ends as an
//! `unselected ICE candidate`; a session whose streams all ended so is not a timeout (its
//! dialog goes on); STUN towards a side with no address yet waits (bounded) until it has one.
//!
//! Media copies (`mirror.rs`, the `copy` command): per stream and direction, an optional
//! destination to which every forwarded media packet is also sent from a port pair of its own
//! (recording through OpenSIPS's `siprec`).
//!
//! Interfaces ([`interfaces`]): one or more relay addresses (`relay_interfaces`, else
//! `listen_ip`/`advertised_ip`); each party of a session faces one, so a session may bridge
//! IPv4 and IPv6 or two networks. The answer to an `update` names the address of the interface
//! facing the party that receives the rewritten SDP.
//!
//! Advertised address of an interface: its advertised address if set; else its listen address
//! if it is not the wildcard; else the local address the kernel routes towards the session
//! creator's `signaling_ip` (chosen once per session).

mod control_loop;
pub mod counters;
mod engine;
pub mod events;
pub mod guard;
pub mod ice;
pub mod interfaces;
mod io;
pub mod json;
pub mod kernel;
pub mod latch;
mod mirror;
pub mod packet;
pub mod pool;
pub mod record;
mod recording;
pub mod serve;
pub mod session;
#[allow(unsafe_code)]
pub mod sys;
pub mod worker;

pub use crate::settings::{LatchMode, RelayConfig, RelayIo, RelayKernel};
pub use counters::Counters;
pub use events::{EventSink, LogLevel, RelayEvent, EVENT_QUEUE};
pub use latch::LatchPolicy;
pub use session::Timeouts;

use crossbeam_channel::Receiver;
use engine::{Engine, RealBackend, WorkerLink};
use io::{IoBackend, UringSettings};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use sys::EventFd;

/// The running relay (control thread + workers).
pub struct Relay {
    control: Option<JoinHandle<()>>,
    stop: Arc<EventFd>,
    stopping: Arc<AtomicBool>,
    events: Receiver<RelayEvent>,
    sink: EventSink,
    socket: PathBuf,
    io: RelayIo,
    kernel: Option<Arc<kernel::KernelPath>>,
}

/// How long a worker may take to set up its I/O before start gives up on it.
const WORKER_READY: Duration = Duration::from_secs(10);

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg)
}

impl Relay {
    /// Binds the control socket and starts the control thread and `cfg.threads` workers, all
    /// with every signal blocked. Errors (bad settings, socket path in use, no eventfd…) are
    /// reported here, before any thread runs.
    pub fn start(
        cfg: RelayConfig,
        control_socket: &Path,
        counters: &'static Counters,
    ) -> std::io::Result<Relay> {
        cfg.validate().map_err(|e| invalid(e.to_string()))?;
        let pool = pool::PortPool::new(cfg.port_min, cfg.port_max, cfg.port_quarantine)
            .map_err(|e| invalid(e.to_string()))?;
        let uring = UringSettings {
            buffers: cfg.ring_buffers,
            batch_us: cfg.batch_wait_us,
            // every socket of the range, and its connected twin, could end up on one worker
            files: 2 * (u32::from(cfg.port_max) - u32::from(cfg.port_min) + 1),
            twins: cfg.connected_sockets,
        };
        let (mut io_backend, fallback) = IoBackend::choose(cfg.io, uring)?;
        let (sink, events) = EventSink::new()?;
        let (kernel_path, kernel_text) =
            kernel::start(cfg.kernel, &sink).map_err(std::io::Error::other)?;
        let ports = u64::from(cfg.port_max - cfg.port_min) + 1;
        // a connected twin per port in use, where there are twins
        let sockets = match io_backend {
            IoBackend::IoUring(UringSettings { twins: true, .. }) => 2 * ports,
            _ => ports,
        };
        let nofile = match sys::raise_nofile(sockets + 1000) {
            Ok(n) => {
                if n < sockets + 1000 {
                    sink.send_log(
                        LogLevel::Warn,
                        format!("RLIMIT_NOFILE is {n}, below the {sockets} sockets of the range + 1000: sessions may fail"),
                    );
                }
                n
            }
            Err(e) => {
                sink.send_log(LogLevel::Warn, format!("cannot raise RLIMIT_NOFILE: {e}"));
                1024
            }
        };
        // the kernel refuses a registered-file table larger than RLIMIT_NOFILE
        if let IoBackend::IoUring(UringSettings { files, .. }) = &mut io_backend {
            *files = (*files).min(u32::try_from(nofile).unwrap_or(u32::MAX));
        }
        let server = crate::control::server::Server::bind(control_socket)?;
        let epoch = Instant::now();
        let policy = LatchPolicy::from(&cfg);
        let ifaces = interfaces::Interfaces::new(cfg.interfaces());
        let guard = Arc::new(guard::Guard::for_addresses(
            &ifaces
                .list()
                .iter()
                .map(|i| (i.listen, i.advertised))
                .collect::<Vec<_>>(),
            cfg.max_packet_rate,
        ));
        let (latch_tx, latch_rx) = crossbeam_channel::bounded(65536);
        let mut links = Vec::with_capacity(cfg.threads);
        let mut handles: Vec<JoinHandle<()>> = Vec::with_capacity(cfg.threads);
        let spawn_all = |links: &mut Vec<WorkerLink>,
                         handles: &mut Vec<JoinHandle<()>>|
         -> std::io::Result<()> {
            for id in 0..cfg.threads {
                let wake = Arc::new(EventFd::new()?);
                let (tx, rx) = crossbeam_channel::unbounded();
                let mut core = worker::Core::new(
                    id,
                    wake.clone(),
                    rx,
                    policy,
                    guard.clone(),
                    epoch,
                    counters,
                    latch_tx.clone(),
                    sink.clone(),
                );
                if let Some(p) = &kernel_path {
                    core.observe(Box::new(kernel::Handoff::new(
                        p.clone(),
                        epoch,
                        sink.clone(),
                        id,
                    )));
                }
                let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
                handles.push(sys::spawn_blocked(format!("mp-relay-{id}"), move || {
                    io_backend.run(core, ready_tx)
                })?);
                links.push(WorkerLink {
                    tx,
                    wake,
                    free_slots: Vec::new(),
                    next_slot: 0,
                    flows: 0,
                });
                // the worker sets up its I/O on its own thread: wait for the outcome
                match ready_rx.recv_timeout(WORKER_READY) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        return Err(std::io::Error::other(format!(
                            "relay worker {id} ({}): {e}",
                            io_backend.io()
                        )))
                    }
                    Err(_) => {
                        return Err(std::io::Error::other(format!(
                            "relay worker {id} did not start"
                        )))
                    }
                }
            }
            Ok(())
        };
        if let Err(e) = spawn_all(&mut links, &mut handles) {
            for l in &links {
                let _ = l.tx.send(worker::Cmd::Stop);
                l.wake.notify();
            }
            for h in handles {
                let _ = h.join();
            }
            return Err(e);
        }
        let listen_text = ifaces
            .list()
            .iter()
            .map(|i| match (i.name.is_empty(), i.advertised) {
                (true, _) => i.listen.to_string(),
                (false, None) => format!("{}={}", i.name, i.listen),
                (false, Some(a)) => format!("{}={}/{a}", i.name, i.listen),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let summary_ip = ifaces
            .list()
            .first()
            .map(|i| i.advertised.unwrap_or(i.listen).to_string())
            .unwrap_or_default();
        let mut backend =
            RealBackend::new(ifaces, pool, links, counters, epoch, sink.clone(), guard);
        if let Some(dir) = &cfg.recording_dir {
            // the directory is not checked here: a failure is logged at the first recording
            match recording::start_recorder(dir, sink.clone()) {
                Ok(r) => backend.recorder = Some(r),
                Err(e) => sink.send_log(
                    LogLevel::Error,
                    format!("cannot start the recording writer: {e}; calls are not recorded"),
                ),
            }
        }
        let timeouts = Timeouts::from(&cfg);
        let mut table = session::SessionTable::new(
            backend,
            timeouts,
            counters,
            (Instant::now(), SystemTime::now()),
        );
        table.set_record_all(cfg.record_all);
        let limits = guard::Limits {
            max_streams: cfg.max_streams,
            max_sessions: cfg.max_sessions,
        };
        let engine = Engine::new(table, counters, sink.clone(), summary_ip, latch_rx, limits);
        let stop = Arc::new(EventFd::new()?);
        let stopping = Arc::new(AtomicBool::new(false));
        let (stop2, stopping2) = (stop.clone(), stopping.clone());
        let socket = server.path().to_path_buf();
        // on failure the closure is dropped: the workers see their channels disconnect and end
        let control = sys::spawn_blocked("mp-control".into(), move || {
            control_loop::control_loop(server, engine, stop2, stopping2, handles)
        })?;
        let io_text = match (io_backend, fallback) {
            (
                IoBackend::IoUring(UringSettings {
                    buffers,
                    batch_us,
                    twins,
                    ..
                }),
                _,
            ) => format!(
                "I/O io_uring (multishot receive, {buffers} buffers per worker, batch wait {batch_us} us, connected sockets {})",
                if twins { "on" } else { "off" }
            ),
            (IoBackend::Epoll, Some(why)) => format!("I/O epoll (io_uring not available: {why})"),
            (IoBackend::Epoll, None) => "I/O epoll".to_string(),
        };
        sink.send_log(
            LogLevel::Info,
            format!(
                "media relay started: control socket {}, listen {}, ports {}-{}, {} worker thread(s), {io_text}, {kernel_text}, latch policy {}, at most {} streams per session, {} sessions, {} packets/s per stream",
                socket.display(),
                listen_text,
                cfg.port_min,
                cfg.port_max,
                cfg.threads,
                cfg.latch_mode.as_str(),
                cfg.max_streams,
                cfg.max_sessions,
                cfg.max_packet_rate,
            ),
        );
        Ok(Relay {
            control: Some(control),
            stop,
            stopping,
            events,
            sink,
            socket,
            io: io_backend.io(),
            kernel: kernel_path,
        })
    }

    /// The kernel fast path, when it runs.
    pub fn kernel(&self) -> Option<&kernel::KernelPath> {
        self.kernel.as_deref()
    }

    /// The I/O back end the workers run (`IoUring` or `Epoll`, never `Auto`).
    pub fn io(&self) -> RelayIo {
        self.io
    }

    /// Readable when events are queued (for the host's reactor). Level: stays readable until
    /// [`Relay::drain_events`] is called.
    pub fn event_fd(&self) -> RawFd {
        self.sink.efd.as_raw_fd()
    }

    /// Takes every queued event.
    pub fn drain_events(&self) -> Vec<RelayEvent> {
        self.sink.efd.drain();
        let mut v: Vec<RelayEvent> = self.events.try_iter().collect();
        let dropped = self.sink.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            v.push(RelayEvent::Log {
                level: LogLevel::Warn,
                text: format!("{dropped} relay events dropped (queue full)"),
            });
        }
        v
    }

    /// The control socket path.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Stops the threads, closes every socket, removes the control socket file.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        if let Some(h) = self.control.take() {
            self.stopping.store(true, Ordering::Release);
            self.stop.notify();
            let _ = h.join();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop_threads();
    }
}
