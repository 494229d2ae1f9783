//! What an engaged dialog's callbacks carry and do, for every host (`engage_media_proxy()`
//! itself is [`crate::script::engage`]).
//!
//! No shared memory of our own is needed: each callback's registered parameter is a small
//! integer (the ICE choice made on the INVITE and an "active" bit), which the dialog module
//! keeps in its shared memory and lets callbacks change in place. The host layer registers the
//! callbacks with its dialog API and reads the dialog's ids; the decisions are here.

use std::ffi::c_void;

use once_cell::sync::OnceCell;

use super::functions::media_proxy;
use super::lifecycle::{config, is_attendant};
use super::msg::HostMessage;
use super::HostStatic;
use crate::config::IceCandidate;
use crate::script::{self, remove_session, Ctx, Logger};

/// A host's dialog API: the table of functions its dialog module fills in the attendant
/// (`mod_init`), read-only afterwards.
/// Filled once in the attendant before any fork, only read afterwards ([`HostStatic`]'s rule).
pub struct DialogApi<T>(OnceCell<HostStatic<T>>);

impl<T: Default> Default for DialogApi<T> {
    fn default() -> Self {
        DialogApi::new()
    }
}

impl<T: Default> DialogApi<T> {
    pub const fn new() -> DialogApi<T> {
        DialogApi(OnceCell::new())
    }

    /// Fills the table with the host's loader; false (and unbound) when the loader fails,
    /// e.g. because the dialog module is not loaded.
    pub fn bind(&self, load: impl FnOnce(&mut T) -> bool) -> bool {
        let mut t = T::default();
        if !load(&mut t) {
            return false;
        }
        let _ = self.0.set(HostStatic(t));
        true
    }

    pub fn get(&self) -> Option<&T> {
        self.0.get().map(|t| &t.0)
    }

    /// The table for `engage_media_proxy()`, or `None` after logging that it needs the
    /// dialog module.
    pub fn engaging(&self, log: &dyn Logger) -> Option<&T> {
        let api = self.get();
        if api.is_none() {
            log.log(
                script::Level::Err,
                "engage_media_proxy",
                format_args!(
                    "engage_media_proxy() needs the dialog module (loadmodule \"dialog.so\")"
                ),
            );
        }
        api
    }
}

/// Registers an engaged dialog's callbacks (`callbacks`: the event types and the callback,
/// as `dialog_callbacks!` lists them) with the host's `register`; logs and returns false at
/// the first refusal.
pub fn register_all<C: Copy>(
    log: &dyn Logger,
    callbacks: &[(u32, C)],
    mut register: impl FnMut(u32, C) -> bool,
) -> bool {
    let ok = callbacks.iter().all(|&(types, cb)| register(types, cb));
    if !ok {
        log.log(
            script::Level::Err,
            "engage_media_proxy",
            format_args!("cannot register dialog callbacks"),
        );
    }
    ok
}

/// Set while the media session of the dialog has not been removed yet.
const ACTIVE: usize = 0x10;

/// The parameter registered with every callback of a dialog engaged with `ice`.
pub fn encode(ice: IceCandidate) -> usize {
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

/// The context for an in-dialog request or reply of dialog `dialog_id`, from the registered
/// parameter's current value.
pub fn ctx(dialog_id: String, param: usize) -> Ctx {
    Ctx {
        dialog_id: Some(dialog_id),
        ice: Some(decode(param)),
    }
}

/// The replies whose SDP an engaged dialog rewrites: provisional ones after 100, and 2xx.
pub fn rewrites_reply(status: u32) -> bool {
    (101..300).contains(&status)
}

/// The end-of-dialog callback (terminated, failed, expired or destroyed; it may run several
/// times): removes the media session once, with the ids `ids()` reads from the dialog
/// (Call-ID, caller tag, callee tag). Nothing in the attendant, where the dialog module
/// destroys its dialogs at shutdown after the relay is gone.
///
/// # Safety
/// `slot` is NULL or the dialog module's pointer to this callback's registered parameter,
/// valid for the callback.
pub unsafe fn end_once(
    slot: *mut *mut c_void,
    log: &dyn Logger,
    ids: impl FnOnce() -> (String, String, String),
) {
    if slot.is_null() {
        return;
    }
    // SAFETY: per the function contract.
    let v = unsafe { *slot } as usize;
    if v & ACTIVE == 0 {
        return;
    }
    // SAFETY: as above: mark the session removed before asking, so it is asked once.
    unsafe { *slot = (v & !ACTIVE) as *mut c_void };
    if is_attendant() {
        return;
    }
    let Some(cfg) = config() else { return };
    let (call_id, from_tag, to_tag) = ids();
    remove_session(log, cfg, &call_id, &from_tag, &to_tag, "dialog ended");
}

/// An engaged dialog's in-dialog request or reply (`m`; `None` for NULL or `FAKED_REPLY`):
/// rewrites its SDP with the dialog's id and ICE choice. Replies other than 101-299 pass.
///
/// # Safety
/// `param` is the dialog module's pointer to this callback's registered parameter.
pub unsafe fn in_dialog<M: HostMessage>(
    m: Option<M>,
    param: *mut *mut c_void,
    dialog_id: impl FnOnce() -> String,
) {
    let Some(m) = m else { return };
    if m.reply_status().is_some_and(|s| !rewrites_reply(s)) || param.is_null() {
        return;
    }
    // SAFETY: per the function contract.
    let param = unsafe { *param } as usize;
    media_proxy(Some(m), &ctx(dialog_id(), param));
}

/// Writes the three callbacks an engaged dialog registers, `on_request`, `on_reply` and
/// `on_end`, and `CALLBACKS`, the list to register (with the dialog event types: `$types` for
/// requests, the `MPX_DLGCB_*` of `$sys` for replies and ends), for a host layer: its
/// bindings (`$sys`, with `dlg_cell`, `dlg_cb_params`, `mpx_dialog_cb`), its guard and logger,
/// how its callback parameters give the request and the reply, its functions reading a
/// dialog's id (`did`) and ids (`ids`: Call-ID, caller tag, callee tag), and what the host
/// does after an in-dialog request (`after_request(dlg, msg, param)`: e.g. catch the replies
/// its dialog module does not hand over).
macro_rules! dialog_callbacks {
    (
        $sys:ident, $guard:path, $log:expr,
        request: $types:expr, |$pq:ident| $req:expr,
        reply: |$pr:ident| $rpl:expr,
        did: $did:path, ids: $ids:path,
        after_request: $after:path $(,)?
    ) => {
        /// The callbacks to register and their dialog event types.
        const CALLBACKS: [(u32, $sys::mpx_dialog_cb); 3] = [
            ($types, Some(on_request)),
            (
                $sys::MPX_DLGCB_RESPONSE_FWDED | $sys::MPX_DLGCB_RESPONSE_WITHIN,
                Some(on_reply),
            ),
            (
                $sys::MPX_DLGCB_TERMINATED
                    | $sys::MPX_DLGCB_FAILED
                    | $sys::MPX_DLGCB_EXPIRED
                    | $sys::MPX_DLGCB_DESTROY,
                Some(on_end),
            ),
        ];

        unsafe extern "C" fn on_request(
            dlg: *mut $sys::dlg_cell,
            _t: std::ffi::c_int,
            $pq: *mut $sys::dlg_cb_params,
        ) {
            $guard("dialog request", (), || {
                // SAFETY: the dialog module passes valid params for this callback, with the
                // request it runs for.
                unsafe {
                    let msg = $req;
                    let m = SipMsg::from_ptr(msg);
                    $crate::host::common::dialog::in_dialog(m, (*$pq).param, || $did(dlg));
                    $after(dlg, msg, (*$pq).param);
                }
            })
        }
        $crate::host::common::dialog::dialog_callbacks!(@message on_reply, "dialog reply",
            $sys, $guard, $did, |$pr| $rpl);

        unsafe extern "C" fn on_end(
            dlg: *mut $sys::dlg_cell,
            _t: std::ffi::c_int,
            p: *mut $sys::dlg_cb_params,
        ) {
            $guard("dialog end", (), || {
                // SAFETY: param points to the registered value, which we may change in place.
                unsafe { $crate::host::common::dialog::end_once((*p).param, $log, || $ids(dlg)) }
            })
        }
    };
    (@message $name:ident, $what:literal, $sys:ident, $guard:path, $did:path,
        |$p:ident| $msg:expr) => {
        unsafe extern "C" fn $name(
            dlg: *mut $sys::dlg_cell,
            _t: std::ffi::c_int,
            $p: *mut $sys::dlg_cb_params,
        ) {
            $guard($what, (), || {
                // SAFETY: the dialog module passes valid params for this callback, with the
                // message it runs for.
                unsafe {
                    let m = SipMsg::from_ptr($msg);
                    $crate::host::common::dialog::in_dialog(m, (*$p).param, || $did(dlg))
                }
            })
        }
    };
}
pub(crate) use dialog_callbacks;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameter_round_trips_and_ends_once() {
        for ice in [
            IceCandidate::None,
            IceCandidate::LowPriority,
            IceCandidate::HighPriority,
        ] {
            assert_eq!(ctx(String::new(), encode(ice)).ice, Some(ice));
        }
        let mut slot = encode(IceCandidate::LowPriority) as *mut c_void;
        let mut asked = 0;
        struct Quiet;
        impl Logger for Quiet {
            fn log(&self, _: script::Level, _: &str, _: std::fmt::Arguments<'_>) {}
        }
        for _ in 0..3 {
            // SAFETY: a local slot; no config is installed, so nothing is sent
            unsafe {
                end_once(&mut slot, &Quiet, || {
                    asked += 1;
                    Default::default()
                })
            };
        }
        assert_eq!(slot as usize & ACTIVE, 0);
        assert_eq!(decode(slot as usize), IceCandidate::LowPriority);
        assert_eq!(asked, 0, "no config installed: nothing to ask");
        assert!(rewrites_reply(183) && rewrites_reply(200) && !rewrites_reply(100));
    }
}
