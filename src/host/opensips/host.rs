//! OpenSIPS as a [`Host`]: what the shared callbacks need of it (message, dialog, logger), and
//! what its message does its own way ([`HostMessage`]: the SDP-operations check, header
//! parsing, AVPs, engaging the dialog).

use std::ffi::c_void;

use super::log::HostLog;
use super::msg::SipMsg;
use super::sys::{self, dlg_cb_params, dlg_cell, sip_msg};
use super::{avp, dialog, early};
use crate::config::IceCandidate;
use crate::host::common::dialog::callbacks;
use crate::host::common::host::Host;
use crate::host::common::msg::HostMessage;
use crate::script::Avp;

/// OpenSIPS 4.0 / 3.6.
pub struct OpenSips;

impl Host for OpenSips {
    type Log = HostLog;
    const LOG: HostLog = HostLog;

    type RawMsg = sip_msg;
    type Msg<'m> = SipMsg<'m>;
    unsafe fn msg<'m>(p: *mut sip_msg) -> Option<SipMsg<'m>> {
        // SAFETY: per the trait's contract.
        unsafe { SipMsg::from_ptr(p) }
    }

    type Dialog = dlg_cell;
    type DialogParams = dlg_cb_params;
    const DIALOG_REQUESTS: u32 = sys::MPX_DLGCB_REQ_WITHIN;
    const DIALOG_REPLIES: u32 = sys::MPX_DLGCB_RESPONSE_FWDED | sys::MPX_DLGCB_RESPONSE_WITHIN;
    const DIALOG_ENDS: u32 = sys::MPX_DLGCB_TERMINATED
        | sys::MPX_DLGCB_FAILED
        | sys::MPX_DLGCB_EXPIRED
        | sys::MPX_DLGCB_DESTROY;
    unsafe fn dialog_request(p: *mut dlg_cb_params) -> *mut sip_msg {
        // SAFETY: per the trait's contract, p is valid (the dialog module never passes NULL).
        unsafe { (*p).msg }
    }
    unsafe fn dialog_reply(p: *mut dlg_cb_params) -> *mut sip_msg {
        // SAFETY: as above; OpenSIPS passes the reply in the same field.
        unsafe { (*p).msg }
    }
    unsafe fn dialog_param(p: *mut dlg_cb_params) -> *mut *mut c_void {
        // SAFETY: as above.
        unsafe { (*p).param }
    }
    fn dialog_id(dlg: *mut dlg_cell) -> String {
        dialog::did(dlg)
    }
    fn dialog_ids(dlg: *mut dlg_cell) -> (String, String, String) {
        dialog::ids(dlg)
    }
    unsafe fn after_dialog_request(dlg: *mut dlg_cell, msg: *mut sip_msg, param: *mut *mut c_void) {
        // SAFETY: per the trait's contract.
        unsafe { early::after_request(dlg, msg, param) }
    }
    fn end_dialog(call_id: &str, _dialog_id: &str) -> bool {
        dialog::terminate(call_id, "Media Timeout")
    }
}

impl HostMessage for SipMsg<'_> {
    /// The script changed the SDP with the core's SDP operations: body lumps would be ignored.
    fn foreign_sdp_changes(&self) -> bool {
        self.sdp_ops_set()
    }
    fn parse_all_headers(&mut self) -> bool {
        // SAFETY: the message is valid and not an shm clone (checked by callers before edits).
        unsafe { sys::mpx_parse_headers(self.as_ptr(), u64::MAX) == 0 }
    }
    fn avp(&self, which: Avp) -> Option<String> {
        avp::get(self.read_ptr(), which)
    }
    fn engage_dialog(&mut self, ice: IceCandidate) -> Option<String> {
        let callbacks = callbacks::<OpenSips>().map(|(types, cb)| (types, Some(cb)));
        dialog::engage(self.as_ptr(), ice, &callbacks)
    }
}
