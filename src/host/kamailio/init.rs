//! Module life cycle: `mod_init` (main process, before any fork: validate every modparam,
//! reserve the relay's process), `child_init` (every process; in the main process with
//! `PROC_MAIN`, fork the relay process) and `mod_destroy` (main process, after the children
//! exited: remove the control socket file if one was left behind).

use std::ffi::c_int;

use super::avp;
use super::dialog;
use super::log::{guard, Level};
use super::relay_proc;
use super::sys;
use crate::host::common::guard::{install_hook, mark_host_thread};
use crate::host::common::lifecycle::{self, config};

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
        // the core sizes its process table from what mod_init reserves
        // SAFETY: mod_init, in the main process, before any fork.
        if lifecycle::embedded(&cfg) && unsafe { sys::mpx_register_procs(1) } < 0 {
            host_log!(
                Level::Err,
                "mod_init",
                "cannot reserve a process for the media relay"
            );
            return -1;
        }
        host_log!(
            Level::Info,
            "mod_init",
            "mediaproxy.so {} for {}: relay_mode={:?}{}, socket {}",
            env!("CARGO_PKG_VERSION"),
            sys::KAMAILIO_VERSION,
            cfg.relay_mode,
            if cfg.disable { " (disabled)" } else { "" },
            cfg.mediaproxy_socket.display()
        );
        lifecycle::install(cfg);
        0
    })
}

/// Control connections are opened lazily by the processes that use them; the main process
/// (`PROC_MAIN`) forks the relay process when the relay is embedded.
pub unsafe extern "C" fn child_init(rank: c_int) -> c_int {
    guard("child_init", -1, || {
        if rank != sys::MPX_PROC_MAIN {
            return 0;
        }
        match config() {
            Some(cfg) if lifecycle::embedded(cfg) => relay_proc::fork(cfg),
            _ => 0,
        }
    })
}

pub unsafe extern "C" fn mod_destroy() {
    guard("mod_destroy", (), || {
        if let Some(w) = lifecycle::remove_socket_file() {
            host_log!(Level::Warn, "mod_destroy", "{w}");
        }
    })
}
