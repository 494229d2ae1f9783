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

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::Mutex;

use super::guard::guard;
use super::host::OpenSips;
use super::log::Level;
use super::sys::{self, proc_export_t};
use super::sys::{MPX_PROC_FLAG_HAS_IPC, MPX_PROC_FLAG_INITCHILD, MPX_PROC_FLAG_NEEDS_SCRIPT};
use crate::host::common::lifecycle::config;
use crate::host::common::relay::{self, Media};
use crate::host::common::HostStatic;
use crate::relay::serve::EventSource;

static RELAY: Mutex<Option<Media>> = Mutex::new(None);

fn handle_events() {
    let events = match RELAY.lock() {
        Ok(g) => g.as_ref().map(|r| r.drain_events()).unwrap_or_default(),
        Err(_) => return,
    };
    relay::handle::<OpenSips>(events);
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
        // SAFETY: called once, in this module process, right after fork.
        if unsafe { sys::mpx_reactor_init(c"mediaproxy relay".as_ptr() as *mut _) } < 0 {
            host_log!(
                Level::Crit,
                "relay_process",
                "cannot initialise the process reactor"
            );
            return;
        }
        let relay = match relay::start(cfg) {
            Ok(r) => r,
            Err(e) => {
                host_log!(Level::Crit, "relay_process", "{e}");
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

/// Writable: `mod_init` sets `no` (1 in embedded mode, 0 otherwise); the core reads it after.
pub static PROCS: HostStatic<UnsafeCell<[proc_export_t; 2]>> = HostStatic(UnsafeCell::new([
    proc_export_t {
        name: c"mediaproxy relay".as_ptr(),
        pre_fork_function: None,
        post_fork_function: None,
        function: Some(relay_process),
        no: 0,
        flags: MPX_PROC_FLAG_HAS_IPC | MPX_PROC_FLAG_INITCHILD | MPX_PROC_FLAG_NEEDS_SCRIPT,
    },
    proc_export_t {
        name: ptr::null(),
        pre_fork_function: None,
        post_fork_function: None,
        function: None,
        no: 0,
        flags: 0,
    },
]));

/// Sets how many relay processes the core forks (0 or 1).
///
/// # Safety
/// Only from `mod_init`, in the attendant, before the core forks module processes.
pub unsafe fn set_relay_processes(n: u32) {
    // SAFETY: per the function contract, no one else reads or writes the table now.
    unsafe { (*PROCS.0.get())[0].no = n };
}
