//! RPC commands (`kamcmd` over the ctl module, `kamctl rpc` over jsonrpcs):
//! `mediaproxy.sessions`, `mediaproxy.summary` and `mediaproxy.terminate <callid>`, what
//! OpenSIPS operators have as MI commands. Handlers run in the RPC transport's process: they
//! ask the relay over the control socket like any SIP worker, and turn its JSON into the RPC
//! reply (a list at the top becomes one reply value per element, as Kamailio's own list
//! commands reply).

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;

use serde_json::Value;

use super::log::{guard, HostLog};
use super::sys::{self, mpx_rpc_export_t, mpx_rpc_t};
use crate::host::common::lifecycle::config;
use crate::host::common::HostStatic;
use crate::script;

/// Text for C: a NUL inside (which JSON allows) ends it.
fn c_text(s: &str) -> CString {
    let s = s.split('\0').next().unwrap_or("");
    CString::new(s).unwrap_or_default()
}

/// The reply being built: the RPC's `rpc` and `ctx`.
struct Reply {
    rpc: *mut mpx_rpc_t,
    ctx: *mut c_void,
}

impl Reply {
    fn fault(&self, code: i32, msg: &str) {
        let m = c_text(msg);
        // SAFETY: rpc and ctx are this call's; the core copies the message.
        unsafe { sys::mpx_rpc_fault(self.rpc, self.ctx, code, m.as_ptr()) }
    }

    /// Adds `v` to the reply (`to` NULL), to the struct `to` under `name`, or to the array
    /// `to` (`name` None).
    fn add(&self, to: *mut c_void, name: Option<&str>, v: &Value) {
        let name = name.map(c_text);
        let n = name.as_ref().map_or(ptr::null(), |n| n.as_ptr());
        let (rpc, ctx) = (self.rpc, self.ctx);
        // SAFETY: rpc and ctx are this call's, `to` a node of its reply (or NULL); names and
        // strings are copied by the core before these return.
        unsafe {
            match v {
                Value::Null => {
                    sys::mpx_rpc_add_str(rpc, ctx, to, n, c"".as_ptr());
                }
                Value::Bool(b) => {
                    sys::mpx_rpc_add_bool(rpc, ctx, to, n, i32::from(*b));
                }
                Value::Number(x) => match x.as_i64().and_then(|i| i32::try_from(i).ok()) {
                    Some(i) => {
                        sys::mpx_rpc_add_int(rpc, ctx, to, n, i);
                    }
                    // counters beyond 32 bits: as text, exactly (a double would round them)
                    None if x.is_u64() || x.is_i64() => {
                        let t = c_text(&x.to_string());
                        sys::mpx_rpc_add_str(rpc, ctx, to, n, t.as_ptr());
                    }
                    None => {
                        sys::mpx_rpc_add_double(rpc, ctx, to, n, x.as_f64().unwrap_or(0.0));
                    }
                },
                Value::String(s) => {
                    let t = c_text(s);
                    sys::mpx_rpc_add_str(rpc, ctx, to, n, t.as_ptr());
                }
                Value::Array(a) => {
                    let node = sys::mpx_rpc_add_node(rpc, ctx, to, n, 1);
                    if !node.is_null() {
                        a.iter().for_each(|e| self.add(node, None, e));
                    }
                }
                Value::Object(o) => {
                    let node = sys::mpx_rpc_add_node(rpc, ctx, to, n, 0);
                    if !node.is_null() {
                        o.iter().for_each(|(k, e)| self.add(node, Some(k), e));
                    }
                }
            }
        }
    }

    /// The relay's JSON as the reply.
    fn json(&self, text: &str) {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(a)) => a.iter().for_each(|e| self.add(ptr::null_mut(), None, e)),
            Ok(v) => self.add(ptr::null_mut(), None, &v),
            Err(e) => self.fault(500, &format!("relay sent bad JSON: {e}")),
        }
    }

    fn relay(&self, cmd: &str) {
        let Some(cfg) = config() else {
            return self.fault(500, "not initialised");
        };
        match script::relay_command(cfg, cmd) {
            Ok(text) => self.json(&text),
            Err(e) => self.fault(500, &format!("relay: {e}")),
        }
    }

    fn terminate(&self) {
        let Some(cfg) = config() else {
            return self.fault(500, "not initialised");
        };
        let mut s: *mut c_char = ptr::null_mut();
        // SAFETY: rpc and ctx are this call's; the core hands back a string valid for it.
        if unsafe { sys::mpx_rpc_scan_str(self.rpc, self.ctx, &mut s) } != 0 || s.is_null() {
            return self.fault(400, "the Call-ID (a string) is required");
        }
        // SAFETY: s is a NUL-terminated string valid for this call.
        let call_id = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
        if call_id.is_empty() {
            return self.fault(400, "the Call-ID (a string) is required");
        }
        match script::end_sessions_by_call_id(&HostLog, cfg, &call_id) {
            Ok(0) => self.fault(404, "no media session with that Call-ID"),
            Ok(n) => self.json(&format!("{{\"ended\":{n}}}")),
            Err(e) => self.fault(500, &format!("relay: {e}")),
        }
    }
}

impl Reply {
    fn relay_drain(&self) {
        let Some(cfg) = config() else {
            return self.fault(500, "not initialised");
        };
        let mut s: *mut c_char = ptr::null_mut();
        // SAFETY: rpc and ctx are this call's; the core hands back a string valid for it.
        if unsafe { sys::mpx_rpc_scan_str(self.rpc, self.ctx, &mut s) } != 0 || s.is_null() {
            return self.fault(400, "the relay's name (a string) is required");
        }
        // SAFETY: s is a NUL-terminated string valid for this call.
        let name = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
        match script::drain_relay(cfg, &name) {
            Ok(json) => self.json(&json),
            Err(e) => self.fault(404, &e),
        }
    }
}

fn run(name: &'static str, rpc: *mut mpx_rpc_t, ctx: *mut c_void, f: fn(&Reply)) {
    if rpc.is_null() {
        return;
    }
    let r = Reply { rpc, ctx };
    guard(name, (), || f(&r));
}

unsafe extern "C" fn rpc_sessions(rpc: *mut mpx_rpc_t, ctx: *mut c_void) {
    run("rpc sessions", rpc, ctx, |r| r.relay("sessions"));
}

unsafe extern "C" fn rpc_summary(rpc: *mut mpx_rpc_t, ctx: *mut c_void) {
    run("rpc summary", rpc, ctx, |r| r.relay("summary"));
}

unsafe extern "C" fn rpc_terminate(rpc: *mut mpx_rpc_t, ctx: *mut c_void) {
    run("rpc terminate", rpc, ctx, Reply::terminate);
}

unsafe extern "C" fn rpc_relay_drain(rpc: *mut mpx_rpc_t, ctx: *mut c_void) {
    run("rpc relay_drain", rpc, ctx, Reply::relay_drain);
}

/// A documentation string list (`const char **`, NULL-terminated).
pub type Doc = HostStatic<[*const c_char; 2]>;

static DOC_SESSIONS: Doc = HostStatic([
    c"Active media sessions with their streams, addresses, codecs and counters.".as_ptr(),
    ptr::null(),
]);
static DOC_SUMMARY: Doc = HostStatic([
    c"Relay summary: sessions, streams per media type, bits/s, ports, uptime.".as_ptr(),
    ptr::null(),
]);
static DOC_RELAY_DRAIN: Doc = HostStatic([
    c"Drain a remote relay: no new calls, running ones until they end (parameter: its name)."
        .as_ptr(),
    ptr::null(),
]);
static DOC_TERMINATE: Doc = HostStatic([
    c"End the media sessions of a Call-ID (parameter: the Call-ID).".as_ptr(),
    ptr::null(),
]);

const fn export(
    name: &'static CStr,
    f: unsafe extern "C" fn(*mut mpx_rpc_t, *mut c_void),
    doc: &'static Doc,
) -> mpx_rpc_export_t {
    mpx_rpc_export_t {
        name: name.as_ptr(),
        function: Some(f),
        doc_str: &doc.0 as *const _ as *mut *const c_char,
        flags: 0,
    }
}

/// `module_exports.rpc_methods`: our commands, ending in a NULL name.
pub static RPC_CMDS: HostStatic<[mpx_rpc_export_t; 5]> = HostStatic([
    export(c"mediaproxy.sessions", rpc_sessions, &DOC_SESSIONS),
    export(c"mediaproxy.summary", rpc_summary, &DOC_SUMMARY),
    export(c"mediaproxy.terminate", rpc_terminate, &DOC_TERMINATE),
    export(c"mediaproxy.relay_drain", rpc_relay_drain, &DOC_RELAY_DRAIN),
    mpx_rpc_export_t {
        name: ptr::null(),
        function: None,
        doc_str: ptr::null_mut(),
        flags: 0,
    },
]);
