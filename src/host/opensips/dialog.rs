//! `engage_media_proxy()` through the dialog module: the dialog hands every in-dialog request
//! and reply with SDP to the module, and the media session ends with the dialog.
//!
//! No shm is needed: each callback's registered parameter is a small integer (the ICE choice
//! and an "active" bit), which the dialog module stores in shared memory for us and lets
//! callbacks change in place.

use std::ffi::{c_int, c_void};

use super::log::{HostLog, Level};
use super::sys::{self, dlg_binds, mpx_dlg_cell_head, sip_msg, str_};
use crate::config::IceCandidate;
use crate::host::common::dialog::{encode, register_all, DialogApi};
use crate::host::common::msg::str_text;

static API: DialogApi<dlg_binds> = DialogApi::new();

/// Binds the dialog API (from `mod_init`). False when the dialog module is not loaded.
pub fn init() -> bool {
    // SAFETY: fills `b` through the dialog module's own load_dlg(), when it is loaded.
    API.bind(|b| unsafe { sys::mpx_load_dlg_api(b) } == 0 && b.register_dlgcb.is_some())
}

fn text(s: *const str_) -> String {
    if s.is_null() {
        return String::new();
    }
    // SAFETY: s points to a core `str` that stays valid for this callback.
    unsafe { str_text((*s).s, (*s).len) }
}

/// A core `str` of a live dialog, copied (`None` for NULL or a negative length).
fn bytes_of(s: *const str_) -> Option<Vec<u8>> {
    if s.is_null() {
        return None;
    }
    // SAFETY: s points to a core `str` of a live dialog, valid for this call.
    let (p, len) = unsafe { ((*s).s, (*s).len) };
    let len = u32::try_from(len).ok()?;
    // SAFETY: p is NULL or points to len bytes of that str.
    Some(unsafe { crate::host::common::msg::raw_bytes(p, len) }.to_vec())
}

pub fn did(dlg: *mut sys::dlg_cell) -> String {
    let Some(f) = API.get().and_then(|a| a.get_dlg_did) else {
        return String::new();
    };
    // SAFETY: dlg is a live dialog handed to us by the dialog module.
    text(unsafe { f(dlg) })
}

/// Call-ID, caller tag and callee tag of a dialog (callee: the leg that answered, else the
/// first callee leg; none before a callee leg exists).
pub fn ids(dlg: *mut sys::dlg_cell) -> (String, String, String) {
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
        text(tag)
    };
    let callee = match legs_no[2] {
        0 => 1,
        n => n as usize,
    };
    (text(callid), leg_tag(0), leg_tag(callee))
}

/// The SDP each party of the call `call_id` last sent (0: the caller, 1: the callee that
/// answered, else the first callee), as the dialog keeps it (the one awaiting a 200 OK first),
/// copied out. The dialog is this process's current one when it is that call's, else looked up
/// by Call-ID and released again (the rtp_relay module's own `get_sdp` keeps a reference to a
/// dialog it looks up so, which then lives until shutdown).
pub(super) fn call_sdps(call_id: &[u8]) -> [Option<Vec<u8>>; 2] {
    let Some(api) = API.get() else {
        return [None, None];
    };
    let same_call = |dlg: *mut sys::dlg_cell| {
        let head = dlg as *const mpx_dlg_cell_head;
        // SAFETY: a live dialog; callid at an offset checked in mpx_types.h.
        bytes_of(unsafe { &(*head).callid }).as_deref() == Some(call_id)
    };
    // SAFETY: the dialog module's own function; NULL outside a dialog's processing.
    let current = api.get_dlg.map_or(std::ptr::null_mut(), |f| unsafe { f() });
    if !current.is_null() && same_call(current) {
        return leg_sdps(current);
    }
    let (Some(by_callid), Some(unref)) = (api.get_dlg_by_callid, api.dlg_unref) else {
        return [None, None];
    };
    let Ok(len) = c_int::try_from(call_id.len()) else {
        return [None, None];
    };
    let key = str_ {
        s: call_id.as_ptr() as *mut _,
        len,
    };
    // SAFETY: the dialog module's lookup; it returns the dialog with one more reference.
    let dlg = unsafe { by_callid(&key, 0) };
    if dlg.is_null() {
        return [None, None];
    }
    let sdps = leg_sdps(dlg);
    // SAFETY: gives back the reference the lookup took.
    unsafe { unref(dlg, 1) };
    sdps
}

/// The caller's and the callee's SDP of a live dialog, copied out.
fn leg_sdps(dlg: *mut sys::dlg_cell) -> [Option<Vec<u8>>; 2] {
    let head = dlg as *const mpx_dlg_cell_head;
    // SAFETY: the fields read are at offsets checked in mpx_types.h for 3.6 and 4.0.
    let (legs, legs_no) = unsafe { ((*head).legs, (*head).legs_no) };
    let sdp = |i: usize| -> Option<Vec<u8>> {
        if legs.is_null() || i >= legs_no[0] as usize {
            return None;
        }
        let leg = legs as *const u8;
        let at = |off: u32| {
            // SAFETY: i < legs used; each struct dlg_leg is MPX_DLG_LEG_SIZE bytes with the
            // str at `off` (checked against the 3.6.8 and 4.0.1 sources).
            let p = unsafe { leg.add(i * sys::MPX_DLG_LEG_SIZE as usize + off as usize) };
            bytes_of(p as *const str_).filter(|b| !b.is_empty())
        };
        at(sys::MPX_DLG_LEG_TMP_IN_SDP_OFFSET).or_else(|| at(sys::MPX_DLG_LEG_IN_SDP_OFFSET))
    };
    let callee = match legs_no[2] {
        0 => 1,
        n => n as usize,
    };
    [sdp(0), sdp(callee)]
}

/// Creates the dialog for an initial INVITE and registers `callbacks`. Returns the dialog id.
pub fn engage(
    msg: *mut sip_msg,
    ice: IceCandidate,
    callbacks: &[(u32, sys::mpx_dialog_cb)],
) -> Option<String> {
    let api = API.engaging(&HostLog)?;
    let (Some(create), Some(get), Some(register)) =
        (api.create_dlg, api.get_dlg, api.register_dlgcb)
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
    // SAFETY: dlg is live; the param is a plain integer, nothing to free.
    let ok = register_all(&HostLog, callbacks, |types, cb| unsafe {
        register(dlg, types as c_int, cb, param, None) == 0
    });
    if !ok {
        return None;
    }
    Some(did(dlg))
}

/// Ends a dialog by Call-ID (BYE to both sides), after the relay reported a media timeout.
pub fn terminate(call_id: &str, reason: &str) -> bool {
    let Some(f) = API.get().and_then(|a| a.terminate_dlg) else {
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
