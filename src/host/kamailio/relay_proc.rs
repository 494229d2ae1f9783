//! The "mediaproxy relay" process, Kamailio's way: forked in `child_init(PROC_MAIN)` with
//! `fork_process(PROC_NOCHLDINIT, "mediaproxy relay", 1)`; the child runs the RPC-process
//! `child_init` of every module (as Kamailio's own module processes do before they call
//! RPC-like functions: ending a dialog is one), starts the relay (control thread and worker
//! threads, every signal blocked; [`crate::host::common::relay`]) and never returns into the
//! core: its main thread waits on the relay's event fd and on a signalfd.
//!
//! - Events (log lines, media timeouts) are handled on this main thread, the only one that
//!   calls into Kamailio, in the loop every relay process without a reactor shares
//!   ([`crate::relay::serve`]): lines go through the core logger, a timed-out dialog is ended
//!   through the dialog module.
//! - Shutdown: Kamailio's main process sends SIGTERM to its children and waits for them. The
//!   default handler of a Kamailio child calls `_exit(0)` at once, which would leave the relay's
//!   socket file behind, so this process blocks SIGTERM and SIGINT and reads them from a
//!   signalfd ([`SignalFd`]): it stops the relay (which removes the socket file) and exits. It also asks for
//!   SIGTERM if the main process dies without sending it (`PR_SET_PDEATHSIG`).
//! - If the relay cannot start, the process logs why and exits; Kamailio's main process sees a
//!   child end and shuts down, which is what an operator wants from a proxy without its relay.
//! - The process is not registered with the configuration framework (its per-process update is
//!   an inline function of the core's headers, outside the declarations this module keeps):
//!   it reads the core settings (e.g. the log level) as they were at start-up.

use std::ffi::c_int;

use super::host::Kamailio;
use super::log::{guard, Level};
use super::sys;
use crate::config::Config;
use crate::host::common::relay;
use crate::relay::serve::{serve, Stop};
use crate::relay::sys::SignalFd;

/// In the main process (`child_init(PROC_MAIN)`): forks the relay process. Returns 0, or -1
/// when the fork failed. Never returns in the child.
pub fn fork(cfg: &Config) -> c_int {
    let parent = std::process::id();
    // SAFETY: child_init(PROC_MAIN) in the main process, fork_process's documented caller.
    let pid = unsafe { sys::mpx_fork_process(c"mediaproxy relay".as_ptr()) };
    match pid {
        p if p < 0 => {
            host_log!(
                Level::Err,
                "child_init",
                "cannot fork the media relay process"
            );
            -1
        }
        0 => run(cfg, parent),
        _ => 0,
    }
}

fn run(cfg: &Config, parent: u32) -> ! {
    // a panic is caught here too: unwinding further would return into the core as if this
    // child were the main process
    let code = guard("relay_process", 1, || match run_relay(cfg, parent) {
        Ok(()) => 0,
        Err(e) => {
            host_log!(Level::Crit, "relay_process", "{e}");
            1
        }
    });
    // SAFETY: ends this process without returning into the core's child_init chain (a module
    // process must never return) and without running the main process's exit handlers.
    unsafe { libc::_exit(code) }
}

fn run_relay(cfg: &Config, parent: u32) -> Result<(), String> {
    let signals = SignalFd::termination().map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    // SAFETY: asks the kernel for SIGTERM (now blocked, so read from the signalfd) when the
    // parent dies; then checks it did not die already.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
    // SAFETY: plain system call.
    if unsafe { libc::getppid() } as u32 != parent {
        return Err("the main process is gone".into());
    }
    // SAFETY: in the forked child, once, before any other module code runs here.
    if unsafe { sys::mpx_init_child_rpc() } < 0 {
        return Err("the modules' child_init failed in the media relay process".into());
    }
    let relay = relay::start(cfg)?;
    let stop = serve(&relay, &signals, None, relay::handle::<Kamailio>);
    if let Ok(Stop::Signal(signal)) = stop {
        host_log!(
            Level::Info,
            "relay_process",
            "signal {signal}: stopping the media relay"
        );
    }
    relay.shutdown();
    stop.map(|_| ()).map_err(|e| format!("poll: {e}"))
}
