//! The script functions. Each entry is guarded; `disable=1` makes every one return -1.
//!
//! Return codes (OpenSIPS: >0 true, <0 false, 0 would stop the script and is never used):
//! 1 done / true, -1 error / false, -2 no SDP (use_media_proxy).

use std::ffi::{c_int, c_void};

use super::guard::guard;
use super::init::config;
use super::log::Level;
use super::sys::sip_msg;

fn not_yet(name: &str) -> c_int {
    if config().is_some_and(|c| c.disable) {
        return -1;
    }
    host_log!(Level::Err, name, "{name}() is not implemented yet");
    -1
}

macro_rules! entry {
    ($name:ident) => {
        pub unsafe extern "C" fn $name(
            _msg: *mut sip_msg,
            _p0: *mut c_void,
            _p1: *mut c_void,
            _p2: *mut c_void,
            _p3: *mut c_void,
            _p4: *mut c_void,
            _p5: *mut c_void,
            _p6: *mut c_void,
            _p7: *mut c_void,
        ) -> c_int {
            guard(stringify!($name), -1, || not_yet(stringify!($name)))
        }
    };
}

entry!(engage_media_proxy);
entry!(use_media_proxy);
entry!(end_media_session);
entry!(client_nat_test);
entry!(fix_contact);
