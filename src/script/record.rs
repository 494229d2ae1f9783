//! `start_recording()` / `stop_recording()`: record the media of a message's call to a pcap
//! file in the relay's `recording_dir` (every stream, both parties, RTP and RTCP), or stop.
//! They send the `record` command (`control/record.rs`), which only this project's relay
//! understands: with `relay_mode=external` they fail with a line saying so, and send nothing.
//! Either party's message names the session (the relay looks it up by both tags).

use super::control::record;
use super::{report, text, Message, ScriptError};
use crate::config::{Config, RelayMode};
use crate::control::record::RecordRequest;
use crate::sip;

/// `start_recording()`: 1 when the relay records the call (or already did), -1 otherwise
/// (no session, recording off, `relay_mode=external`, relay error).
pub fn start_recording(m: &dyn Message, cfg: &Config) -> i32 {
    report(m, "start_recording", run(m, cfg, true))
}

/// `stop_recording()`: 1 when the relay stopped recording the call (or was not recording it),
/// -1 otherwise.
pub fn stop_recording(m: &dyn Message, cfg: &Config) -> i32 {
    report(m, "stop_recording", run(m, cfg, false))
}

fn run(m: &dyn Message, cfg: &Config, start: bool) -> Result<i32, ScriptError> {
    if cfg.disable {
        return Err(ScriptError::Disabled);
    }
    if cfg.relay_mode == RelayMode::External {
        return Err(ScriptError::NotOurRelay);
    }
    let sip = sip::SipMsg::scan(m.buf()).map_err(ScriptError::Malformed)?;
    let call_id = text(Some(sip.call_id().ok_or(ScriptError::NoCallId)?));
    let req = RecordRequest {
        call_id: call_id.clone(),
        from_tag: text(sip.from_tag()),
        to_tag: text(sip.to_tag()),
        start,
    };
    match record(cfg, &req) {
        Ok(_) => Ok(1),
        Err(error) => Err(ScriptError::Relay { call_id, error }),
    }
}
