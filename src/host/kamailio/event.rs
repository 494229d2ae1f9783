//! The session-end event, Kamailio's way: `event_route[mediaproxy:session-end]` runs once per
//! ended media session (BYE, CANCEL, failure, dialog end, RPC, media timeout), on a faked
//! message in the process that saw the end (a SIP worker, the RPC process, or the relay
//! process for a media timeout). Inside it `$mpx(name)` gives the fields OpenSIPS's
//! `E_MEDIAPROXY_SESSION_END` carries ([`crate::host::common::session_end`]); elsewhere, and
//! for an unknown name, `$mpx(...)` is `$null`. The route is looked up in `mod_init`: a
//! script without it costs nothing. The native configuration language only (no KEMI).

use std::cell::RefCell;
use std::ffi::{c_char, c_int};

use once_cell::sync::OnceCell;

use super::log::guard;
use super::sys;
use crate::host::common::session_end::{Field, Fields};
use crate::host::common::HostStatic;

pub const ROUTE: &std::ffi::CStr = c"mediaproxy:session-end";

/// The route's index in the core's table, when the script has one.
static INDEX: OnceCell<c_int> = OnceCell::new();

thread_local! {
    /// The fields of the events whose route runs now (innermost last).
    static CURRENT: RefCell<Vec<Fields>> = const { RefCell::new(Vec::new()) };
}

/// Looks the route up and hands the core `$mpx(...)`'s source (from `mod_init`).
pub fn init() {
    // SAFETY: mod_init, after the script was parsed; the name is a literal.
    let idx = unsafe { sys::mpx_event_route_lookup(ROUTE.as_ptr()) };
    if idx >= 0 {
        let _ = INDEX.set(idx);
    }
    // SAFETY: stores a function pointer the shim calls on the host thread.
    unsafe { sys::mpx_pv_set_field_source(Some(field)) };
}

/// Runs the route for one ended session (the script layer's session-end hook).
pub fn session_ended(reason: &str, stats_json: &str) {
    let Some(&idx) = INDEX.get() else { return };
    CURRENT.with(|c| c.borrow_mut().push(Fields::new(reason, stats_json)));
    // SAFETY: on the process's host thread, where the core runs script; the fields stay in
    // CURRENT (not moved: only pushed after) until the route has run.
    unsafe { sys::mpx_run_event_route(idx) };
    CURRENT.with(|c| c.borrow_mut().pop());
}

/// `$mpx(name)`'s value: 1 text, 2 an integer, 0 none.
unsafe extern "C" fn field(
    name: *const c_char,
    len: c_int,
    s: *mut *const c_char,
    slen: *mut c_int,
    n: *mut c_int,
) -> c_int {
    guard("$mpx", 0, || {
        let Ok(len) = usize::try_from(len) else {
            return 0;
        };
        if name.is_null() || s.is_null() || slen.is_null() || n.is_null() {
            return 0;
        }
        // SAFETY: the core's parsed name, len bytes of script text.
        let name = unsafe { std::slice::from_raw_parts(name as *const u8, len) };
        let Ok(name) = std::str::from_utf8(name) else {
            return 0;
        };
        CURRENT.with(|c| {
            let c = c.borrow();
            let Some(fields) = c.last() else { return 0 };
            match fields.get(name) {
                Some(Field::Text(t)) => {
                    // SAFETY: out-pointers from the shim; the text lives in CURRENT until the
                    // route ends, longer than the core uses the value.
                    unsafe {
                        *s = t.as_ptr() as *const c_char;
                        *slen = c_int::try_from(t.len()).unwrap_or(c_int::MAX);
                    }
                    1
                }
                Some(Field::Number(x)) => {
                    // SAFETY: out-pointer from the shim.
                    unsafe { *n = c_int::try_from(x).unwrap_or(c_int::MAX) };
                    2
                }
                None => 0,
            }
        })
    })
}

/// `module_exports.pv_items`: `$mpx(name)`, then the closing row.
pub static PV_ITEMS: HostStatic<[sys::mpx_pv_export; 2]> = HostStatic([
    sys::mpx_pv_export {
        name: sys::str_ {
            s: c"mpx".as_ptr() as *mut c_char,
            len: 3,
        },
        type_: sys::MPX_PVT_OTHER as c_int,
        getf: Some(sys::mpx_pv_get_field),
        setf: std::ptr::null_mut(),
        parse_name: Some(sys::mpx_pv_parse_field_name),
        parse_index: std::ptr::null_mut(),
        init_param: std::ptr::null_mut(),
        iparam: 0,
    },
    sys::mpx_pv_export {
        name: sys::str_ {
            s: std::ptr::null_mut(),
            len: 0,
        },
        type_: 0,
        getf: None,
        setf: std::ptr::null_mut(),
        parse_name: None,
        parse_index: std::ptr::null_mut(),
        init_param: std::ptr::null_mut(),
        iparam: 0,
    },
]);
