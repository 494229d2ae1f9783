//! `engage_media_proxy()` through Kamailio's dialog module: the dialog hands every in-dialog
//! request (and the ACK that confirms it) and every reply with SDP to the module, and the
//! media session ends with the dialog. What the callbacks decide is shared
//! ([`crate::host::common::dialog`]); here is Kamailio's API around it.
//!
//! The dialog API (`load_dlg`) cannot create a dialog, so an initial INVITE is handed to the
//! module's own `dlg_manage()` (found with `find_export`), unless the script already made it
//! tracked (`dlg_manage()`, `dlg_flag`). The dialog id given to the relay is `h_entry:h_id`,
//! and a media timeout ends the dialog through the module's `dlg.end_dlg` RPC, which takes
//! exactly those ids (the API has no lookup by Call-ID).

use std::ffi::c_int;

use once_cell::sync::OnceCell;

use super::functions::media_proxy;
use super::log::{guard, HostLog, Level};
use super::msg::FAKED_REPLY;
use super::sys::{self, dlg_binds, dlg_cb_params, mpx_dlg_cell_head, sip_msg, str_};
use crate::config::IceCandidate;
use crate::host::common::dialog::{ctx, encode, end_once, rewrites_reply};

struct Api(dlg_binds);
// SAFETY: a table of function pointers filled by the dialog module in the main process;
// read-only afterwards.
unsafe impl Send for Api {}
// SAFETY: as above.
unsafe impl Sync for Api {}

static API: OnceCell<Api> = OnceCell::new();

/// Binds the dialog API (from `mod_init`). False when the dialog module is not loaded.
pub fn init() -> bool {
    let mut b = dlg_binds::default();
    // SAFETY: fills `b` through the dialog module's own load_dlg(), when it is loaded.
    if unsafe { sys::mpx_load_dlg_api(&mut b) } != 0
        || b.register_dlgcb.is_none()
        || b.get_dlg.is_none()
        || b.release_dlg.is_none()
    {
        return false;
    }
    let _ = API.set(Api(b));
    true
}

fn str_text(s: &str_) -> String {
    if s.s.is_null() || s.len <= 0 {
        return String::new();
    }
    // SAFETY: s.s points to s.len bytes of the dialog, alive during the callback.
    let b = unsafe { std::slice::from_raw_parts(s.s as *const u8, s.len as usize) };
    String::from_utf8_lossy(b).into_owned()
}

fn head<'a>(dlg: *mut sys::dlg_cell) -> &'a mpx_dlg_cell_head {
    // SAFETY: dlg is a live dialog handed to us by the dialog module; the fields read are at
    // offsets checked in mpx_types.h against 5.6.3.
    unsafe { &*(dlg as *const mpx_dlg_cell_head) }
}

/// `h_entry:h_id`, as Kamailio's own mediaproxy module names a dialog to the relay.
fn did(dlg: *mut sys::dlg_cell) -> String {
    let h = head(dlg);
    format!("{}:{}", h.h_entry, h.h_id)
}

/// Call-ID, caller tag, callee tag.
fn ids(dlg: *mut sys::dlg_cell) -> (String, String, String) {
    let h = head(dlg);
    (
        str_text(&h.callid),
        str_text(&h.tag[0]),
        str_text(&h.tag[1]),
    )
}

unsafe extern "C" fn on_request(dlg: *mut sys::dlg_cell, _t: c_int, p: *mut dlg_cb_params) {
    guard("dialog request", (), || {
        // SAFETY: the dialog module passes valid params for this callback.
        let (msg, param) = unsafe { ((*p).req, *(*p).param as usize) };
        if msg.is_null() || msg as usize == FAKED_REPLY {
            return;
        }
        media_proxy(msg, &ctx(did(dlg), param));
    })
}

unsafe extern "C" fn on_reply(dlg: *mut sys::dlg_cell, _t: c_int, p: *mut dlg_cb_params) {
    guard("dialog reply", (), || {
        // SAFETY: as above.
        let (msg, param) = unsafe { ((*p).rpl, *(*p).param as usize) };
        if msg.is_null() || msg as usize == FAKED_REPLY {
            return;
        }
        // SAFETY: a reply message the dialog module forwards.
        let status = unsafe { (*msg).first_line.u.reply.statuscode };
        if rewrites_reply(status) {
            media_proxy(msg, &ctx(did(dlg), param));
        }
    })
}

unsafe extern "C" fn on_end(dlg: *mut sys::dlg_cell, _t: c_int, p: *mut dlg_cb_params) {
    guard("dialog end", (), || {
        // SAFETY: param points to the registered value, which we may change in place.
        unsafe { end_once((*p).param, &HostLog, || ids(dlg)) };
    })
}

/// The dialog of an initial INVITE, created by the dialog module when the script has not
/// made it tracked already; referenced (release it with `release_dlg`).
fn dialog_of(api: &dlg_binds, msg: *mut sip_msg) -> Option<*mut sys::dlg_cell> {
    let get = api.get_dlg?;
    // SAFETY: msg is the INVITE in the request route; the dialog module's own API.
    let dlg = unsafe { get(msg) };
    if !dlg.is_null() {
        return Some(dlg);
    }
    // SAFETY: as above; dlg_manage() creates the dialog (before the transaction exists).
    if unsafe { sys::mpx_dlg_manage(msg) } < 0 {
        host_log!(
            Level::Err,
            "engage_media_proxy",
            "the dialog module cannot track this INVITE (dlg_manage failed)"
        );
        return None;
    }
    // SAFETY: as above.
    let dlg = unsafe { get(msg) };
    (!dlg.is_null()).then_some(dlg)
}

/// Makes the dialog module track an initial INVITE and registers the callbacks. Returns the
/// dialog id.
pub fn engage(msg: *mut sip_msg, ice: IceCandidate) -> Option<String> {
    let Some(api) = API.get() else {
        host_log!(
            Level::Err,
            "engage_media_proxy",
            "engage_media_proxy() needs the dialog module (loadmodule \"dialog.so\")"
        );
        return None;
    };
    let (Some(register), Some(release)) = (api.0.register_dlgcb, api.0.release_dlg) else {
        return None;
    };
    let Some(dlg) = dialog_of(&api.0, msg) else {
        host_log!(
            Level::Err,
            "engage_media_proxy",
            "no dialog for this INVITE"
        );
        return None;
    };
    let param = encode(ice) as *mut std::ffi::c_void;
    let regs: [(u32, sys::mpx_dialog_cb); 3] = [
        (
            sys::MPX_DLGCB_REQ_WITHIN | sys::MPX_DLGCB_CONFIRMED,
            Some(on_request),
        ),
        (
            sys::MPX_DLGCB_RESPONSE_FWDED | sys::MPX_DLGCB_RESPONSE_WITHIN,
            Some(on_reply),
        ),
        (
            sys::MPX_DLGCB_TERMINATED
                | sys::MPX_DLGCB_FAILED
                | sys::MPX_DLGCB_EXPIRED
                | sys::MPX_DLGCB_DESTROY,
            Some(on_end),
        ),
    ];
    let mut ok = true;
    for (types, cb) in regs {
        // SAFETY: dlg is live and referenced; the param is a plain integer, nothing to free.
        if unsafe { register(dlg, types as c_int, cb, param, None) } != 0 {
            host_log!(
                Level::Err,
                "engage_media_proxy",
                "cannot register dialog callbacks"
            );
            ok = false;
            break;
        }
    }
    let id = did(dlg);
    // SAFETY: drops the reference get_dlg took.
    unsafe { release(dlg) };
    ok.then_some(id)
}

/// Ends a dialog (BYE to both sides) by the id given to the relay, after a media timeout.
pub fn terminate(dialog_id: &str) -> bool {
    let Some((e, i)) = dialog_id.split_once(':') else {
        return false;
    };
    let (Ok(h_entry), Ok(h_id)) = (e.parse::<u32>(), i.parse::<u32>()) else {
        return false;
    };
    let mut err = [0u8; 128];
    // SAFETY: runs the dialog module's RPC with a context of the shim's; err is writable.
    let rc = unsafe { sys::mpx_dlg_end(h_entry, h_id, err.as_mut_ptr() as *mut _, 128) };
    if rc != 0 {
        let text = std::ffi::CStr::from_bytes_until_nul(&err)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default();
        host_log!(
            Level::Warn,
            "relay",
            "dialog {dialog_id}: dlg.end_dlg failed ({rc} {text})"
        );
    }
    rc == 0
}
