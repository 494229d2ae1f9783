//! `engage_media_proxy()` and what an engaged dialog's callbacks carry and do, for every host.
//!
//! No shared memory of our own is needed: each callback's registered parameter is a small
//! integer (the ICE choice made on the INVITE and an "active" bit), which the dialog module
//! keeps in its shared memory and lets callbacks change in place. The host layer registers the
//! callbacks with its dialog API and reads the dialog's ids; the decisions are here.

use std::ffi::c_void;

use super::lifecycle::{config, is_attendant};
use crate::config::{Config, IceCandidate};
use crate::script::{self, remove_session, Ctx, Logger, Message};

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
    remove_session(log, cfg, &call_id, &from_tag, &to_tag);
}

/// A host's message that can engage its dialog.
pub trait Engage: Message {
    /// `engage_media_proxy()` already ran for this message.
    fn engaged(&self) -> bool;
    fn set_engaged(&mut self);
    /// Creates (or finds) the dialog of this initial INVITE and registers the callbacks with
    /// [`encode`]`(ice)`. Returns the dialog id the relay is told, or `None` after logging why.
    fn engage_dialog(&mut self, ice: IceCandidate) -> Option<String>;
}

/// `engage_media_proxy()`: on an initial INVITE, engage the dialog and relay its media.
pub fn engage<M: Engage>(m: &mut M, cfg: &Config) -> i32 {
    if !script::can_engage(m, cfg) {
        return -1;
    }
    if m.engaged() {
        return 1;
    }
    let ice = script::ice_choice(m, cfg);
    let Some(did) = m.engage_dialog(ice) else {
        return -1;
    };
    m.set_engaged();
    let ctx = Ctx {
        dialog_id: Some(did),
        ice: Some(ice),
    };
    match script::use_media_proxy(m, cfg, &ctx) {
        // an INVITE without SDP (late offer) is fine: the 200 OK and ACK carry it
        -2 => 1,
        rc => rc,
    }
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
