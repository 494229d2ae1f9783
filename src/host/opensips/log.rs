//! Logging through the OpenSIPS logger (`dprint`, via the shim), at its levels.
//!
//! Only the thread OpenSIPS runs the module on may log: the core logger is not thread-safe.
//! The relay's threads hand their lines to the relay process's main thread instead. Outside
//! OpenSIPS (the crate's tests) lines go to stderr.

use std::ffi::CString;
use std::fmt;

use super::sys;
use crate::host::common::guard::debug_assert_host_thread;
pub use crate::host::common::guard::mark_host_thread;

/// OpenSIPS log levels (`L_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    Alert = sys::MPX_L_ALERT,
    Crit = sys::MPX_L_CRIT,
    Err = sys::MPX_L_ERR,
    Warn = sys::MPX_L_WARN,
    Notice = sys::MPX_L_NOTICE,
    Info = sys::MPX_L_INFO,
    Dbg = sys::MPX_L_DBG,
}

/// True when running inside an OpenSIPS whose symbols resolved.
pub fn host_available() -> bool {
    // SAFETY: the shim only compares weak symbol addresses with NULL.
    unsafe { sys::mpx_host_available() != 0 }
}

/// Whether a line at `level` would be printed (the core's `is_printable`).
pub fn enabled(level: Level) -> bool {
    // SAFETY: reads the core's `*log_level`, checking both pointers for NULL first.
    unsafe { sys::mpx_log_enabled(level as i32) != 0 }
}

/// Logs one line. `func` names the place (as `LM_*` prints `__FUNCTION__`).
pub fn log(level: Level, func: &str, args: fmt::Arguments<'_>) {
    debug_assert_host_thread();
    if !host_available() {
        eprintln!("{level:?}:mediaproxy:{func}: {args}");
        return;
    }
    if !enabled(level) {
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
