//! The loop of a process that runs the relay and has no event loop of its own (the standalone
//! `mediaproxy-relay`, Kamailio's relay process): wait on the relay's event descriptor and on
//! SIGINT/SIGTERM, hand the events to the caller, until a signal or a deadline. (OpenSIPS's
//! relay process watches the same descriptor from the core's reactor instead.)

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::sys::{poll_any, SignalFd};
use super::{Relay, RelayEvent};

/// What [`serve`] waits on: the relay, or what stands in front of it (the host's dispatcher of
/// remote relays).
pub trait EventSource {
    /// Readable when events wait.
    fn event_fd(&self) -> std::os::fd::RawFd;
    fn drain_events(&self) -> Vec<RelayEvent>;
}

impl EventSource for Relay {
    fn event_fd(&self) -> std::os::fd::RawFd {
        Relay::event_fd(self)
    }
    fn drain_events(&self) -> Vec<RelayEvent> {
        Relay::drain_events(self)
    }
}

/// Why [`serve`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The signal that arrived.
    Signal(i32),
    Deadline,
}

/// Hands the relay's events to `on_events` as they come (and once at the start) until one of
/// `signals` arrives or `deadline` passes; the events of the last wait are handed over before
/// it returns. The caller then stops the relay.
pub fn serve(
    relay: &impl EventSource,
    signals: &SignalFd,
    deadline: Option<Instant>,
    mut on_events: impl FnMut(Vec<RelayEvent>),
) -> io::Result<Stop> {
    on_events(relay.drain_events());
    loop {
        let wait = deadline.map_or(Duration::from_secs(1), |d| {
            d.saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1))
        });
        poll_any(
            &[(relay.event_fd(), false), (signals.as_raw_fd(), false)],
            wait,
        )?;
        on_events(relay.drain_events());
        if let Some(sig) = signals.read() {
            return Ok(Stop::Signal(sig));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Stop::Deadline);
        }
    }
}
