//! Module life cycle: `mod_init` (main process, before any fork: validate every modparam,
//! reserve the relay's process), `child_init` (every process; in the main process with
//! `PROC_MAIN`, fork the relay process) and `mod_destroy` (main process, after the children
//! exited: remove the control socket file if one was left behind). The host-neutral part is
//! shared ([`crate::host::common::lifecycle`]).

use std::ffi::c_int;

use super::avp;
use super::counters;
use super::dialog;
use super::event;
use super::log::{guard, HostLog};
use super::natping;
use super::relay_proc;
use super::sys;
use crate::host::common::lifecycle::{self, config, HostInit};

pub unsafe extern "C" fn mod_init() -> c_int {
    lifecycle::mod_init(&HostLog, |cfg| {
        crate::script::set_session_end_hook(event::session_ended);
        event::init();
        counters::init()?;
        avp::init(cfg)?;
        let dialog = dialog::init();
        natping::init(cfg)?;
        // the core sizes its process table from what mod_init reserves
        // SAFETY: mod_init, in the main process, before any fork.
        if lifecycle::embedded(cfg) && unsafe { sys::mpx_register_procs(1) } < 0 {
            return Err("cannot reserve a process for the media relay".into());
        }
        Ok(HostInit {
            dialog,
            host: sys::KAMAILIO_VERSION.to_string(),
        })
    })
}

/// Control connections are opened lazily by the processes that use them; the main process
/// (`PROC_MAIN`) forks the relay process when the relay is embedded.
pub unsafe extern "C" fn child_init(rank: c_int) -> c_int {
    guard("child_init", -1, || match config() {
        Some(cfg) if rank == sys::MPX_PROC_MAIN && lifecycle::embedded(cfg) => {
            relay_proc::fork(cfg)
        }
        _ => 0,
    })
}

pub unsafe extern "C" fn mod_destroy() {
    lifecycle::mod_destroy(&HostLog)
}
