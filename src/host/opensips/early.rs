//! Replies in an *early* dialog, followed with tm: OpenSIPS's dialog module hands over a
//! request inside an early dialog but not its replies (see [`after_request`]).

use std::ffi::{c_int, c_void};

use super::log::{guard, Level};
use super::msg::SipMsg;
use super::sys::{self, mpx_dlg_cell_head, sip_msg};
use crate::host::common::dialog::{in_dialog, DialogApi};

static TM: DialogApi<sys::tm_binds> = DialogApi::new();

/// Binds tm's API (from `mod_init`); without tm, early replies are not followed.
pub fn init() {
    // SAFETY: fills `b` through tm's own load_tm(), when it is loaded.
    TM.bind(|b| unsafe { sys::mpx_load_tm_api(b) } == 0 && b.register_tmcb.is_some());
}

/// A request inside an *early* dialog (PRACK, UPDATE, INFO before the 200 to the INVITE):
/// the dialog module hands the request over but never its replies (it registers for those
/// only once the dialog is confirmed), so a 200 with the answer to an early UPDATE's offer
/// would go out unrewritten. The replies of such a request's transaction are caught here
/// with tm, with the dialog's ICE choice.
///
/// # Safety
/// `dlg` is the live dialog, `msg` the request of this callback, `param` the dialog module's
/// pointer to the callback's registered value.
pub unsafe fn after_request(dlg: *mut sys::dlg_cell, msg: *mut sip_msg, param: *mut *mut c_void) {
    let head = dlg as *const mpx_dlg_cell_head;
    // SAFETY: state is at an offset checked in mpx_types.h for 3.6 and 4.0.
    let early = !dlg.is_null() && unsafe { (*head).state } <= sys::MPX_DLG_STATE_EARLY;
    if !early || msg.is_null() || param.is_null() {
        return;
    }
    let Some(register) = TM.get().and_then(|t| t.register_tmcb) else {
        return;
    };
    // SAFETY: per the function contract.
    let value = unsafe { *param };
    // The transaction is not created yet (the script relays it later): tm keeps the callback
    // for this message's transaction. The value is a plain integer: nothing to free.
    // SAFETY: msg is the request being routed; the callback is a plain function.
    let r = unsafe {
        register(
            msg,
            std::ptr::null_mut(),
            sys::MPX_TMCB_RESPONSE_FWDED as c_int,
            Some(on_early_reply),
            value,
            None,
        )
    };
    if r < 0 {
        host_log!(
            Level::Err,
            "dialog request",
            "cannot follow the replies of a request in an early dialog"
        );
    }
}

/// A reply to a request of an early dialog, forwarded by tm: rewritten like any reply of an
/// engaged dialog (the relay already knows the dialog's id).
unsafe extern "C" fn on_early_reply(_t: *mut c_void, _type: c_int, p: *mut sys::tmcb_params) {
    guard("early dialog reply", (), || {
        if p.is_null() {
            return;
        }
        // SAFETY: tm passes valid params with the reply it forwards (or FAKED_REPLY) and the
        // pointer to our registered value.
        unsafe {
            let m = SipMsg::from_ptr((*p).rpl);
            in_dialog(m, (*p).param, String::new)
        }
    })
}
