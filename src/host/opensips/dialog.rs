//! `engage_media_proxy()` through the dialog module: the dialog hands every in-dialog request
//! and reply with SDP to the module, and the media session ends with the dialog.
//!
//! No shm is needed: each callback's registered parameter is a small integer (the ICE choice
//! and an "active" bit), which the dialog module stores in shared memory for us and lets
//! callbacks change in place.

use std::ffi::{c_int, c_void};

use once_cell::sync::OnceCell;

use super::functions::{media_proxy, HostLog};
use super::guard::guard;
use super::init::{config, is_attendant};
use super::log::Level;
use super::msg::FAKED_REPLY;
use super::sys::{self, dlg_binds, dlg_cb_params, mpx_dlg_cell_head, sip_msg, str_};
use crate::config::IceCandidate;
use crate::script::{remove_session, Ctx};

struct Api(dlg_binds);
// SAFETY: a table of function pointers filled by the dialog module in the attendant; read-only.
unsafe impl Send for Api {}
// SAFETY: as above.
unsafe impl Sync for Api {}

static API: OnceCell<Api> = OnceCell::new();

/// Binds the dialog API (from `mod_init`). False when the dialog module is not loaded.
pub fn init() -> bool {
    let mut b = dlg_binds::default();
    // SAFETY: fills `b` through the dialog module's own load_dlg(), when it is loaded.
    if unsafe { sys::mpx_load_dlg_api(&mut b) } != 0 || b.register_dlgcb.is_none() {
        return false;
    }
    let _ = API.set(Api(b));
    true
}

const ACTIVE: usize = 0x10;

fn encode(ice: IceCandidate) -> usize {
    ACTIVE
        | match ice {
            IceCandidate::None => 1,
            IceCandidate::LowPriority => 2,
            IceCandidate::HighPriority => 3,
        }
}

fn decode(v: usize) -> IceCandidate {
    match v & 0xf {
        2 => IceCandidate::LowPriority,
        3 => IceCandidate::HighPriority,
        _ => IceCandidate::None,
    }
}

fn str_text(s: *const str_) -> String {
    if s.is_null() {
        return String::new();
    }
    // SAFETY: s points to a core `str` that stays valid for this callback.
    let s = unsafe { &*s };
    if s.s.is_null() || s.len <= 0 {
        return String::new();
    }
    // SAFETY: s.s points to s.len bytes.
    let b = unsafe { std::slice::from_raw_parts(s.s as *const u8, s.len as usize) };
    String::from_utf8_lossy(b).into_owned()
}

fn did(dlg: *mut sys::dlg_cell) -> String {
    let Some(f) = API.get().and_then(|a| a.0.get_dlg_did) else {
        return String::new();
    };
    // SAFETY: dlg is a live dialog handed to us by the dialog module.
    str_text(unsafe { f(dlg) })
}

/// Call-ID, caller tag and callee tag of a dialog (callee: the leg that answered, else the
/// first callee leg; none before a callee leg exists).
fn ids(dlg: *mut sys::dlg_cell) -> (String, String, String) {
    let head = dlg as *const mpx_dlg_cell_head;
    // SAFETY: the fields read are at offsets checked in mpx_types.h for 3.6 and 4.0.
    let (callid, legs, legs_no) = unsafe {
        (
            &(*head).callid as *const str_,
            (*head).legs,
            (*head).legs_no,
        )
    };
    let leg_tag = |i: usize| -> String {
        if legs.is_null() || i >= legs_no[0] as usize {
            return String::new();
        }
        let leg = legs as *const u8;
        // SAFETY: i < legs used; each struct dlg_leg is MPX_DLG_LEG_SIZE bytes with its tag
        // (a str) at MPX_DLG_LEG_TAG_OFFSET.
        let tag = unsafe {
            leg.add(i * sys::MPX_DLG_LEG_SIZE as usize + sys::MPX_DLG_LEG_TAG_OFFSET as usize)
        } as *const str_;
        str_text(tag)
    };
    let callee = match legs_no[2] {
        0 => 1,
        n => n as usize,
    };
    (str_text(callid), leg_tag(0), leg_tag(callee))
}

unsafe extern "C" fn on_request(dlg: *mut sys::dlg_cell, _t: c_int, p: *mut dlg_cb_params) {
    guard("dialog request", (), || {
        // SAFETY: the dialog module passes valid params for this callback.
        let (msg, param) = unsafe { ((*p).msg, *(*p).param as usize) };
        if msg.is_null() || msg as usize == FAKED_REPLY {
            return;
        }
        let ctx = Ctx {
            dialog_id: Some(did(dlg)),
            ice: Some(decode(param)),
        };
        media_proxy(msg, &ctx);
    })
}

unsafe extern "C" fn on_reply(dlg: *mut sys::dlg_cell, _t: c_int, p: *mut dlg_cb_params) {
    guard("dialog reply", (), || {
        // SAFETY: as above.
        let (msg, param) = unsafe { ((*p).msg, *(*p).param as usize) };
        if msg.is_null() || msg as usize == FAKED_REPLY {
            return;
        }
        // SAFETY: a reply message the dialog module forwards.
        let status = unsafe { (*msg).first_line.u.reply.statuscode };
        if !(101..300).contains(&status) {
            return;
        }
        let ctx = Ctx {
            dialog_id: Some(did(dlg)),
            ice: Some(decode(param)),
        };
        media_proxy(msg, &ctx);
    })
}

unsafe extern "C" fn on_end(dlg: *mut sys::dlg_cell, _t: c_int, p: *mut dlg_cb_params) {
    guard("dialog end", (), || {
        // SAFETY: param points to the registered value, which we may change in place.
        let slot = unsafe { (*p).param };
        if slot.is_null() {
            return;
        }
        // SAFETY: as above.
        let v = unsafe { *slot } as usize;
        if v & ACTIVE == 0 {
            return;
        }
        // SAFETY: as above: mark the session removed before asking, so it is asked once.
        unsafe { *slot = (v & !ACTIVE) as *mut c_void };
        // DESTROY also runs in the attendant at shutdown, when the relay is gone already
        if is_attendant() {
            return;
        }
        let Some(cfg) = config() else { return };
        let (call_id, from_tag, to_tag) = ids(dlg);
        remove_session(&HostLog, cfg, &call_id, &from_tag, &to_tag, "dialog ended");
    })
}

/// Creates the dialog for an initial INVITE and registers the callbacks. Returns the dialog id.
pub fn engage(msg: *mut sip_msg, ice: IceCandidate) -> Option<String> {
    let Some(api) = API.get() else {
        host_log!(
            Level::Err,
            "engage_media_proxy",
            "engage_media_proxy() needs the dialog module (loadmodule \"dialog.so\")"
        );
        return None;
    };
    let (Some(create), Some(get), Some(register)) =
        (api.0.create_dlg, api.0.get_dlg, api.0.register_dlgcb)
    else {
        return None;
    };
    // SAFETY: an initial INVITE in the request route; the dialog module's own API.
    if unsafe { create(msg, 0) } < 0 {
        host_log!(Level::Err, "engage_media_proxy", "cannot create the dialog");
        return None;
    }
    // SAFETY: returns the dialog just created for this message (or NULL).
    let dlg = unsafe { get() };
    if dlg.is_null() {
        host_log!(
            Level::Err,
            "engage_media_proxy",
            "no dialog for this INVITE"
        );
        return None;
    }
    let param = encode(ice) as *mut c_void;
    let regs: [(c_int, sys::mpx_dialog_cb); 3] = [
        (sys::MPX_DLGCB_REQ_WITHIN as c_int, Some(on_request)),
        (
            (sys::MPX_DLGCB_RESPONSE_FWDED | sys::MPX_DLGCB_RESPONSE_WITHIN) as c_int,
            Some(on_reply),
        ),
        (
            (sys::MPX_DLGCB_TERMINATED
                | sys::MPX_DLGCB_FAILED
                | sys::MPX_DLGCB_EXPIRED
                | sys::MPX_DLGCB_DESTROY) as c_int,
            Some(on_end),
        ),
    ];
    for (types, cb) in regs {
        // SAFETY: dlg is live; the param is a plain integer, nothing to free.
        if unsafe { register(dlg, types, cb, param, None) } != 0 {
            host_log!(
                Level::Err,
                "engage_media_proxy",
                "cannot register dialog callbacks"
            );
            return None;
        }
    }
    Some(did(dlg))
}

/// Ends a dialog by Call-ID (BYE to both sides), after the relay reported a media timeout.
pub fn terminate(call_id: &str, reason: &str) -> bool {
    let Some(f) = API.get().and_then(|a| a.0.terminate_dlg) else {
        return false;
    };
    let cid = str_ {
        s: call_id.as_ptr() as *mut _,
        len: call_id.len() as c_int,
    };
    let why = str_ {
        s: reason.as_ptr() as *mut _,
        len: reason.len() as c_int,
    };
    // SAFETY: both strs point to live bytes for the call; h_entry/h_id unused with a Call-ID.
    // The dialog module returns 1 when it ended the dialog, 0 when there is no such dialog and
    // -1 when ending it failed (terminate_dlg() in dlg_handlers.c, the same in 3.6 and 4.0).
    unsafe { f(&cid, 0, 0, &why) > 0 }
}
