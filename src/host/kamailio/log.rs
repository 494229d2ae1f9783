//! Logging through the Kamailio logger, at its levels, as the core's `LM_*` macros do it (the
//! shim: the per-module debug level, a structured-logging engine when one is set, stderr with
//! `-E`, syslog otherwise). A line reads `ERROR: mediaproxy: mod_init(): ...`.
//!
//! Only the thread Kamailio runs the module on may log: the core logger is not thread-safe.
//! The relay's threads hand their lines to the relay process's main thread instead. Outside
//! Kamailio (the crate's tests) lines go to stderr.

use std::ffi::CString;
use std::fmt;

use super::sys;
use crate::host::common::guard::debug_assert_host_thread;
use crate::script;

/// Kamailio log levels (`L_*`); `Crit` is `L_CRIT2`, which `LM_CRIT` prints as "CRITICAL".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    Alert = sys::MPX_L_ALERT,
    Crit = sys::MPX_L_CRIT2,
    Err = sys::MPX_L_ERR,
    Warn = sys::MPX_L_WARN,
    Notice = sys::MPX_L_NOTICE,
    Info = sys::MPX_L_INFO,
    Dbg = sys::MPX_L_DBG,
}

/// True when running inside a Kamailio whose symbols resolved.
pub fn host_available() -> bool {
    // SAFETY: the shim only compares weak symbol addresses with NULL.
    unsafe { sys::mpx_host_available() != 0 }
}

/// Logs one line. `func` names the place (as `LM_*` prints `__func__`).
pub fn log(level: Level, func: &str, args: fmt::Arguments<'_>) {
    debug_assert_host_thread();
    if !host_available() {
        eprintln!("{level:?}:mediaproxy:{func}: {args}");
        return;
    }
    // SAFETY: reads the core's debug level through its own function.
    if unsafe { sys::mpx_log_enabled(level as i32) } == 0 {
        return;
    }
    let mut text = args.to_string().replace('\0', "\\0");
    text.push('\n');
    let func = func.replace('\0', "");
    let (Ok(text), Ok(func)) = (CString::new(text), CString::new(func)) else {
        return;
    };
    // SAFETY: both strings are NUL-terminated and live across the call; the shim passes the
    // text through a constant "%s" format, so no '%' in it reaches printf.
    unsafe { sys::mpx_log(level as i32, func.as_ptr(), text.as_ptr()) }
}

/// The host logger as the script layer sees it.
pub struct HostLog;

impl script::Logger for HostLog {
    fn log(&self, level: script::Level, func: &str, args: fmt::Arguments<'_>) {
        let level = match level {
            script::Level::Err => Level::Err,
            script::Level::Warn => Level::Warn,
            script::Level::Notice => Level::Notice,
            script::Level::Info => Level::Info,
            script::Level::Dbg => Level::Dbg,
        };
        log(level, func, args);
    }
}

/// The panic guard at every `extern "C"` entry point ([`crate::host::common::guard`]): a
/// caught panic is logged as CRITICAL and the entry returns `on_panic`.
pub fn guard<R>(entry: &str, on_panic: R, f: impl FnOnce() -> R) -> R {
    crate::host::common::guard::catch(on_panic, f, |what| {
        log(
            Level::Crit,
            entry,
            format_args!("internal error (caught): {what}"),
        )
    })
}
