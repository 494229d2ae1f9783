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

use super::log::{HostLog, Level};
use super::sys::{self, dlg_binds, mpx_dlg_cell_head, sip_msg, str_};
use crate::config::IceCandidate;
use crate::host::common::dialog::{encode, register_all, DialogApi};
use crate::host::common::msg::str_text;

static API: DialogApi<dlg_binds> = DialogApi::new();

/// Binds the dialog API (from `mod_init`). False when the dialog module is not loaded.
pub fn init() -> bool {
    API.bind(|b| {
        // SAFETY: fills `b` through the dialog module's own load_dlg(), when it is loaded.
        let loaded = unsafe { sys::mpx_load_dlg_api(b) } == 0;
        loaded && b.register_dlgcb.is_some() && b.get_dlg.is_some() && b.release_dlg.is_some()
    })
}

fn text(s: &str_) -> String {
    // SAFETY: a str of the dialog, alive during the callback.
    unsafe { str_text(s.s, s.len) }
}

fn head<'a>(dlg: *mut sys::dlg_cell) -> &'a mpx_dlg_cell_head {
    // SAFETY: dlg is a live dialog handed to us by the dialog module; the fields read are at
    // offsets checked in mpx_types.h against 5.6.3.
    unsafe { &*(dlg as *const mpx_dlg_cell_head) }
}

/// `h_entry:h_id`, as Kamailio's own mediaproxy module names a dialog to the relay.
pub fn did(dlg: *mut sys::dlg_cell) -> String {
    let h = head(dlg);
    format!("{}:{}", h.h_entry, h.h_id)
}

/// Call-ID, caller tag, callee tag.
pub fn ids(dlg: *mut sys::dlg_cell) -> (String, String, String) {
    let h = head(dlg);
    (text(&h.callid), text(&h.tag[0]), text(&h.tag[1]))
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

/// Makes the dialog module track an initial INVITE and registers `callbacks`. Returns the
/// dialog id.
pub fn engage(
    msg: *mut sip_msg,
    ice: IceCandidate,
    callbacks: &[(u32, sys::mpx_dialog_cb)],
) -> Option<String> {
    let api = API.engaging(&HostLog)?;
    let (Some(register), Some(release)) = (api.register_dlgcb, api.release_dlg) else {
        return None;
    };
    let Some(dlg) = dialog_of(api, msg) else {
        host_log!(
            Level::Err,
            "engage_media_proxy",
            "no dialog for this INVITE"
        );
        return None;
    };
    let param = encode(ice) as *mut std::ffi::c_void;
    // SAFETY: dlg is live and referenced; the param is a plain integer, nothing to free.
    let ok = register_all(&HostLog, callbacks, |types, cb| unsafe {
        register(dlg, types as c_int, cb, param, None) == 0
    });
    let id = did(dlg);
    // SAFETY: drops the reference get_dlg took.
    unsafe { release(dlg) };
    ok.then_some(id)
}

/// Ends a dialog (BYE to both sides) by the id given to the relay, after a media timeout.
/// `call_id` (the dialog's) names the hash slot held locked meanwhile, so that the reply to the
/// first BYE cannot end the dialog before the second is sent.
pub fn terminate(call_id: &str, dialog_id: &str) -> bool {
    let Some((e, i)) = dialog_id.split_once(':') else {
        return false;
    };
    let (Ok(h_entry), Ok(h_id)) = (e.parse::<u32>(), i.parse::<u32>()) else {
        return false;
    };
    let mut err = [0u8; 128];
    // SAFETY: runs the dialog module's RPC with a context of the shim's; call_id is read only
    // during the call (length given); err is writable.
    let rc = unsafe {
        sys::mpx_dlg_end(
            h_entry,
            h_id,
            call_id.as_ptr() as *const _,
            call_id.len() as c_int,
            err.as_mut_ptr() as *mut _,
            128,
        )
    };
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
