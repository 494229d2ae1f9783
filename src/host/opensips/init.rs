//! Module life cycle: `mod_init` (attendant: validate every modparam, decide the processes),
//! `child_init` (every process: nothing to open eagerly, control connections are lazy) and
//! `mod_destroy` (attendant, after the children exited: remove the control socket file).

use std::ffi::c_int;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use once_cell::sync::OnceCell;

use super::avp;
use super::dialog;
use super::event;
use super::exports;
use super::guard::{guard, install_hook};
use super::log::{mark_host_thread, Level};
use super::params;
use super::relay_proc;
use super::sys;
use crate::config::{Config, RelayMode};

static CONFIG: OnceCell<Config> = OnceCell::new();
static ATTENDANT_PID: OnceCell<u32> = OnceCell::new();

/// True in the attendant (the process that ran `mod_init`), false in every forked child.
pub fn is_attendant() -> bool {
    ATTENDANT_PID.get() == Some(&std::process::id())
}

/// The validated configuration (set in `mod_init`, inherited by every forked process).
pub fn config() -> Option<&'static Config> {
    CONFIG.get()
}

fn prepare_socket_dir(path: &Path) -> Result<(), String> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create the directory {} for mediaproxy_socket: {e}",
            dir.display()
        )
    })
}

pub unsafe extern "C" fn mod_init() -> c_int {
    install_hook();
    mark_host_thread();
    guard("mod_init", -1, || {
        let _ = ATTENDANT_PID.set(std::process::id());
        let raw = params::read_raw();
        let cfg = match Config::from_raw(&raw) {
            Ok(c) => c,
            Err(e) => {
                host_log!(Level::Err, "mod_init", "{e}");
                return -1;
            }
        };
        let embedded = cfg.relay_mode == RelayMode::Embedded && !cfg.disable;
        if embedded {
            if let Err(e) = prepare_socket_dir(&cfg.mediaproxy_socket) {
                host_log!(Level::Err, "mod_init", "{e}");
                return -1;
            }
        }
        if let Err(e) = relay_proc::init_counters() {
            host_log!(Level::Err, "mod_init", "{e}");
            return -1;
        }
        crate::script::set_session_end_hook(event::session_ended);
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
        let _ = CONFIG.set(cfg);
        0
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
    guard("mod_destroy", (), || {
        let Some(cfg) = config() else { return };
        if cfg.relay_mode != RelayMode::Embedded || cfg.disable {
            return;
        }
        let path = &cfg.mediaproxy_socket;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_socket() {
                if let Err(e) = std::fs::remove_file(path) {
                    host_log!(
                        Level::Warn,
                        "mod_destroy",
                        "cannot remove {}: {e}",
                        path.display()
                    );
                }
            }
        }
    })
}
