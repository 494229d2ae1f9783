//! The panic guard at every `extern "C"` entry point (shared: [`crate::host::common::guard`]):
//! a caught panic is logged through the OpenSIPS logger as CRITICAL and the entry returns its
//! documented error code.

pub use super::log::guard;
pub use crate::host::common::guard::install_hook;

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
