//! Module life cycle: `mod_init` (attendant: validate every modparam, decide the processes),
//! `child_init` (every process: nothing to open eagerly, control connections are lazy) and
//! `mod_destroy` (attendant, after the children exited: remove the control socket file).
//! The host-neutral part is shared ([`crate::host::common::lifecycle`]).

use std::ffi::c_int;

use super::avp;
use super::dialog;
use super::exports;
use super::log::HostLog;
use super::sys;
pub use crate::host::common::lifecycle::config;
use crate::host::common::lifecycle::{self, HostInit};

pub unsafe extern "C" fn mod_init() -> c_int {
    lifecycle::mod_init(&HostLog, |cfg| {
        avp::init(cfg)?;
        let dialog = dialog::init();
        // SAFETY: mod_init runs in the attendant before the core forks module processes.
        unsafe { exports::set_relay_processes(u32::from(lifecycle::embedded(cfg))) };
        let layout = if cfg!(opensips_40) {
            "4.0 layout"
        } else {
            "3.6 layout"
        };
        Ok(HostInit {
            dialog,
            host: format!("{} ({layout})", sys::OPENSIPS_VERSION),
        })
    })
}

pub unsafe extern "C" fn child_init(_rank: c_int) -> c_int {
    // Control connections are opened lazily by the processes that use them (ABI notes §12).
    0
}

pub unsafe extern "C" fn mod_destroy() {
    lifecycle::mod_destroy(&HostLog)
}
