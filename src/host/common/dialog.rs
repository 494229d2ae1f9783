//! What an engaged dialog's callbacks carry and do, for every host (`engage_media_proxy()`
//! itself is [`crate::script::engage()`]).
//!
//! No shared memory of our own is needed: each callback's registered parameter is a small
//! integer (the ICE choice made on the INVITE and an "active" bit), which the dialog module
//! keeps in its shared memory and lets callbacks change in place. The host layer registers the
//! callbacks with its dialog API and reads the dialog's ids; the decisions are here.

use std::ffi::{c_int, c_void};

use once_cell::sync::OnceCell;

use super::functions::media_proxy;
use super::host::Host;
use super::lifecycle::{config, is_attendant};
use super::log::guard;
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
/// as [`callbacks`] lists them) with the host's `register`; logs and returns false at
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

/// A dialog callback of host `H`, as its dialog module calls it.
pub type Callback<H> = unsafe extern "C" fn(
    dlg: *mut <H as Host>::Dialog,
    types: c_int,
    params: *mut <H as Host>::DialogParams,
);

/// The callbacks an engaged dialog registers, with their dialog event types.
pub fn callbacks<H: Host>() -> [(u32, Callback<H>); 3] {
    [
        (H::DIALOG_REQUESTS, on_request::<H>),
        (H::DIALOG_REPLIES, on_reply::<H>),
        (H::DIALOG_ENDS, on_end::<H>),
    ]
}

/// An in-dialog request: its SDP rewritten with the dialog's id and ICE choice; then the
/// host's own part.
unsafe extern "C" fn on_request<H: Host>(
    dlg: *mut H::Dialog,
    _types: c_int,
    p: *mut H::DialogParams,
) {
    guard(&H::LOG, "dialog request", (), || {
        // SAFETY: the dialog module passes valid params for this callback, with the request
        // it runs for and the pointer to the registered value.
        unsafe {
            let msg = H::dialog_request(p);
            let param = H::dialog_param(p);
            in_dialog(H::msg(msg), param, || H::dialog_id(dlg));
            H::after_dialog_request(dlg, msg, param);
        }
    })
}

/// A reply within the dialog (or to its INVITE): its SDP rewritten.
unsafe extern "C" fn on_reply<H: Host>(
    dlg: *mut H::Dialog,
    _types: c_int,
    p: *mut H::DialogParams,
) {
    guard(&H::LOG, "dialog reply", (), || {
        // SAFETY: as in on_request, with the reply.
        unsafe {
            in_dialog(H::msg(H::dialog_reply(p)), H::dialog_param(p), || {
                H::dialog_id(dlg)
            })
        }
    })
}

/// The dialog ended (terminated, failed, expired, destroyed): the media session removed once.
unsafe extern "C" fn on_end<H: Host>(dlg: *mut H::Dialog, _types: c_int, p: *mut H::DialogParams) {
    guard(&H::LOG, "dialog end", (), || {
        // SAFETY: the param points to the registered value, which we may change in place.
        unsafe { end_once(H::dialog_param(p), &H::LOG, || H::dialog_ids(dlg)) }
    })
}

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
