//! The script functions' Kamailio entry point: `int f(struct sip_msg *, char *p1, char *p2)`,
//! one generic function instantiated per script function (the table is in `exports`). What
//! the functions do is shared ([`crate::host::common::functions`], [`crate::script`]); each
//! entry is guarded and never returns 0 (which would end the script).

use std::ffi::{c_char, c_int, c_void};

use super::host::Kamailio;
use super::sys::{self, sip_msg};
use crate::host::common::functions::run;
use crate::host::common::msg::str_text;

/// The value of a parameter fixed up by `fixup_spve_null` (text that may hold variables).
fn str_arg(msg: *mut sip_msg, p: *mut c_char) -> String {
    let (mut s, mut len): (*mut c_char, c_int) = (std::ptr::null_mut(), 0);
    // SAFETY: p is the fixed-up parameter of this call; the core hands back a string valid
    // until the next such call.
    if unsafe { sys::mpx_param_str(msg, p as *mut c_void, &mut s, &mut len) } != 0 {
        return String::new();
    }
    // SAFETY: s is NULL or points to len bytes.
    unsafe { str_text(s, len) }
}

/// The entry point of script function `F` (an index of
/// [`crate::host::common::functions::FUNCTIONS`]).
pub unsafe extern "C" fn entry<const F: usize>(
    msg: *mut sip_msg,
    p1: *mut c_char,
    _p2: *mut c_char,
) -> c_int {
    // SAFETY: msg is the message the core runs this route for.
    unsafe { run::<Kamailio>(F, msg, || str_arg(msg, p1)) }
}
