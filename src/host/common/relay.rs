//! The relay process's host-neutral body: the counters every process shares, the relay's
//! settings from [`Config`], starting it, and what its events become on the relay process's
//! host thread (log lines through the host logger, dialogs ended after a media timeout).
//!
//! Each host layer supplies only the process around it: OpenSIPS a module process serving its
//! reactor, the SER family a process forked in `child_init(PROC_MAIN)` with a loop of its own.

use once_cell::sync::OnceCell;

use super::host::Host;
use crate::config::{Config, RelayMode};
use crate::relay::{Counters, LogLevel, Relay, RelayEvent};
use crate::remote::front::{local_socket, Front};
use crate::script::{self, ClientStats, Level, Logger};

static SHARED: OnceCell<&'static Shared> = OnceCell::new();

/// Counters every process sees: the relay's and the control clients'.
#[repr(C)]
pub struct Shared {
    pub relay: Counters,
    pub client: ClientStats,
    pub reoffers: crate::ice_reoffer::IceReoffers,
}

/// Places the counters in memory shared by every process of the proxy (attendant, before any
/// fork), so that any process can read them (statistics, management commands).
pub fn init_counters() -> Result<(), String> {
    if SHARED.get().is_some() {
        return Ok(());
    }
    let size = std::mem::size_of::<Shared>();
    // SAFETY: an anonymous shared mapping; no file, no aliasing with other memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(format!(
            "cannot map shared memory for the relay counters: {}",
            std::io::Error::last_os_error()
        ));
    }
    let c = p as *mut Shared;
    // SAFETY: p is a fresh, page-aligned, writable mapping of at least size bytes; it is never
    // unmapped, so the reference is valid for the rest of the process (and its children).
    let shared: &'static Shared = unsafe {
        c.write(Shared {
            relay: Counters::new(),
            client: ClientStats::default(),
            reoffers: crate::ice_reoffer::IceReoffers::new(),
        });
        &*c
    };
    script::set_client_stats(&shared.client);
    crate::ice_reoffer::set_shared(&shared.reoffers);
    let _ = SHARED.set(shared);
    Ok(())
}

/// The shared counters (any process, after `mod_init`).
pub fn shared() -> Option<&'static Shared> {
    SHARED.get().copied()
}

/// The relay's counters (any process, after `mod_init`).
/// Counts keep-alives `natping_interval` sent (visible to every process).
pub fn count_natpings(n: u32) {
    if let Some(s) = shared() {
        s.client
            .natpings
            .fetch_add(u64::from(n), std::sync::atomic::Ordering::Relaxed);
    }
}

pub fn counters() -> Option<&'static Counters> {
    shared().map(|s| &s.relay)
}

/// What the relay process runs: the embedded relay serving `mediaproxy_socket`, or the
/// dispatcher of remote relays serving it (with the embedded relay behind it, unless
/// `relay_mode = "remote"`).
pub enum Media {
    Embedded(Relay),
    Dispatcher(Front),
}

impl crate::relay::serve::EventSource for Media {
    fn event_fd(&self) -> std::os::fd::RawFd {
        match self {
            Media::Embedded(r) => r.event_fd(),
            Media::Dispatcher(f) => f.event_fd(),
        }
    }

    fn drain_events(&self) -> Vec<RelayEvent> {
        match self {
            Media::Embedded(r) => r.drain_events(),
            Media::Dispatcher(f) => f.drain_events(),
        }
    }
}

impl Media {
    pub fn shutdown(self) {
        match self {
            Media::Embedded(r) => r.shutdown(),
            Media::Dispatcher(f) => f.shutdown(),
        }
    }
}

/// Starts the relay (control thread and worker threads, every signal blocked) in the calling
/// process, serving `mediaproxy_socket`, or the dispatcher in front of it (see [`Media`]). The
/// error is the line to log.
pub fn start(cfg: &Config) -> Result<Media, String> {
    let counters = counters().ok_or_else(|| "no shared counters".to_string())?;
    let socket = &cfg.mediaproxy_socket;
    let embedded = |path: &std::path::Path| {
        Relay::start(cfg.relay.clone(), path, counters)
            .map_err(|e| format!("cannot start the media relay on {}: {e}", path.display()))
    };
    let Some(remote) = crate::remote::settings::dispatcher(cfg) else {
        return embedded(socket).map(Media::Embedded);
    };
    let local = match cfg.relay_mode {
        RelayMode::Remote => None,
        _ => Some(embedded(&local_socket(socket))?),
    };
    let listen = remote.listen;
    Front::start(remote, socket, local)
        .map(Media::Dispatcher)
        .map_err(|e| match listen {
            Some(a) => format!("cannot start the relay dispatcher on {a}: {e}"),
            None => format!("cannot start the relay dispatcher: {e}"),
        })
}

/// The session-end reason of a session whose streams all ended as unselected ICE candidates.
pub const ICE_UNSELECTED: &str = "unselected ICE candidate";

/// [`dispatch`] for host `H`: its logger, its dialog module ending a timed-out call.
pub fn handle<H: Host>(events: Vec<RelayEvent>) {
    dispatch(events, &H::LOG, H::end_dialog)
}

/// Handles the relay's events on the relay process's host thread: log lines go to the host
/// logger; a session that timed out is logged and, when it belonged to an engaged dialog,
/// `end_dialog(call_id, dialog_id)` asks the host's dialog module to end the call. A session
/// whose streams were all unselected ICE candidates did not time out: it is logged and reported
/// (reason [`ICE_UNSELECTED`]) but its dialog goes on.
pub fn dispatch(
    events: Vec<RelayEvent>,
    log: &dyn Logger,
    end_dialog: impl Fn(&str, &str) -> bool,
) {
    const F: &str = "relay";
    for ev in events {
        match ev {
            RelayEvent::Log { level, text } => {
                let level = match level {
                    LogLevel::Error => Level::Err,
                    LogLevel::Warn => Level::Warn,
                    LogLevel::Info => Level::Info,
                    LogLevel::Debug => Level::Dbg,
                };
                log.log(level, F, format_args!("{text}"));
            }
            RelayEvent::Expired {
                call_id,
                from_tag: ftag,
                to_tag: ttag,
                stats_json: stats,
                all_streams_ice: true,
                ..
            } => {
                log.log(
                    Level::Notice,
                    F,
                    format_args!(
                        "removed because ICE was used: Call-ID {call_id} (tags {ftag}/{ttag}), \
                         the call goes on: {stats}"
                    ),
                );
                script::session_ended(ICE_UNSELECTED, &stats);
            }
            RelayEvent::Expired {
                call_id,
                from_tag: ftag,
                to_tag: ttag,
                dialog_id: did,
                stats_json: stats,
                all_streams_ice: false,
            } => {
                log.log(
                    Level::Notice,
                    F,
                    format_args!("media timeout: Call-ID {call_id} (tags {ftag}/{ttag}): {stats}"),
                );
                script::session_ended("media timeout", &stats);
                let Some(did) = did else { continue };
                if end_dialog(&call_id, &did) {
                    log.log(
                        Level::Info,
                        F,
                        format_args!("ended dialog {call_id} (media timeout)"),
                    );
                } else {
                    log.log(
                        Level::Warn,
                        F,
                        format_args!("cannot end dialog {call_id} after its media timeout"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::fmt;

    struct Lines(RefCell<Vec<(Level, String)>>);
    impl Logger for Lines {
        fn log(&self, level: Level, _func: &str, args: fmt::Arguments<'_>) {
            self.0.borrow_mut().push((level, args.to_string()));
        }
    }

    #[test]
    fn events_become_log_lines_and_dialog_ends() {
        let log = Lines(RefCell::new(Vec::new()));
        let ended = RefCell::new(Vec::new());
        let ev = |did: Option<&str>| RelayEvent::Expired {
            call_id: "c1".into(),
            from_tag: "f".into(),
            to_tag: "t".into(),
            dialog_id: did.map(String::from),
            stats_json: "{}".into(),
            all_streams_ice: false,
        };
        let ice = RelayEvent::Expired {
            call_id: "c2".into(),
            from_tag: "f".into(),
            to_tag: "t".into(),
            dialog_id: Some("3:4".into()),
            stats_json: "{}".into(),
            all_streams_ice: true,
        };
        dispatch(
            vec![
                RelayEvent::Log {
                    level: LogLevel::Debug,
                    text: "hello".into(),
                },
                ev(None),
                ice,
                ev(Some("1:2")),
            ],
            &log,
            |cid, did| {
                ended.borrow_mut().push(format!("{cid} {did}"));
                false
            },
        );
        assert_eq!(*ended.borrow(), ["c1 1:2"]);
        let lines = log.0.borrow();
        assert_eq!(lines[0], (Level::Dbg, "hello".to_string()));
        assert_eq!(lines.iter().filter(|l| l.0 == Level::Notice).count(), 3);
        // the ICE session's dialog is not ended: only c1's end was asked for
        assert!(lines
            .iter()
            .any(|l| l.1.starts_with("removed because ICE was used: Call-ID c2")));
        assert!(lines.last().is_some_and(|l| l.0 == Level::Warn));
    }
}
