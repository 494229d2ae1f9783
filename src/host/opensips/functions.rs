//! The script functions' OpenSIPS table (`cmd_export_t` rows) and entry point: `int f(struct sip_msg *, void *p0, ...,
//! void *p7)`, one generic function instantiated per script function (the table is in
//! `exports`). What the functions do is shared ([`crate::host::common::functions`],
//! [`crate::script`]); each entry is guarded.

use std::ffi::{c_int, c_void};
use std::ptr;

use super::host::OpenSips;
use super::sys::{self, cmd_export_t, cmd_function, cmd_param, sip_msg};
use super::sys::{
    mpx_script_numbers_as_text, MPX_BRANCH_ROUTE, MPX_CMD_PARAM_STR, MPX_FAILURE_ROUTE,
    MPX_LOCAL_ROUTE, MPX_ONREPLY_ROUTE, MPX_REQUEST_ROUTE,
};
use crate::host::common::functions::{run, script_functions, Function, COUNT};
use crate::host::common::msg::str_text;
use crate::host::common::HostStatic;

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

/// The entry point of script function `F` (an index of
/// [`crate::host::common::functions::FUNCTIONS`]).
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn entry<const F: usize>(
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
    // SAFETY: msg is the message the core runs this route for.
    unsafe { run::<OpenSips>(F, msg, || str_arg(p0)) }
}

const NO_PARAM: cmd_param = cmd_param {
    flags: 0,
    fixup: None,
    free_fixup: None,
};

/// REQUEST, ONREPLY, FAILURE, BRANCH and LOCAL routes: wherever a message is handled.
pub const MESSAGE_ROUTES: c_int = (MPX_REQUEST_ROUTE
    | MPX_ONREPLY_ROUTE
    | MPX_FAILURE_ROUTE
    | MPX_BRANCH_ROUTE
    | MPX_LOCAL_ROUTE) as c_int;

/// A row of the functions' table: the string parameter of `client_nat_test`, the routes.
const fn row(f: cmd_function, which: &Function) -> cmd_export_t {
    let mut params = [NO_PARAM; 9];
    if which.takes_string {
        params[0].flags = MPX_CMD_PARAM_STR as c_int;
    }
    cmd_export_t {
        name: which.name.as_ptr(),
        function: f,
        params,
        flags: if which.request_route_only {
            MPX_REQUEST_ROUTE as c_int
        } else {
            MESSAGE_ROUTES
        },
    }
}

const END: cmd_export_t = cmd_export_t {
    name: ptr::null(),
    function: None,
    params: [NO_PARAM; 9],
    flags: 0,
};

pub static CMDS: HostStatic<[cmd_export_t; COUNT + 1]> =
    HostStatic(script_functions!(row, entry, END));

/// Makes the script's integer literals for our string parameters text (`client_nat_test(3)`
/// as `client_nat_test("3")`): the core types each parameter either integer or string and
/// would stop start-up at its fixup, which runs after `mod_init`. Returns how many it changed.
///
/// # Safety
/// Only from `mod_init`, in the attendant: the script is parsed and not yet fixed up.
pub unsafe fn script_numbers_as_text() -> Result<u32, String> {
    let n = CMDS.0.len() as c_int - 1;
    // SAFETY: per the function contract, nothing else reads or changes the parsed script now;
    // the shim reads only our own rows of CMDS, which outlive the call.
    let changed = unsafe { mpx_script_numbers_as_text(CMDS.0.as_ptr(), n) };
    u32::try_from(changed).map_err(|_| "no pkg memory for the script's parameters".to_string())
}
