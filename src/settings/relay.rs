//! The relay's settings ([`RelayConfig`]) and the leaf types they use. Their defaults and
//! bounds are the rows of [`super::table`]; `Default` applies those defaults and
//! [`RelayConfig::validate`] checks a value built by hand against the same rows.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
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

/// One named relay address (`relay_interfaces`): the sockets of the parties it faces bind to
/// `listen`; the SDP those parties receive names `advertised` (1:1 NAT) or else `listen`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayInterface {
    /// Empty for the one unnamed interface made of `listen_ip`/`advertised_ip`.
    pub name: String,
    pub listen: IpAddr,
    pub advertised: Option<IpAddr>,
}

/// Longest interface name accepted.
pub const MAX_INTERFACE_NAME: usize = 32;
/// Most interfaces accepted.
pub const MAX_INTERFACES: usize = 16;

/// An interface name: 1 to [`MAX_INTERFACE_NAME`] letters, digits, `_` or `-`.
pub fn interface_name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_INTERFACE_NAME
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl RelayInterface {
    /// `name=listen[/advertised]` items separated by `;` (blanks around items ignored; an
    /// empty text is no interface). Names: letters, digits, `_`, `-`, at most 32 bytes, each
    /// once; `listen` an address literal, `advertised` a specific one. The error says what is
    /// wrong with which item.
    pub fn parse_list(v: &str) -> Result<Vec<RelayInterface>, String> {
        let mut out: Vec<RelayInterface> = Vec::new();
        for item in v.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((name, addrs)) = item.split_once('=') else {
                return Err(format!("\"{item}\" is not name=address[/advertised]"));
            };
            let name = name.trim();
            if !interface_name_ok(name) {
                return Err(format!(
                    "interface name \"{name}\": 1 to {MAX_INTERFACE_NAME} letters, digits, _ or -"
                ));
            }
            if out.iter().any(|i| i.name == name) {
                return Err(format!("interface name \"{name}\" given twice"));
            }
            let (listen, adv) = match addrs.split_once('/') {
                Some((l, a)) => (l.trim(), Some(a.trim())),
                None => (addrs.trim(), None),
            };
            let listen: IpAddr = listen
                .parse()
                .map_err(|_| format!("interface {name}: \"{listen}\" is not an address literal"))?;
            let advertised = match adv {
                None => None,
                Some(a) => match a.parse::<IpAddr>() {
                    Ok(ip) if !ip.is_unspecified() => Some(ip),
                    _ => {
                        return Err(format!(
                            "interface {name}: advertised \"{a}\" is not a specific address literal"
                        ))
                    }
                },
            };
            out.push(RelayInterface {
                name: name.to_string(),
                listen,
                advertised,
            });
            if out.len() > MAX_INTERFACES {
                return Err(format!("more than {MAX_INTERFACES} interfaces"));
            }
        }
        Ok(out)
    }

    /// The list as [`RelayInterface::parse_list`] reads it.
    pub fn show_list(list: &[RelayInterface]) -> String {
        list.iter()
            .map(|i| match i.advertised {
                Some(a) => format!("{}={}/{a}", i.name, i.listen),
                None => format!("{}={}", i.name, i.listen),
            })
            .collect::<Vec<_>>()
            .join("; ")
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
    /// Named relay addresses (`relay_interfaces`); empty: the one unnamed interface of
    /// `listen_ip` and `advertised_ip`. See [`RelayConfig::interfaces`].
    pub interfaces: Vec<RelayInterface>,
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
    /// Directory of call recordings (pcap files); `None`: recording off.
    pub recording_dir: Option<PathBuf>,
    /// Every session is recorded from its first answer.
    pub record_all: bool,
}

impl RelayConfig {
    /// Placeholder values, before the table's defaults are applied (see [`super::Settings`]).
    pub(super) fn blank() -> RelayConfig {
        RelayConfig {
            listen_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            advertised_ip: None,
            interfaces: Vec::new(),
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
            recording_dir: None,
            record_all: false,
        }
    }

    /// The interfaces the relay serves: `relay_interfaces` as listed, or when that is empty
    /// one unnamed interface of `listen_ip` and `advertised_ip`.
    pub fn interfaces(&self) -> Vec<RelayInterface> {
        if self.interfaces.is_empty() {
            vec![RelayInterface {
                name: String::new(),
                listen: self.listen_ip,
                advertised: self.advertised_ip,
            }]
        } else {
            self.interfaces.clone()
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
