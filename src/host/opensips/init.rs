//! Module life cycle: `mod_load` (at `loadmodule`: publish the session-end event), `mod_init`
//! (attendant: validate every modparam, decide the processes), `child_init` (every process:
//! nothing to open eagerly, control connections are lazy) and `mod_destroy` (attendant, after
//! the children exited: remove the control socket file). The host-neutral part is shared
//! ([`crate::host::common::lifecycle`]).

use std::ffi::c_int;

use super::avp;
use super::dialog;
use super::early;
use super::event;
use super::functions;
use super::guard::{guard, install_hook};
use super::log::{mark_host_thread, HostLog, Level};
use super::natping;
use super::relay_proc;
use super::sys;
use crate::host::common::lifecycle::{self, HostInit};

pub unsafe extern "C" fn mod_init() -> c_int {
    lifecycle::mod_init(&HostLog, |cfg| {
        // SAFETY: mod_init runs in the attendant, after the parse and before the fixups.
        let numbers = unsafe { functions::script_numbers_as_text() }?;
        if numbers > 0 {
            host_log!(
                Level::Dbg,
                "mod_init",
                "{numbers} integer argument(s) of our functions read as text"
            );
        }
        crate::script::set_session_end_hook(event::session_ended);
        avp::init(cfg)?;
        early::init();
        let dialog = dialog::init();
        natping::init(cfg)?;
        // SAFETY: mod_init runs in the attendant before the core forks module processes.
        unsafe { relay_proc::set_relay_processes(u32::from(lifecycle::embedded(cfg))) };
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

/// `load_f`: runs at `loadmodule`, before the script's routes are parsed, so the event is
/// published before an `event_route` names it.
pub unsafe extern "C" fn mod_load() -> c_int {
    install_hook();
    mark_host_thread();
    guard("mod_load", -1, || match event::init() {
        Ok(()) => 0,
        Err(e) => {
            host_log!(Level::Err, "mod_load", "{e}");
            -1
        }
    })
}

pub unsafe extern "C" fn child_init(_rank: c_int) -> c_int {
    // Control connections are opened lazily by the processes that use them (ABI notes §12).
    0
}

pub unsafe extern "C" fn mod_destroy() {
    lifecycle::mod_destroy(&HostLog)
}
