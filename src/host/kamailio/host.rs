//! Kamailio as a [`Host`]: what the shared callbacks need of it (message, dialog, logger), and
//! what its message does its own way ([`HostMessage`]: header parsing, AVPs, engaging the
//! dialog).

use std::ffi::c_void;

use super::log::HostLog;
use super::msg::SipMsg;
use super::sys::{self, dlg_cb_params, dlg_cell, sip_msg};
use super::{avp, dialog};
use crate::config::IceCandidate;
use crate::host::common::dialog::callbacks;
use crate::host::common::host::Host;
use crate::host::common::msg::HostMessage;
use crate::script::Avp;

/// Kamailio 5.6.
pub struct Kamailio;

impl Host for Kamailio {
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
    /// Kamailio hands the ACK that confirms the dialog over as its own event.
    const DIALOG_REQUESTS: u32 = sys::MPX_DLGCB_REQ_WITHIN | sys::MPX_DLGCB_CONFIRMED;
    const DIALOG_REPLIES: u32 = sys::MPX_DLGCB_RESPONSE_FWDED | sys::MPX_DLGCB_RESPONSE_WITHIN;
    const DIALOG_ENDS: u32 = sys::MPX_DLGCB_TERMINATED
        | sys::MPX_DLGCB_FAILED
        | sys::MPX_DLGCB_EXPIRED
        | sys::MPX_DLGCB_DESTROY;
    unsafe fn dialog_request(p: *mut dlg_cb_params) -> *mut sip_msg {
        // SAFETY: per the trait's contract, p is valid (the dialog module never passes NULL).
        unsafe { (*p).req }
    }
    unsafe fn dialog_reply(p: *mut dlg_cb_params) -> *mut sip_msg {
        // SAFETY: as above.
        unsafe { (*p).rpl }
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
    // Kamailio's dialog module hands over the replies of requests in early dialogs too: no
    // after_dialog_request.
    fn end_dialog(call_id: &str, dialog_id: &str) -> bool {
        dialog::terminate(call_id, dialog_id)
    }
}

impl HostMessage for SipMsg<'_> {
    /// Kamailio's SDP operations (sdpops) change the body with lumps too.
    fn foreign_sdp_changes(&self) -> bool {
        false
    }
    fn parse_all_headers(&mut self) -> bool {
        // SAFETY: the message is valid and not an shm clone (checked by callers before edits).
        unsafe { sys::mpx_parse_headers(self.as_ptr()) == 0 }
    }
    fn avp(&self, which: Avp) -> Option<String> {
        avp::get(self.read_ptr(), which)
    }
    fn engage_dialog(&mut self, ice: IceCandidate) -> Option<String> {
        let callbacks = callbacks::<Kamailio>().map(|(types, cb)| (types, Some(cb)));
        dialog::engage(self.as_ptr(), ice, &callbacks)
    }
}
