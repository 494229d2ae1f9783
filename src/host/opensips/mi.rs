//! MI commands: `mediaproxy:sessions`, `mediaproxy:summary`, `mediaproxy:terminate callid=…`
//! (4.0 names; on 3.6, whose MI names are flat, `mediaproxy_sessions`, `mediaproxy_summary`,
//! `mediaproxy_terminate`). Handlers run in the MI transport's process: they ask the relay over
//! the control socket like any SIP worker, and turn its JSON into an MI reply tree.

use std::ffi::{c_char, c_void, CStr};
use std::ptr;

use serde_json::Value;

use super::guard::guard;
use super::log::HostLog;
use super::sys::{self, mi_export_t, mi_item_t, mi_params_t, mi_recipe_t, mi_response_t};
use crate::host::common::lifecycle::config;
use crate::host::common::HostStatic;
use crate::script;

fn err(code: i32, msg: &str) -> *mut mi_response_t {
    // SAFETY: the core copies the message.
    unsafe { sys::mpx_mi_error(code, msg.as_ptr() as *const c_char, msg.len() as i32) }
}

/// Adds `v` under `name` (None: as an array element) to `to`.
fn add(to: *mut mi_item_t, name: Option<&str>, v: &Value) {
    let (n, nl) = match name {
        Some(s) => (s.as_ptr() as *const c_char, s.len() as i32),
        None => (ptr::null(), 0),
    };
    // SAFETY: `to` is an item of the reply being built; names and values are copied.
    unsafe {
        match v {
            Value::Null => {
                sys::mpx_mi_add_null(to, n, nl);
            }
            Value::Bool(b) => {
                sys::mpx_mi_add_bool(to, n, nl, i32::from(*b));
            }
            Value::Number(x) => {
                sys::mpx_mi_add_number(to, n, nl, x.as_f64().unwrap_or(0.0));
            }
            Value::String(s) => {
                sys::mpx_mi_add_string(to, n, nl, s.as_ptr() as *const c_char, s.len() as i32);
            }
            Value::Array(a) => {
                let arr = sys::mpx_mi_add_array(to, n, nl);
                if !arr.is_null() {
                    for e in a {
                        add(arr, None, e);
                    }
                }
            }
            Value::Object(o) => {
                let obj = sys::mpx_mi_add_object(to, n, nl);
                if !obj.is_null() {
                    for (k, e) in o {
                        add(obj, Some(k), e);
                    }
                }
            }
        }
    }
}

/// The relay's JSON as an MI reply.
fn json_reply(text: &str) -> *mut mi_response_t {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return err(500, &format!("relay sent bad JSON: {e}")),
    };
    let mut root: *mut mi_item_t = ptr::null_mut();
    let resp = match &v {
        // SAFETY: the core allocates the reply and hands its root item back.
        Value::Array(_) => unsafe { sys::mpx_mi_result_array(&mut root) },
        // SAFETY: as above.
        _ => unsafe { sys::mpx_mi_result_object(&mut root) },
    };
    if resp.is_null() || root.is_null() {
        return ptr::null_mut();
    }
    match &v {
        Value::Array(a) => a.iter().for_each(|e| add(root, None, e)),
        Value::Object(o) => o.iter().for_each(|(k, e)| add(root, Some(k), e)),
        other => add(root, Some("result"), other),
    }
    resp
}

fn relay_json(cmd: &str) -> *mut mi_response_t {
    let Some(cfg) = config() else {
        return err(500, "not initialised");
    };
    match script::relay_command(cfg, cmd) {
        Ok(text) => json_reply(&text),
        Err(e) => err(500, &format!("relay: {e}")),
    }
}

unsafe extern "C" fn mi_sessions(_p: *const mi_params_t, _a: *mut c_void) -> *mut mi_response_t {
    guard("mi sessions", ptr::null_mut(), || relay_json("sessions"))
}

unsafe extern "C" fn mi_summary(_p: *const mi_params_t, _a: *mut c_void) -> *mut mi_response_t {
    guard("mi summary", ptr::null_mut(), || relay_json("summary"))
}

unsafe extern "C" fn mi_terminate(p: *const mi_params_t, _a: *mut c_void) -> *mut mi_response_t {
    guard("mi terminate", ptr::null_mut(), || {
        let Some(cfg) = config() else {
            return err(500, "not initialised");
        };
        let mut s: *mut c_char = ptr::null_mut();
        let mut len = 0;
        // SAFETY: p is the core's parameter set for this call.
        if unsafe { sys::mpx_mi_string_param(p, c"callid".as_ptr(), &mut s, &mut len) } != 0
            || s.is_null()
            || len <= 0
        {
            return err(400, "parameter callid (string) is required");
        }
        // SAFETY: the core hands a string of `len` bytes valid for this call.
        let b = unsafe { std::slice::from_raw_parts(s as *const u8, len as usize) };
        let call_id = String::from_utf8_lossy(b).into_owned();
        match script::end_sessions_by_call_id(&HostLog, cfg, &call_id) {
            Ok(0) => err(404, "no media session with that Call-ID"),
            Ok(n) => json_reply(&format!("{{\"ended\":{n}}}")),
            Err(e) => err(500, &format!("relay: {e}")),
        }
    })
}

unsafe extern "C" fn mi_relay_drain(p: *const mi_params_t, _a: *mut c_void) -> *mut mi_response_t {
    guard("mi relay_drain", ptr::null_mut(), || {
        let Some(cfg) = config() else {
            return err(500, "not initialised");
        };
        let mut s: *mut c_char = ptr::null_mut();
        let mut len = 0;
        // SAFETY: p is the core's parameter set for this call.
        if unsafe { sys::mpx_mi_string_param(p, c"name".as_ptr(), &mut s, &mut len) } != 0
            || s.is_null()
            || len <= 0
        {
            return err(400, "parameter name (string) is required");
        }
        // SAFETY: the core hands a string of `len` bytes valid for this call.
        let b = unsafe { std::slice::from_raw_parts(s as *const u8, len as usize) };
        let name = String::from_utf8_lossy(b).into_owned();
        match script::drain_relay(cfg, &name) {
            Ok(json) => json_reply(&json),
            Err(e) => err(404, &e),
        }
    })
}

const NO_RECIPE: mi_recipe_t = mi_recipe_t {
    cmd: None,
    params: [ptr::null_mut(); sys::MPX_MI_PARAMS as usize],
};

const fn recipes(
    cmd: sys::mpx_mi_cmd_f,
    param: Option<&'static CStr>,
) -> [mi_recipe_t; sys::MPX_MI_RECIPES as usize] {
    let mut r = [NO_RECIPE; sys::MPX_MI_RECIPES as usize];
    r[0].cmd = cmd;
    if let Some(p) = param {
        r[0].params[0] = p.as_ptr() as *mut c_char;
    }
    r
}

const fn command(
    name: &'static CStr,
    help: &'static CStr,
    cmd: sys::mpx_mi_cmd_f,
    param: Option<&'static CStr>,
) -> mi_export_t {
    mi_export_t {
        name: name.as_ptr() as *mut c_char,
        help: help.as_ptr() as *mut c_char,
        flags: 0,
        init_f: None,
        recipes: recipes(cmd, param),
        #[cfg(opensips_40)]
        aliases: [ptr::null(); 4],
    }
}

#[cfg(opensips_40)]
mod names {
    pub const SESSIONS: &std::ffi::CStr = c"sessions";
    pub const SUMMARY: &std::ffi::CStr = c"summary";
    pub const TERMINATE: &std::ffi::CStr = c"terminate";
    pub const RELAY_DRAIN: &std::ffi::CStr = c"relay_drain";
}
#[cfg(not(opensips_40))]
mod names {
    pub const SESSIONS: &std::ffi::CStr = c"mediaproxy_sessions";
    pub const SUMMARY: &std::ffi::CStr = c"mediaproxy_summary";
    pub const TERMINATE: &std::ffi::CStr = c"mediaproxy_terminate";
    pub const RELAY_DRAIN: &std::ffi::CStr = c"mediaproxy_relay_drain";
}

pub static MI_CMDS: HostStatic<[mi_export_t; 5]> = HostStatic([
    command(
        names::SESSIONS,
        c"active media sessions with their streams, addresses, codecs and counters",
        Some(mi_sessions),
        None,
    ),
    command(
        names::SUMMARY,
        c"relay summary: sessions, streams per media type, bits/s, ports, uptime",
        Some(mi_summary),
        None,
    ),
    command(
        names::TERMINATE,
        c"end the media sessions of a Call-ID (parameter: callid)",
        Some(mi_terminate),
        Some(c"callid"),
    ),
    command(
        names::RELAY_DRAIN,
        c"drain a remote relay: no new calls, running ones until they end (parameter: name)",
        Some(mi_relay_drain),
        Some(c"name"),
    ),
    mi_export_t {
        name: ptr::null_mut(),
        help: ptr::null_mut(),
        flags: 0,
        init_f: None,
        recipes: [NO_RECIPE; sys::MPX_MI_RECIPES as usize],
        #[cfg(opensips_40)]
        aliases: [ptr::null(); 4],
    },
]);
