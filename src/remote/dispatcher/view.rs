//! What the dispatcher is configured with and what it shows of its relays: its settings, each
//! relay's state and counters, and the sessions that ended without a `remove`.

use crate::remote::tls::TlsFiles;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct DispatcherConfig {
    /// Where relays connect (TLS); `None`: the embedded relay only.
    pub listen: Option<SocketAddr>,
    pub tls: TlsFiles,
    /// How long one relay may take to answer one request before the next one is tried.
    pub relay_timeout: Duration,
    /// A link silent this long is dropped (relays ping every 10 s).
    pub dead_after: Duration,
    pub handshake_timeout: Duration,
    /// Name of the embedded relay.
    pub local_name: String,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            listen: None,
            tls: TlsFiles::default(),
            relay_timeout: Duration::from_millis(200),
            dead_after: Duration::from_secs(35),
            handshake_timeout: Duration::from_secs(5),
            local_name: "local".into(),
        }
    }
}

impl DispatcherConfig {
    /// The per-relay timeout for a module whose requests wait `mediaproxy_timeout`: two fifths
    /// of it (at least 50 ms), so one failover still fits in the module's wait.
    pub fn relay_timeout_for(mediaproxy_timeout: Duration) -> Duration {
        (mediaproxy_timeout * 2 / 5).max(Duration::from_millis(50))
    }
}

/// A relay's state as the dispatcher sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayState {
    Active,
    /// Draining: keeps its sessions, takes no new ones.
    Halting,
    /// Did not answer in time; takes no new sessions until it is heard from again.
    Unresponsive,
    Disconnected,
}

impl RelayState {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayState::Active => "active",
            RelayState::Halting => "halting",
            RelayState::Unresponsive => "unresponsive",
            RelayState::Disconnected => "disconnected",
        }
    }
}

/// One relay in the dispatcher's view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayInfo {
    pub name: String,
    pub peer: Option<IpAddr>,
    pub state: RelayState,
    /// Sessions the dispatcher placed on it and that are running.
    pub sessions: usize,
    pub stats: RelayStats,
}

/// Per-relay counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    pub requests: u64,
    pub sessions_created: u64,
    pub errors: u64,
    pub timeouts: u64,
    /// Sessions lost when its link dropped.
    pub sessions_lost: u64,
}

/// A session that ended on a relay without a `remove` (media timeout), or whose relay was lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndedSession {
    pub relay: String,
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: String,
    pub dialog_id: String,
    /// The relay's statistics (`expired`); empty for a lost relay.
    pub stats_json: String,
    pub all_streams_ice: bool,
}
