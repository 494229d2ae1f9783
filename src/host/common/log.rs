//! Logging, for every host: the levels, the script layer's logger and the panic guard over a
//! host's logger, and one line's checks and formatting. A host layer supplies only its
//! numbers for the levels and the call that prints a line ([`HostLogger`]).
//!
//! Only the thread the host runs the module on may log: the core loggers are not
//! thread-safe. The relay's threads hand their lines to the relay process's main thread
//! instead. Outside a host (the crate's tests) lines go to stderr.

use std::ffi::{CStr, CString};
use std::fmt;

use super::guard::{catch, debug_assert_host_thread};
use crate::script;

/// Log levels; each host maps them onto its own numbers ([`HostLogger::LEVELS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Alert,
    Crit,
    Err,
    Warn,
    Notice,
    Info,
    Dbg,
}

impl From<script::Level> for Level {
    fn from(l: script::Level) -> Level {
        match l {
            script::Level::Err => Level::Err,
            script::Level::Warn => Level::Warn,
            script::Level::Notice => Level::Notice,
            script::Level::Info => Level::Info,
            script::Level::Dbg => Level::Dbg,
        }
    }
}

/// A host's logger.
pub trait HostLogger {
    /// The host's numbers for [`Level`]'s variants, in their order.
    const LEVELS: [i32; 7];
    /// True inside the host (its logging symbols resolved); false in the crate's tests.
    fn available(&self) -> bool;
    /// Whether a line at this host level would be printed.
    fn enabled(&self, level: i32) -> bool;
    /// Prints one line (`text` ends in "\n") as the host's own log macros would.
    fn write(&self, level: i32, func: &CStr, text: &CStr);
}

/// Logs one line through `host`. `func` names the place (as the hosts' macros print the C
/// function's name).
pub fn emit<H: HostLogger>(host: &H, level: Level, func: &str, args: fmt::Arguments<'_>) {
    debug_assert_host_thread();
    if !host.available() {
        eprintln!("{level:?}:mediaproxy:{func}: {args}");
        return;
    }
    let n = H::LEVELS[level as usize];
    if !host.enabled(n) {
        return;
    }
    let mut text = args.to_string().replace('\0', "\\0");
    text.push('\n');
    let func = func.replace('\0', "");
    if let (Ok(text), Ok(func)) = (CString::new(text), CString::new(func)) {
        host.write(n, &func, &text);
    }
}

/// Every host logger is the script layer's logger too.
impl<H: HostLogger> script::Logger for H {
    fn log(&self, level: script::Level, func: &str, args: fmt::Arguments<'_>) {
        emit(self, level.into(), func, args);
    }
}

/// The panic guard at an `extern "C"` entry point: runs `f`; a panic is logged through `host`
/// as critical and the entry returns `on_panic`.
pub fn guard<H: HostLogger, R>(host: &H, entry: &str, on_panic: R, f: impl FnOnce() -> R) -> R {
    catch(on_panic, f, |what| {
        emit(
            host,
            Level::Crit,
            entry,
            format_args!("internal error (caught): {what}"),
        )
    })
}

/// Writes a host layer's logger over its shim's `mpx_host_available`, `mpx_log_enabled` and
/// `mpx_log` (every host's shim has the three, alike): the unit type `HostLog` (a
/// [`HostLogger`], hence also the script layer's logger), `log()` for the `host_log!` macro
/// and the entry points' `guard()`. `$levels` are the host's numbers for [`Level`]'s variants.
macro_rules! host_logger {
    ($sys:ident, $levels:expr) => {
        pub use $crate::host::common::log::Level;

        /// The host's logger; also the script layer's logger.
        pub struct HostLog;

        impl $crate::host::common::log::HostLogger for HostLog {
            const LEVELS: [i32; 7] = $levels;
            fn available(&self) -> bool {
                // SAFETY: the shim only compares weak symbol addresses with NULL.
                unsafe { $sys::mpx_host_available() != 0 }
            }
            fn enabled(&self, level: i32) -> bool {
                // SAFETY: reads the core's log level, checking its symbols first.
                unsafe { $sys::mpx_log_enabled(level) != 0 }
            }
            fn write(&self, level: i32, func: &std::ffi::CStr, text: &std::ffi::CStr) {
                // SAFETY: both strings are NUL-terminated and live across the call; the shim
                // passes the text through a constant "%s" format, so no '%' reaches printf.
                unsafe { $sys::mpx_log(level, func.as_ptr(), text.as_ptr()) }
            }
        }

        /// Logs one line through the host's logger.
        pub fn log(level: Level, func: &str, args: std::fmt::Arguments<'_>) {
            $crate::host::common::log::emit(&HostLog, level, func, args)
        }

        /// The panic guard at every `extern "C"` entry point: a caught panic is logged as
        /// critical and the entry returns `on_panic`.
        pub fn guard<R>(entry: &str, on_panic: R, f: impl FnOnce() -> R) -> R {
            $crate::host::common::log::guard(&HostLog, entry, on_panic, f)
        }
    };
}
pub(crate) use host_logger;
