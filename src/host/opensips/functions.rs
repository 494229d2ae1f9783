//! The script functions' OpenSIPS entry point: `int f(struct sip_msg *, void *p0, ...,
//! void *p7)`, one generic function instantiated per script function (the table is in
//! `exports`). What the functions do is shared ([`crate::host::common::functions`],
//! [`crate::script`]); each entry is guarded.

use std::ffi::{c_int, c_void};

use super::msg::SipMsg;
use super::sys::{self, sip_msg};
use crate::host::common::functions::run;
use crate::host::common::msg::str_text;

/// The text of a `CMD_PARAM_STR` parameter (a `str *`).
fn str_arg(p0: *mut c_void) -> String {
    if p0.is_null() {
        return String::new();
    }
    // SAFETY: the core passes a `str*` for a CMD_PARAM_STR parameter, valid for the call.
    unsafe {
        let s = &*(p0 as *const sys::str_);
        str_text(s.s, s.len)
    }
}

/// The entry point of script function `F` ([`Function`] as `u8`).
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn entry<const F: u8>(
    msg: *mut sip_msg,
    p0: *mut c_void,
    _p1: *mut c_void,
    _p2: *mut c_void,
    _p3: *mut c_void,
    _p4: *mut c_void,
    _p5: *mut c_void,
    _p6: *mut c_void,
    _p7: *mut c_void,
) -> c_int {
    // SAFETY: msg is the message the core runs this route or callback for.
    run(F, unsafe { SipMsg::from_ptr(msg) }, || str_arg(p0))
}
