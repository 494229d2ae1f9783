//! The panic guard at every `extern "C"` entry point: a panic never unwinds into OpenSIPS
//! (that would abort the process and take the whole server down); it is logged through the
//! host logger and the entry returns its documented error code.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};

use super::log::Level;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs a panic hook that records the message for [`guard`] instead of printing it.
/// Called once from the module's load/init path (the attendant, before any fork).
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

/// Runs `f`; if it panics, logs the panic as CRITICAL and returns `on_panic`.
pub fn guard<R>(entry: &str, on_panic: R, f: impl FnOnce() -> R) -> R {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            let what = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "panic".to_string());
            host_log!(Level::Crit, entry, "internal error (caught): {what}");
            on_panic
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_error_code() {
        install_hook();
        let r = guard("test", -1, || -> i32 { panic!("boom") });
        assert_eq!(r, -1);
        assert_eq!(guard("test", -1, || 7), 7);
    }
}
