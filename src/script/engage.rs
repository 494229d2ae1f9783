//! `engage_media_proxy()`: on an initial INVITE, engage the dialog (the host's dialog module
//! then hands every in-dialog request and reply to `use_media_proxy`'s rewrite, and ends the
//! media session with the dialog) and relay the INVITE's media.

use super::use_::{check, relay, Scanned};
use super::{ice_choice, report, Ctx, Message, ScriptError};
use crate::config::{Config, IceCandidate};

const FN: &str = "engage_media_proxy";

/// A host's message that can engage its dialog.
pub trait Engage: Message {
    /// `engage_media_proxy()` already ran for this message.
    fn engaged(&self) -> bool;
    fn set_engaged(&mut self);
    /// Creates (or finds) the dialog of this initial INVITE and registers the callbacks with
    /// the ICE choice `ice`. Returns the dialog id the relay is told, or `None` after logging
    /// why.
    fn engage_dialog(&mut self, ice: IceCandidate) -> Option<String>;
}

/// `engage_media_proxy()`'s check: only an initial INVITE (no To tag) can engage.
pub fn can_engage(m: &dyn Message, cfg: &Config) -> bool {
    let r = initial_invite(m, cfg).map(|_| 1);
    report(m, FN, r) == 1
}

/// The scan of an initial INVITE, else why not.
fn initial_invite(m: &dyn Message, cfg: &Config) -> Result<Scanned, ScriptError> {
    if cfg.disable {
        return Err(ScriptError::Disabled);
    }
    Scanned::of_initial_invite(m, cfg)
}

/// `engage_media_proxy()`: on an initial INVITE, engage the dialog and relay its media. The
/// message is scanned once; its relay part reports as `use_media_proxy`.
pub fn engage(m: &mut dyn Engage, cfg: &Config) -> i32 {
    let mut scanned = match initial_invite(&*m, cfg) {
        Ok(s) => s,
        Err(e) => return report(&*m, FN, Err(e)),
    };
    if m.engaged() {
        return 1;
    }
    let ice = ice_choice(&*m, cfg);
    let Some(did) = m.engage_dialog(ice) else {
        return report(&*m, FN, Err(ScriptError::NoDialog));
    };
    m.set_engaged();
    scanned.req.dialog_id = did.clone();
    let ctx = Ctx {
        dialog_id: Some(did),
        ice: Some(ice),
    };
    let r = check(m, cfg).and_then(|()| relay(m, cfg, &ctx, scanned));
    match report(&*m, "use_media_proxy", r) {
        // an INVITE without SDP (late offer) is fine: the 200 OK and ACK carry it
        -2 => 1,
        rc => rc,
    }
}
