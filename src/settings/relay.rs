//! The relay's settings ([`RelayConfig`]) and the leaf types they use. Their defaults and
//! bounds are the rows of [`super::table`]; `Default` applies those defaults and
//! [`RelayConfig::validate`] checks a value built by hand against the same rows.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Which system interface the relay workers use for packets (`relay_io`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RelayIo {
    /// io_uring when the kernel offers what the relay needs, else epoll.
    #[default]
    Auto,
    /// io_uring; not available is a start-up error.
    IoUring,
    Epoll,
}

impl RelayIo {
    /// `auto`, `io_uring` or `epoll` (ASCII case-insensitive, surrounding blanks ignored).
    pub fn parse(s: &str) -> Option<RelayIo> {
        let s = s.trim();
        [RelayIo::Auto, RelayIo::IoUring, RelayIo::Epoll]
            .into_iter()
            .find(|v| s.eq_ignore_ascii_case(v.as_str()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RelayIo::Auto => "auto",
            RelayIo::IoUring => "io_uring",
            RelayIo::Epoll => "epoll",
        }
    }
}

impl std::fmt::Display for RelayIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether latched streams are forwarded by the kernel fast path (`relay_kernel`, `--kernel`;
/// see `relay::kernel`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RelayKernel {
    /// Every packet goes through the relay's workers.
    #[default]
    Off,
    /// The fast path where the kernel permits it; where it refuses, one log line says why and
    /// the relay runs without it.
    Auto,
    /// The fast path; refused is a start-up error.
    Ebpf,
}

impl RelayKernel {
    /// `off`, `auto` or `ebpf` (ASCII case-insensitive, surrounding blanks ignored).
    pub fn parse(s: &str) -> Option<RelayKernel> {
        let s = s.trim();
        [RelayKernel::Off, RelayKernel::Auto, RelayKernel::Ebpf]
            .into_iter()
            .find(|v| s.eq_ignore_ascii_case(v.as_str()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RelayKernel::Off => "off",
            RelayKernel::Auto => "auto",
            RelayKernel::Ebpf => "ebpf",
        }
    }
}

impl std::fmt::Display for RelayKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The latch policy's name (`latch_policy`); see `relay::latch`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LatchMode {
    #[default]
    Heuristic,
    Signalling,
}

impl LatchMode {
    /// `heuristic`, `signalling` (or `signaling`), ASCII case-insensitive.
    pub fn parse(s: &str) -> Option<LatchMode> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("heuristic") {
            Some(LatchMode::Heuristic)
        } else if s.eq_ignore_ascii_case("signalling") || s.eq_ignore_ascii_case("signaling") {
            Some(LatchMode::Signalling)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LatchMode::Heuristic => "heuristic",
            LatchMode::Signalling => "signalling",
        }
    }
}

/// Largest RTP sequence jump accepted as the same sender after a NAT rebinding (not a setting).
pub const REBIND_WINDOW: u16 = 64;

/// Relay settings. `Default` gives the operator defaults of the settings table (listen on
/// 0.0.0.0, ports 40000–60000, 2 worker threads, timeouts 90 s / 60 s / 7200 s, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayConfig {
    pub listen_ip: IpAddr,
    pub advertised_ip: Option<IpAddr>,
    pub port_min: u16,
    pub port_max: u16,
    pub threads: usize,
    /// No media at all since the stream was set up (or last touched by signalling).
    pub setup_timeout: Duration,
    /// Media stopped mid-call.
    pub media_timeout: Duration,
    /// Either party put the stream on hold.
    pub hold_timeout: Duration,
    /// The latch policy: `heuristic` (default) or `signalling` (a side latches only to a source
    /// of its signalling or SDP IP).
    pub latch_mode: LatchMode,
    /// `heuristic`: how long after signalling a source that matches neither IP may latch by
    /// RTP continuity (a symmetric NAT).
    pub learn_window: Duration,
    /// Streams one session (and one `update`) may have; more is refused.
    pub max_streams: usize,
    /// Sessions the relay holds at once (0: no limit but the ports); a new one beyond is
    /// refused.
    pub max_sessions: usize,
    /// Packets per second one stream (RTP and RTCP, both ways) may relay; the excess is
    /// dropped (0: no ceiling).
    pub max_packet_rate: u32,
    /// How long a released port pair rests before reuse.
    pub port_quarantine: Duration,
    /// Largest RTP sequence jump accepted as the same sender after a NAT rebinding.
    pub rebind_window: u16,
    /// I/O back end of the workers.
    pub io: RelayIo,
    /// io_uring back end: receive buffers per worker (a power of two, 2 KiB each). A packet
    /// holds its buffer until its send completes; when all are in use, packets wait in their
    /// sockets' receive queues.
    pub ring_buffers: u16,
    /// io_uring back end: once it has waited this long (microseconds) a worker wakes for any
    /// completion; before that only for a batch of them. Trades up to this much added latency
    /// for fewer wake-ups (0: wake for every completion). Needs Linux 6.12
    /// (`IORING_FEAT_MIN_TIMEOUT`); older kernels wake for every completion.
    pub batch_wait_us: u32,
    /// io_uring back end: once a side's destination is known, send to it through a second
    /// socket on the same port, connected to that destination (`SO_REUSEPORT`), instead of
    /// naming the destination in every send; that peer's packets arrive on it too. Saves the
    /// kernel an address copy and a route lookup per packet, at the cost of one more descriptor
    /// per relay port in use. Packets from any other source still arrive on the port's own
    /// socket (latching, strict source, re-latch after a NAT rebinding work as without it).
    pub connected_sockets: bool,
    /// Latched streams forwarded by the kernel fast path (`relay::kernel`).
    pub kernel: RelayKernel,
}

impl RelayConfig {
    /// Placeholder values, before the table's defaults are applied (see [`super::Settings`]).
    pub(super) fn blank() -> RelayConfig {
        RelayConfig {
            listen_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            advertised_ip: None,
            port_min: 0,
            port_max: 0,
            threads: 0,
            setup_timeout: Duration::ZERO,
            media_timeout: Duration::ZERO,
            hold_timeout: Duration::ZERO,
            latch_mode: LatchMode::default(),
            learn_window: Duration::ZERO,
            max_streams: 0,
            max_sessions: 0,
            max_packet_rate: 0,
            port_quarantine: Duration::ZERO,
            rebind_window: REBIND_WINDOW,
            io: RelayIo::default(),
            ring_buffers: 0,
            batch_wait_us: 0,
            connected_sockets: false,
            kernel: RelayKernel::default(),
        }
    }

    /// Checks every relay setting against its row of the table (the bounds the module's
    /// `modparam`s and `mediaproxy-relay`'s options are parsed with); the first one out of
    /// bounds is the error.
    pub fn validate(&self) -> Result<(), super::SettingError> {
        super::validate_relay(self)
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        super::Settings::default().relay
    }
}
