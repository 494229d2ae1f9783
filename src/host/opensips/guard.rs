//! The panic guard at every `extern "C"` entry point (shared: [`crate::host::common::guard`]):
//! a caught panic is logged through the OpenSIPS logger as CRITICAL and the entry returns its
//! documented error code.

pub use crate::host::common::guard::install_hook;

use super::log::Level;

/// Runs `f`; if it panics, logs the panic as CRITICAL and returns `on_panic`.
pub fn guard<R>(entry: &str, on_panic: R, f: impl FnOnce() -> R) -> R {
    crate::host::common::guard::catch(on_panic, f, |what| {
        host_log!(Level::Crit, entry, "internal error (caught): {what}")
    })
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
