//! What differs per host, as one trait: [`Host`]. Each host layer implements it once (in its
//! `host.rs`) with its own types (message, dialog, callback parameters), its logger, and the
//! few calls that read them; the `extern "C"` callbacks are written once here and in the
//! rooms beside, generic over the host (as ngx-rust's `HttpModule` does for nginx), and each
//! host registers `callback::<ItsHost>`.
//!
//! What is *not* here: the `exports` tables (their C types and layouts differ per host, so
//! each host writes its own rows from the shared lists), the message's field access
//! (`sip_msg_view!`: the same field names over two sets of generated bindings), and what is
//! only one host's (OpenSIPS's tm early replies and rtp_relay engine, Kamailio's RPC).

use std::ffi::c_void;

use super::log::HostLogger;
use super::msg::HostMessage;

/// A host: the types and calls the shared callbacks need.
pub trait Host: 'static {
    /// The host's logger.
    type Log: HostLogger;
    const LOG: Self::Log;

    /// The core's `struct sip_msg`.
    type RawMsg;
    /// The safe view of it.
    type Msg<'m>: HostMessage;
    /// The view of `p`; `None` for NULL and `FAKED_REPLY`.
    ///
    /// # Safety
    /// `p` is NULL, `FAKED_REPLY`, or the message the core runs the current route or callback
    /// for, valid and not used elsewhere for `'m`.
    unsafe fn msg<'m>(p: *mut Self::RawMsg) -> Option<Self::Msg<'m>>;

    /// The dialog module's `struct dlg_cell`.
    type Dialog;
    /// The dialog module's `struct dlg_cb_params`.
    type DialogParams;
    /// The dialog event types of in-dialog requests, replies, and ends.
    const DIALOG_REQUESTS: u32;
    const DIALOG_REPLIES: u32;
    const DIALOG_ENDS: u32;
    /// The request of an in-dialog request callback.
    ///
    /// # Safety
    /// `p` is the dialog module's parameter of the current callback.
    unsafe fn dialog_request(p: *mut Self::DialogParams) -> *mut Self::RawMsg;
    /// The reply of a reply callback.
    ///
    /// # Safety
    /// As [`Host::dialog_request`].
    unsafe fn dialog_reply(p: *mut Self::DialogParams) -> *mut Self::RawMsg;
    /// The pointer to the callback's registered value (which the callback may change).
    ///
    /// # Safety
    /// As [`Host::dialog_request`].
    unsafe fn dialog_param(p: *mut Self::DialogParams) -> *mut *mut c_void;
    /// The dialog id told to the relay.
    fn dialog_id(dlg: *mut Self::Dialog) -> String;
    /// Call-ID, caller tag, callee tag.
    fn dialog_ids(dlg: *mut Self::Dialog) -> (String, String, String);
    /// What the host does after an in-dialog request (e.g. follow the replies its dialog module
    /// does not hand over).
    ///
    /// # Safety
    /// `dlg` is the live dialog, `msg` the request of this callback, `param` the pointer to the
    /// callback's registered value.
    unsafe fn after_dialog_request(
        _dlg: *mut Self::Dialog,
        _msg: *mut Self::RawMsg,
        _param: *mut *mut c_void,
    ) {
    }
    /// Ends a dialog (BYE to both sides) after its media timed out; true when it was ended.
    fn end_dialog(call_id: &str, dialog_id: &str) -> bool;
}
