//! What the relay reports to its host: log lines and session expiries, queued by any relay
//! thread and read by the host on its own thread ([`super::Relay::drain_events`]). A leaf: every
//! room of the relay may log through an [`EventSink`] without reaching up to the relay itself.

use super::sys::EventFd;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// What the relay reports to its host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    Log {
        level: LogLevel,
        text: String,
    },
    /// A session ended by a media/setup/hold timeout; the host should end its dialog, unless
    /// `all_streams_ice`: every stream was an unselected ICE candidate, the media goes another
    /// way and the call goes on (see [`super::ice`]).
    Expired {
        call_id: String,
        from_tag: String,
        to_tag: String,
        dialog_id: Option<String>,
        stats_json: String,
        all_streams_ice: bool,
    },
}

/// Queue of events towards the host: bounded (never grows without limit when the host is slow;
/// excess events are counted and dropped) plus an eventfd for the host's reactor.
#[derive(Clone, Debug)]
pub struct EventSink {
    tx: Sender<RelayEvent>,
    pub(super) efd: Arc<EventFd>,
    pub(super) dropped: Arc<AtomicU64>,
}

/// Events queued at most towards the host.
pub const EVENT_QUEUE: usize = 65536;

impl EventSink {
    pub(crate) fn new() -> io::Result<(EventSink, Receiver<RelayEvent>)> {
        let (tx, rx) = crossbeam_channel::bounded(EVENT_QUEUE);
        Ok((
            EventSink {
                tx,
                efd: Arc::new(EventFd::new()?),
                dropped: Arc::new(AtomicU64::new(0)),
            },
            rx,
        ))
    }

    pub fn send(&self, ev: RelayEvent) {
        match self.tx.try_send(ev) {
            Ok(()) => self.efd.notify(),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn send_log(&self, level: LogLevel, text: String) {
        self.send(RelayEvent::Log { level, text });
    }
}
