//! The panic guard at every `extern "C"` entry point: a panic never unwinds into the host
//! (that would abort the process and take the whole server down); the host layer logs it
//! through its own logger and the entry returns its documented error code.
//!
//! Also the host-thread marker: only the thread the host runs the module on may call into the
//! host (its logger, allocator and parser are not thread-safe).

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::thread::{self, ThreadId};

use once_cell::sync::OnceCell;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs a panic hook that records the message for [`catch`] instead of printing it.
/// Called from the module's load/init path (the attendant, before any fork).
pub fn install_hook() {
    panic::set_hook(Box::new(|info| {
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "unknown panic".to_string()
        };
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{at}")));
    }));
}

/// Runs `f`; if it panics, hands what happened to `report` (the host logs it as critical) and
/// returns `on_panic`.
pub fn catch<R>(on_panic: R, f: impl FnOnce() -> R, report: impl FnOnce(&str)) -> R {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            let what = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "panic".to_string());
            // a panicking logger must not unwind either
            let _ = panic::catch_unwind(AssertUnwindSafe(|| report(&what)));
            on_panic
        }
    }
}

static HOST_THREAD: OnceCell<ThreadId> = OnceCell::new();

/// Records the calling thread as the one that may call into the host. Called from the
/// attendant's `mod_init`; forked children keep the same main-thread id.
pub fn mark_host_thread() {
    let _ = HOST_THREAD.set(thread::current().id());
}

/// Debug builds: panics when called off the host thread (a relay thread must never log
/// through the host; it hands its lines to the relay process's main thread).
pub fn debug_assert_host_thread() {
    if let Some(id) = HOST_THREAD.get() {
        debug_assert_eq!(
            *id,
            thread::current().id(),
            "host logger called off the host thread"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_error_code_and_is_reported() {
        install_hook();
        let mut seen = String::new();
        let r = catch(-1, || -> i32 { panic!("boom") }, |w| seen = w.to_string());
        assert_eq!(r, -1);
        assert!(seen.starts_with("boom at "), "{seen}");
        assert_eq!(catch(-1, || 7, |_| unreachable!()), 7);
    }
}
