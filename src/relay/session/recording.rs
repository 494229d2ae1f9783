//! A session's recording, as the table keeps it: started by `record start` (or, with
//! `record_all`, by the session's first answer), it follows the session: every stream it has
//! and every stream a later re-offer adds is recorded (the backend attaches the recording to
//! each stream once), and it ends with `record stop` or the session's end (remove, expiry).
//! The statistics JSON names the session's last file (`"recording"`), also after a stop.

use super::{Backend, SessionTable};
use std::time::Instant;

/// Why a recording could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The relay has no `recording_dir`.
    Off,
    NotFound,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordError::Off => "recording is off (no recording_dir)",
            RecordError::NotFound => "no such session",
        })
    }
}

impl<B: Backend> SessionTable<B> {
    /// Records every session from its first answer on (`record_all`).
    pub fn set_record_all(&mut self, on: bool) {
        self.record_all = on;
    }

    pub(super) fn answered(&self, call_id: &str, idx: usize) -> bool {
        self.sessions
            .get(call_id)
            .and_then(|l| l.get(idx))
            .is_some_and(|s| s.answered)
    }

    /// After an `update` of the session at `idx`: a recorded session's new streams are
    /// recorded too; with `record_all`, a session answered for the first time starts.
    pub(super) fn keep_recording(&mut self, call_id: &str, idx: usize, was_answered: bool) {
        let Some(s) = self.sessions.get_mut(call_id).and_then(|l| l.get_mut(idx)) else {
            return;
        };
        if s.recording.is_none() && self.record_all && s.answered && !was_answered {
            s.recording = self.backend.record_open(call_id);
            s.recorded = s.recording.as_ref().map(|(_, p)| p.clone());
        }
        let Some((key, _)) = &s.recording else {
            return;
        };
        for h in s.slots.iter().filter_map(|sl| sl.handle) {
            self.backend.record_stream(&h, *key, s.facing.ip);
        }
    }

    /// `record start`: records the session for these tags (all its streams, both parties, RTP
    /// and RTCP) into a new file, or keeps its recording; returns the file.
    pub fn start_recording(
        &mut self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
    ) -> Result<String, RecordError> {
        let idx = self
            .find(call_id, from_tag, to_tag)
            .ok_or(RecordError::NotFound)?;
        let Some(s) = self.sessions.get_mut(call_id).and_then(|l| l.get_mut(idx)) else {
            return Err(RecordError::NotFound);
        };
        if s.recording.is_none() {
            let (key, path) = self.backend.record_open(call_id).ok_or(RecordError::Off)?;
            s.recorded = Some(path.clone());
            s.recording = Some((key, path));
        }
        let Some((key, path)) = s.recording.clone() else {
            return Err(RecordError::Off);
        };
        for h in s.slots.iter().filter_map(|sl| sl.handle) {
            self.backend.record_stream(&h, key, s.facing.ip);
        }
        Ok(path)
    }

    /// `record stop`: closes the session's recording, if any; `false`: no such session.
    pub fn stop_recording(
        &mut self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        now: Instant,
    ) -> bool {
        let Some(idx) = self.find(call_id, from_tag, to_tag) else {
            return false;
        };
        let Some(s) = self.sessions.get_mut(call_id).and_then(|l| l.get_mut(idx)) else {
            return false;
        };
        if let Some((key, _)) = s.recording.take() {
            self.backend.record_close(key, now);
        }
        true
    }
}
