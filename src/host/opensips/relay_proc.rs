//! The "mediaproxy relay" module process (`proc_export_t`, PROC_FLAG_HAS_IPC|INITCHILD).
//!
//! Its main thread is OpenSIPS's: it initialises the process reactor (which serves the IPC
//! pipe, so OpenSIPS can stop the process gracefully), starts the relay (control thread and
//! worker threads, every signal blocked), and watches the relay's event fd. Log lines and
//! media-timeout reports from the threads are handled here, on the host thread. On exit the
//! relay is stopped and the control socket file removed (an `atexit` hook: OpenSIPS ends the
//! process with `exit()` from an IPC job).
//!
//! If the relay cannot start, the function logs why and returns; OpenSIPS then sees its module
//! process end and shuts down, which is what an operator wants from a proxy without its relay.

use std::ffi::{c_int, c_void};
use std::sync::Mutex;

use once_cell::sync::OnceCell;

use super::dialog;
use super::guard::guard;
use super::init::config;
use super::log::Level;
use super::sys;
use crate::config::Config;
use crate::relay::{Counters, LogLevel, Relay, RelayConfig, RelayEvent};
use crate::script::{self, ClientStats};

static SHARED: OnceCell<&'static Shared> = OnceCell::new();
static RELAY: Mutex<Option<Relay>> = Mutex::new(None);

/// Counters every OpenSIPS process sees: the relay's and the control clients'.
#[repr(C)]
pub struct Shared {
    pub relay: Counters,
    pub client: ClientStats,
}

/// Places the counters in memory shared by every OpenSIPS process (attendant, before any
/// fork), so that any process can read them (statistics, MI).
pub fn init_counters() -> Result<(), String> {
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
        });
        &*c
    };
    script::set_client_stats(&shared.client);
    let _ = SHARED.set(shared);
    Ok(())
}

/// The shared counters (any process, after `mod_init`).
pub fn shared() -> Option<&'static Shared> {
    SHARED.get().copied()
}

/// The relay's counters (any process, after `mod_init`).
pub fn counters() -> Option<&'static Counters> {
    shared().map(|s| &s.relay)
}

fn relay_config(cfg: &Config) -> RelayConfig {
    RelayConfig {
        listen_ip: cfg.listen_ip,
        advertised_ip: cfg.advertised_ip,
        port_min: cfg.port_min,
        port_max: cfg.port_max,
        threads: cfg.relay_threads,
        setup_timeout: cfg.setup_timeout,
        media_timeout: cfg.media_timeout,
        hold_timeout: cfg.hold_timeout,
        signaling_source_only: cfg.learn_from_signaling_ip,
        ..RelayConfig::default()
    }
}

fn handle_events() {
    let events = match RELAY.lock() {
        Ok(g) => g.as_ref().map(|r| r.drain_events()).unwrap_or_default(),
        Err(_) => return,
    };
    for ev in events {
        match ev {
            RelayEvent::Log { level, text } => {
                let level = match level {
                    LogLevel::Error => Level::Err,
                    LogLevel::Warn => Level::Warn,
                    LogLevel::Info => Level::Info,
                    LogLevel::Debug => Level::Dbg,
                };
                host_log!(level, "relay", "{text}");
            }
            RelayEvent::Expired {
                call_id,
                from_tag,
                to_tag,
                dialog_id,
                stats_json,
            } => {
                host_log!(
                    Level::Notice,
                    "relay",
                    "media timeout: Call-ID {call_id} (tags {from_tag}/{to_tag}): {stats_json}"
                );
                script::session_ended("media timeout", &stats_json);
                if dialog_id.is_some() {
                    if dialog::terminate(&call_id, "Media Timeout") {
                        host_log!(
                            Level::Info,
                            "relay",
                            "ended dialog {call_id} (media timeout)"
                        );
                    } else {
                        host_log!(
                            Level::Warn,
                            "relay",
                            "cannot end dialog {call_id} after its media timeout"
                        );
                    }
                }
            }
        }
    }
}

unsafe extern "C" fn on_event_fd(_fd: c_int, _param: *mut c_void, _was_timeout: c_int) -> c_int {
    guard("relay events", 0, || {
        handle_events();
        0
    })
}

extern "C" fn on_exit() {
    // no unwinding out of an atexit hook
    let _ = std::panic::catch_unwind(|| {
        if let Ok(mut g) = RELAY.lock() {
            if let Some(r) = g.take() {
                r.shutdown();
            }
        }
    });
}

pub unsafe extern "C" fn relay_process(_instance: c_int) {
    guard("relay_process", (), || {
        let Some(cfg) = config() else { return };
        let Some(counters) = counters() else {
            host_log!(Level::Crit, "relay_process", "no shared counters");
            return;
        };
        // SAFETY: called once, in this module process, right after fork.
        if unsafe { sys::mpx_reactor_init(c"mediaproxy relay".as_ptr() as *mut _) } < 0 {
            host_log!(
                Level::Crit,
                "relay_process",
                "cannot initialise the process reactor"
            );
            return;
        }
        let relay = match Relay::start(relay_config(cfg), &cfg.mediaproxy_socket, counters) {
            Ok(r) => r,
            Err(e) => {
                host_log!(
                    Level::Crit,
                    "relay_process",
                    "cannot start the media relay on {}: {e}",
                    cfg.mediaproxy_socket.display()
                );
                return;
            }
        };
        let efd = relay.event_fd();
        if let Ok(mut g) = RELAY.lock() {
            *g = Some(relay);
        }
        // SAFETY: registers a plain function; the libc atexit list is process-wide.
        unsafe { libc::atexit(on_exit) };
        // SAFETY: efd stays open while the relay lives (until exit); the callback is ours.
        if unsafe { sys::mpx_reactor_add_fd(efd, Some(on_event_fd), std::ptr::null_mut()) } < 0 {
            host_log!(
                Level::Crit,
                "relay_process",
                "cannot watch the relay's events"
            );
            return;
        }
        handle_events();
        // SAFETY: the reactor was initialised above; the loop serves IPC until shutdown.
        unsafe { sys::mpx_reactor_loop() };
    })
}
