//! Module life cycle: `mod_init` (attendant: validate every modparam, decide the processes),
//! `child_init` (every process: nothing to open eagerly, control connections are lazy) and
//! `mod_destroy` (attendant, after the children exited: remove the control socket file).

use std::ffi::c_int;

use super::avp;
use super::dialog;
use super::exports;
use super::guard::{guard, install_hook};
use super::log::{mark_host_thread, Level};
use super::sys;
use crate::host::common::lifecycle;
pub use crate::host::common::lifecycle::config;

pub unsafe extern "C" fn mod_init() -> c_int {
    install_hook();
    mark_host_thread();
    guard("mod_init", -1, || {
        let cfg = match lifecycle::prepare() {
            Ok(c) => c,
            Err(e) => {
                host_log!(Level::Err, "mod_init", "{e}");
                return -1;
            }
        };
        let embedded = lifecycle::embedded(&cfg);
        if let Err(e) = avp::init(&cfg) {
            host_log!(Level::Err, "mod_init", "{e}");
            return -1;
        }
        if !dialog::init() {
            host_log!(
                Level::Info,
                "mod_init",
                "dialog module not loaded: engage_media_proxy() is unavailable"
            );
        }
        // SAFETY: mod_init runs in the attendant before the core forks module processes.
        unsafe { exports::set_relay_processes(u32::from(embedded)) };
        host_log!(
            Level::Info,
            "mod_init",
            "mediaproxy.so {} for {} ({}): relay_mode={:?}{}, socket {}",
            env!("CARGO_PKG_VERSION"),
            sys::OPENSIPS_VERSION,
            if cfg!(opensips_40) {
                "4.0 layout"
            } else {
                "3.6 layout"
            },
            cfg.relay_mode,
            if cfg.disable { " (disabled)" } else { "" },
            cfg.mediaproxy_socket.display()
        );
        lifecycle::install(cfg);
        0
    })
}

pub unsafe extern "C" fn child_init(_rank: c_int) -> c_int {
    // Control connections are opened lazily by the processes that use them (ABI notes §12).
    0
}

pub unsafe extern "C" fn mod_destroy() {
    guard("mod_destroy", (), || {
        if let Some(w) = lifecycle::remove_socket_file() {
            host_log!(Level::Warn, "mod_destroy", "{w}");
        }
    })
}
