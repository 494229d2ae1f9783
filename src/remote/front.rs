//! The dispatcher in the module's relay process: the control socket's server when remote
//! relays are enabled.
//!
//! The front serves `mediaproxy_socket` with a [`Dispatcher`] on a thread of its own (every
//! signal blocked). The embedded relay, when there is one, keeps running as before but on a
//! private socket next to it (`<mediaproxy_socket>.local`), and the dispatcher reaches it as
//! one of its relays through an ordinary control client (one unix-socket hop more per request).
//! The host sees the same surface as the embedded relay's: one event descriptor, the events
//! (the embedded relay's, forwarded, plus the dispatcher's: log lines, sessions that expired
//! on a remote relay), and a shutdown.

use super::dispatcher::{Dispatcher, DispatcherConfig, EndedSession, NoLocal};
use crate::control::client::{Client, ClientConfig, ClientError};
use crate::control::codec::{self, CodecError, Request};
use crate::control::server::{Handler, Server};
use crate::relay::sys::{poll_any, spawn_blocked, EventFd};
use crate::relay::{LogLevel, Relay, RelayEvent};
use crossbeam_channel::{Receiver, Sender};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Events queued at most towards the host (excess dropped).
const QUEUE: usize = 65536;

/// The private socket of the embedded relay behind a front on `socket`.
pub fn local_socket(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_os_string();
    name.push(".local");
    PathBuf::from(name)
}

/// The embedded relay as one of the dispatcher's relays: requests go to its private socket.
pub struct LocalClient {
    client: Client,
}

impl LocalClient {
    pub fn new(socket: PathBuf, timeout: Duration) -> LocalClient {
        LocalClient {
            client: Client::new(ClientConfig {
                socket,
                timeout,
                retry_interval: Duration::ZERO,
            }),
        }
    }
}

impl Handler for LocalClient {
    fn handle(&mut self, req: Request) -> String {
        let r: Result<String, ClientError> = match &req {
            Request::Update(u) => self.client.update(u).map(|a| codec::encode_answer(&a)),
            Request::Remove(r) => self
                .client
                .remove(&r.call_id, &r.from_tag, &r.to_tag)
                .map(|j| match j {
                    Some(j) => format!("removed {j}"),
                    None => "removed".into(),
                }),
            Request::Sessions => self.client.command("sessions"),
            Request::Summary => self.client.command("summary"),
            Request::Version => self.client.command("version"),
            Request::Drain(_) => Ok("error".into()),
            Request::Copy(c) => self.client.copy(c).map(|a| super::wire::copy_reply(c, a)),
            Request::Record(r) => self
                .client
                .record(r)
                .map(|f| crate::control::record::encode_reply(f.as_deref())),
            Request::Tags { call_id } => self
                .client
                .tags(call_id)
                .map(|p| super::wire::tags_reply(&p)),
            Request::Quit => Ok(String::new()),
        };
        r.unwrap_or_else(|_| "error".into())
    }

    fn malformed(&mut self, _: &CodecError) {}
}

enum Disp {
    Local(Dispatcher<LocalClient>),
    Remote(Dispatcher<NoLocal>),
}

impl Disp {
    fn handler(&mut self) -> &mut dyn Handler {
        match self {
            Disp::Local(d) => d,
            Disp::Remote(d) => d,
        }
    }

    fn take(&mut self) -> (Vec<(LogLevel, String)>, Vec<EndedSession>) {
        match self {
            Disp::Local(d) => (d.take_logs(), d.take_ended()),
            Disp::Remote(d) => (d.take_logs(), d.take_ended()),
        }
    }

    fn forget(&mut self, call_id: &str, from_tag: &str, to_tag: &str) {
        match self {
            Disp::Local(d) => d.forget(call_id, from_tag, to_tag),
            Disp::Remote(d) => d.forget(call_id, from_tag, to_tag),
        }
    }
}

pub struct Front {
    thread: Option<JoinHandle<Option<Relay>>>,
    stop: Arc<EventFd>,
    stopping: Arc<AtomicBool>,
    events: Receiver<RelayEvent>,
    efd: Arc<EventFd>,
    socket: PathBuf,
    listen: Option<std::net::SocketAddr>,
}

struct Out {
    tx: Sender<RelayEvent>,
    efd: Arc<EventFd>,
}

impl Out {
    fn send(&self, ev: RelayEvent) {
        if self.tx.try_send(ev).is_ok() {
            self.efd.notify();
        }
    }
}

impl Front {
    /// Serves `socket` with a dispatcher; `local`: the embedded relay, already serving
    /// [`local_socket`]`(socket)`. Errors (the TLS files, the listening address, the socket)
    /// are reported here; the embedded relay is then shut down.
    pub fn start(cfg: DispatcherConfig, socket: &Path, local: Option<Relay>) -> io::Result<Front> {
        let fail = |local: Option<Relay>, e: String| {
            if let Some(r) = local {
                r.shutdown();
            }
            Err(io::Error::other(e))
        };
        let disp = match &local {
            Some(_) => {
                let client = LocalClient::new(local_socket(socket), cfg.relay_timeout);
                Dispatcher::start(cfg, Some(client)).map(Disp::Local)
            }
            None => Dispatcher::start(cfg, None).map(Disp::Remote),
        };
        let disp = match disp {
            Ok(d) => d,
            Err(e) => return fail(local, e),
        };
        let listen = match &disp {
            Disp::Local(d) => d.listen_addr(),
            Disp::Remote(d) => d.listen_addr(),
        };
        let server = match Server::bind(socket) {
            Ok(s) => s,
            Err(e) => return fail(local, format!("{}: {e}", socket.display())),
        };
        let (tx, events) = crossbeam_channel::bounded(QUEUE);
        let efd = Arc::new(EventFd::new()?);
        let stop = Arc::new(EventFd::new()?);
        let stopping = Arc::new(AtomicBool::new(false));
        let out = Out {
            tx,
            efd: efd.clone(),
        };
        let (st, sg) = (stop.clone(), stopping.clone());
        let thread = spawn_blocked("mp-dispatcher".into(), move || {
            front_loop(server, disp, local, out, st, sg)
        })?;
        Ok(Front {
            thread: Some(thread),
            stop,
            stopping,
            events,
            efd,
            socket: socket.to_path_buf(),
            listen,
        })
    }

    /// Where relays connect.
    pub fn listen_addr(&self) -> Option<std::net::SocketAddr> {
        self.listen
    }

    /// Readable when events are waiting.
    pub fn event_fd(&self) -> RawFd {
        self.efd.as_raw_fd()
    }

    pub fn drain_events(&self) -> Vec<RelayEvent> {
        self.efd.drain();
        self.events.try_iter().collect()
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Stops the dispatcher (its links close) and the embedded relay.
    pub fn shutdown(mut self) {
        self.stopping.store(true, Ordering::Release);
        self.stop.notify();
        if let Some(t) = self.thread.take() {
            if let Ok(Some(relay)) = t.join() {
                relay.shutdown();
            }
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        self.stop.notify();
    }
}

fn ended_event(e: EndedSession) -> RelayEvent {
    if e.stats_json.is_empty() {
        return RelayEvent::Log {
            level: LogLevel::Warn,
            text: format!(
                "session {} (from_tag {}) lost with relay {}",
                e.call_id, e.from_tag, e.relay
            ),
        };
    }
    RelayEvent::Expired {
        call_id: e.call_id,
        from_tag: e.from_tag,
        to_tag: e.to_tag,
        dialog_id: (!e.dialog_id.is_empty()).then_some(e.dialog_id),
        stats_json: e.stats_json,
        all_streams_ice: e.all_streams_ice,
    }
}

fn front_loop(
    mut server: Server,
    mut disp: Disp,
    local: Option<Relay>,
    out: Out,
    stop: Arc<EventFd>,
    stopping: Arc<AtomicBool>,
) -> Option<Relay> {
    let mut next_tick = Instant::now();
    loop {
        let mut fds = server.poll_fds();
        fds.push((stop.as_raw_fd(), false));
        if let Some(r) = &local {
            fds.push((r.event_fd(), false));
        }
        let _ = poll_any(&fds, Duration::from_millis(250));
        if stopping.load(Ordering::Acquire) {
            break;
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let Some(r) = &local {
                for ev in r.drain_events() {
                    if let RelayEvent::Expired {
                        call_id,
                        from_tag,
                        to_tag,
                        ..
                    } = &ev
                    {
                        disp.forget(call_id, from_tag, to_tag);
                    }
                    out.send(ev);
                }
            }
            server.service(disp.handler());
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + Duration::from_millis(250);
                let (logs, ended) = disp.take();
                for (level, text) in logs {
                    out.send(RelayEvent::Log { level, text });
                }
                for e in ended {
                    out.send(ended_event(e));
                }
            }
        }));
        if r.is_err() {
            out.send(RelayEvent::Log {
                level: LogLevel::Error,
                text: "dispatcher thread: panic while serving a request, continuing".into(),
            });
        }
    }
    drop(server); // removes the socket file
    drop(disp); // closes the relay links
    local
}
