//! `end_media_session()`: ends the session of a message's dialog, from either side.

use super::control::remove;
use super::{report, text, Message, ScriptError};
use crate::config::Config;
use crate::sip::{self, Kind, Method};

const FN: &str = "end_media_session";

/// `end_media_session()`: 1 when the relay removed the session, -1 otherwise.
pub fn end_media_session(m: &dyn Message, cfg: &Config) -> i32 {
    let r = end(m, cfg);
    report(m, FN, r)
}

fn end(m: &dyn Message, cfg: &Config) -> Result<i32, ScriptError> {
    if cfg.disable {
        return Err(ScriptError::Disabled);
    }
    let sip = sip::SipMsg::scan(m.buf()).map_err(ScriptError::Malformed)?;
    let call_id = sip.call_id().ok_or(ScriptError::NoCallId)?;
    let reason = match sip.method() {
        Some(Method::Bye) => "bye",
        Some(Method::Cancel) => "cancel",
        _ if matches!(sip.kind(), Kind::Reply { .. }) => "failure",
        _ => "end_media_session",
    };
    remove(
        m,
        cfg,
        &text(Some(call_id)),
        &text(sip.from_tag()),
        &text(sip.to_tag()),
        reason,
    )
}
