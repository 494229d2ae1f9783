//! Validated module settings.
//!
//! The host layer copies the raw `modparam` values into [`RawParams`] (strings as the script
//! wrote them, integers as the core stored them) and [`Config::from_raw`] turns them into
//! [`Config`] or refuses the first bad one with a [`ParamError`] that names the parameter, the
//! value and what is accepted. No FFI types and no I/O here, except for reading whether an
//! asymmetric-clients file can be opened, which is what an operator expects at start-up.

pub use crate::relay::{LatchMode, RelayIo};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Defaults, as the original module documentation (OpenSIPS mediaproxy, SER mediaproxy) has them,
/// and for the relay's own settings, what MediaProxy's relay uses.
pub mod defaults {
    pub const MEDIAPROXY_SOCKET: &str = "/run/mediaproxy/dispatcher.sock";
    pub const MEDIAPROXY_TIMEOUT_MS: i32 = 500;
    pub const SIGNALING_IP_AVP: &str = "$avp(mp_signaling_ip)";
    pub const MEDIA_RELAY_AVP: &str = "$avp(mp_media_relay)";
    pub const ICE_CANDIDATE: &str = "none";
    pub const ICE_CANDIDATE_AVP: &str = "$avp(mp_ice_candidate)";
    pub const NATPING_INTERVAL_S: i32 = 60;
    pub const RELAY_MODE: &str = "embedded";
    pub const LISTEN_IP: &str = "0.0.0.0";
    pub const PORT_RANGE: &str = "40000-60000";
    pub const RELAY_THREADS: i32 = 2;
    pub const RELAY_IO: &str = "auto";
    pub const RELAY_BATCH_WAIT_US: i32 = crate::relay::BATCH_WAIT_US as i32;
    pub const SETUP_TIMEOUT_S: i32 = 90;
    pub const MEDIA_TIMEOUT_S: i32 = 60;
    pub const HOLD_TIMEOUT_S: i32 = 7200;
    pub const LATCH_POLICY: &str = "heuristic";
    pub const RELAY_MAX_STREAMS: i32 = crate::relay::guard::MAX_STREAMS as i32;
    pub const RELAY_MAX_SESSIONS: i32 = crate::relay::guard::MAX_SESSIONS as i32;
    pub const RELAY_MAX_PACKET_RATE: i32 = crate::relay::guard::MAX_PACKET_RATE as i32;
}

/// Every module parameter, as set by `modparam` lines (`None` = not set: use the default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawParams {
    pub disable: i32,
    pub mediaproxy_socket: Option<String>,
    pub mediaproxy_timeout: Option<i32>,
    pub signaling_ip_avp: Option<String>,
    pub media_relay_avp: Option<String>,
    pub ice_candidate: Option<String>,
    pub ice_candidate_avp: Option<String>,
    pub sip_asymmetrics: Option<String>,
    pub rtp_asymmetrics: Option<String>,
    pub natping_interval: Option<i32>,
    pub relay_mode: Option<String>,
    pub listen_ip: Option<String>,
    pub advertised_ip: Option<String>,
    pub port_range: Option<String>,
    pub relay_threads: Option<i32>,
    pub relay_io: Option<String>,
    pub relay_batch_wait: Option<i32>,
    pub relay_connected_sockets: Option<i32>,
    pub setup_timeout: Option<i32>,
    pub media_timeout: Option<i32>,
    pub hold_timeout: Option<i32>,
    pub learn_from_signaling_ip: i32,
    pub latch_policy: Option<String>,
    pub relay_max_streams: Option<i32>,
    pub relay_max_sessions: Option<i32>,
    pub relay_max_packet_rate: Option<i32>,
}

/// Where the relay runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayMode {
    /// Relay threads in a process of the module's own, serving `mediaproxy_socket`.
    Embedded,
    /// No relay process; `mediaproxy_socket` names an external MediaProxy dispatcher.
    External,
}

/// `ice_candidate`: whether and how a relay candidate is added to streams that use ICE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceCandidate {
    None,
    LowPriority,
    HighPriority,
}

impl IceCandidate {
    /// Parses the value of the parameter or of `ice_candidate_avp` (case-insensitive).
    pub fn parse(s: &str) -> Option<IceCandidate> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("none") {
            Some(IceCandidate::None)
        } else if s.eq_ignore_ascii_case("low-priority") {
            Some(IceCandidate::LowPriority)
        } else if s.eq_ignore_ascii_case("high-priority") {
            Some(IceCandidate::HighPriority)
        } else {
            None
        }
    }
}

/// The validated settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub disable: bool,
    pub mediaproxy_socket: PathBuf,
    pub mediaproxy_timeout: Duration,
    pub signaling_ip_avp: String,
    pub media_relay_avp: String,
    pub ice_candidate: IceCandidate,
    pub ice_candidate_avp: String,
    pub sip_asymmetrics: Option<PathBuf>,
    pub rtp_asymmetrics: Option<PathBuf>,
    /// 0 = off.
    pub natping_interval: u32,
    pub relay_mode: RelayMode,
    pub listen_ip: IpAddr,
    pub advertised_ip: Option<IpAddr>,
    pub port_min: u16,
    pub port_max: u16,
    pub relay_threads: usize,
    /// The relay workers' I/O back end.
    pub relay_io: RelayIo,
    /// io_uring workers: microseconds a wait may gather completions (0: wake for each).
    pub relay_batch_wait_us: u32,
    /// io_uring workers: send through sockets connected to the peers.
    pub relay_connected_sockets: bool,
    pub setup_timeout: Duration,
    pub media_timeout: Duration,
    pub hold_timeout: Duration,
    pub learn_from_signaling_ip: bool,
    /// The relay's latch policy (`latch_policy`; `learn_from_signaling_ip 1` makes it
    /// `signalling`).
    pub latch_policy: LatchMode,
    /// Streams per session and per `update`.
    pub relay_max_streams: usize,
    /// Sessions the relay holds at once (0: no limit).
    pub relay_max_sessions: usize,
    /// Packets per second per stream (0: no ceiling).
    pub relay_max_packet_rate: u32,
}

/// A refused parameter value: `param`, the `value` as given, and what is `accepted`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    pub param: &'static str,
    pub value: String,
    pub accepted: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid value {:?} for modparam \"{}\": expected {}",
            self.value, self.param, self.accepted
        )
    }
}

impl std::error::Error for ParamError {}

fn bad(param: &'static str, value: impl fmt::Display, accepted: impl Into<String>) -> ParamError {
    ParamError {
        param,
        value: value.to_string(),
        accepted: accepted.into(),
    }
}

fn int_in(
    param: &'static str,
    value: Option<i32>,
    default: i32,
    min: i32,
    max: i32,
    unit: &str,
) -> Result<i32, ParamError> {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        return Err(bad(
            param,
            v,
            format!("an integer from {min} to {max}{unit}"),
        ));
    }
    Ok(v)
}

fn flag(param: &'static str, v: i32) -> Result<bool, ParamError> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(bad(param, v, "0 or 1")),
    }
}

/// A pseudo-variable spec naming an AVP: `$avp(name)`. The host parses it again with the core's
/// own parser at start-up; this check catches typos with a message naming the parameter.
fn avp_spec(param: &'static str, value: Option<&str>, default: &str) -> Result<String, ParamError> {
    let v = value.unwrap_or(default).trim();
    let name = v
        .strip_prefix("$avp(")
        .and_then(|rest| rest.strip_suffix(')'));
    match name {
        Some(n)
            if !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b':') =>
        {
            Ok(v.to_string())
        }
        _ => Err(bad(param, v, "an AVP spec such as \"$avp(name)\"")),
    }
}

fn ip(param: &'static str, v: &str) -> Result<IpAddr, ParamError> {
    v.trim()
        .parse::<IpAddr>()
        .map_err(|_| bad(param, v, "an IPv4 or IPv6 address literal"))
}

/// Parses `port_range`: `"MIN-MAX"`, MIN even, 1024 <= MIN < MAX <= 65535, at least four ports
/// (one relayed stream needs an RTP/RTCP pair on each side).
pub fn parse_port_range(v: &str) -> Result<(u16, u16), ParamError> {
    const ACCEPTED: &str =
        "\"MIN-MAX\" with MIN even, 1024 <= MIN < MAX <= 65535 and at least 4 ports";
    let err = || bad("port_range", v, ACCEPTED);
    let (a, b) = v.trim().split_once('-').ok_or_else(err)?;
    let min: u16 = a.trim().parse().map_err(|_| err())?;
    let max: u16 = b.trim().parse().map_err(|_| err())?;
    if min < 1024 || min % 2 != 0 || max <= min || u32::from(max) - u32::from(min) + 1 < 4 {
        return Err(err());
    }
    Ok((min, max))
}

fn readable_file(param: &'static str, v: Option<&str>) -> Result<Option<PathBuf>, ParamError> {
    let Some(v) = v else { return Ok(None) };
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    match std::fs::File::open(v) {
        Ok(_) => Ok(Some(PathBuf::from(v))),
        Err(e) => Err(bad(
            param,
            v,
            format!("a readable file of regular expressions ({e})"),
        )),
    }
}

impl Config {
    /// Validates every parameter; the first bad one is returned as the error.
    pub fn from_raw(raw: &RawParams) -> Result<Config, ParamError> {
        use defaults as d;
        let disable = flag("disable", raw.disable)?;

        let socket = raw
            .mediaproxy_socket
            .as_deref()
            .unwrap_or(d::MEDIAPROXY_SOCKET)
            .trim();
        // sun_path holds 108 bytes including the terminating NUL
        if !socket.starts_with('/') || socket.len() > 107 || socket.ends_with('/') {
            return Err(bad(
                "mediaproxy_socket",
                socket,
                "an absolute path of a unix socket, at most 107 bytes",
            ));
        }
        let timeout_ms = int_in(
            "mediaproxy_timeout",
            raw.mediaproxy_timeout,
            d::MEDIAPROXY_TIMEOUT_MS,
            1,
            60_000,
            " (milliseconds)",
        )?;
        let signaling_ip_avp = avp_spec(
            "signaling_ip_avp",
            raw.signaling_ip_avp.as_deref(),
            d::SIGNALING_IP_AVP,
        )?;
        let media_relay_avp = avp_spec(
            "media_relay_avp",
            raw.media_relay_avp.as_deref(),
            d::MEDIA_RELAY_AVP,
        )?;
        let ice_text = raw.ice_candidate.as_deref().unwrap_or(d::ICE_CANDIDATE);
        let ice_candidate = IceCandidate::parse(ice_text).ok_or_else(|| {
            bad(
                "ice_candidate",
                ice_text,
                "\"none\", \"low-priority\" or \"high-priority\"",
            )
        })?;
        let ice_candidate_avp = avp_spec(
            "ice_candidate_avp",
            raw.ice_candidate_avp.as_deref(),
            d::ICE_CANDIDATE_AVP,
        )?;
        let sip_asymmetrics = readable_file("sip_asymmetrics", raw.sip_asymmetrics.as_deref())?;
        let rtp_asymmetrics = readable_file("rtp_asymmetrics", raw.rtp_asymmetrics.as_deref())?;
        let natping_interval = int_in(
            "natping_interval",
            raw.natping_interval,
            d::NATPING_INTERVAL_S,
            0,
            3600,
            " (seconds, 0 = off)",
        )? as u32;

        let mode_text = raw.relay_mode.as_deref().unwrap_or(d::RELAY_MODE).trim();
        let relay_mode = if mode_text.eq_ignore_ascii_case("embedded") {
            RelayMode::Embedded
        } else if mode_text.eq_ignore_ascii_case("external") {
            RelayMode::External
        } else {
            return Err(bad("relay_mode", mode_text, "\"embedded\" or \"external\""));
        };
        let listen_ip = ip(
            "listen_ip",
            raw.listen_ip.as_deref().unwrap_or(d::LISTEN_IP),
        )?;
        let advertised_ip = match raw.advertised_ip.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => {
                let a = ip("advertised_ip", v)?;
                if a.is_unspecified() {
                    return Err(bad(
                        "advertised_ip",
                        v,
                        "a specific IPv4 or IPv6 address (not 0.0.0.0 or ::)",
                    ));
                }
                Some(a)
            }
        };
        let (port_min, port_max) =
            parse_port_range(raw.port_range.as_deref().unwrap_or(d::PORT_RANGE))?;
        let relay_threads = int_in(
            "relay_threads",
            raw.relay_threads,
            d::RELAY_THREADS,
            1,
            64,
            "",
        )? as usize;
        let io_text = raw.relay_io.as_deref().unwrap_or(d::RELAY_IO);
        let relay_io = RelayIo::parse(io_text)
            .ok_or_else(|| bad("relay_io", io_text, "auto, io_uring or epoll"))?;
        let relay_batch_wait_us = int_in(
            "relay_batch_wait",
            raw.relay_batch_wait,
            d::RELAY_BATCH_WAIT_US,
            0,
            crate::relay::BATCH_WAIT_MAX_US as i32,
            " (microseconds)",
        )? as u32;
        let secs = |param, v, default, max| -> Result<Duration, ParamError> {
            Ok(Duration::from_secs(
                int_in(param, v, default, 1, max, " (seconds)")? as u64,
            ))
        };
        let setup_timeout = secs(
            "setup_timeout",
            raw.setup_timeout,
            d::SETUP_TIMEOUT_S,
            86_400,
        )?;
        let media_timeout = secs(
            "media_timeout",
            raw.media_timeout,
            d::MEDIA_TIMEOUT_S,
            86_400,
        )?;
        let hold_timeout = secs("hold_timeout", raw.hold_timeout, d::HOLD_TIMEOUT_S, 604_800)?;
        let learn_from_signaling_ip = flag("learn_from_signaling_ip", raw.learn_from_signaling_ip)?;
        let policy_text = raw.latch_policy.as_deref().unwrap_or(d::LATCH_POLICY);
        let latch_policy = match LatchMode::parse(policy_text) {
            Some(_) if learn_from_signaling_ip => LatchMode::Signalling,
            Some(m) => m,
            None => return Err(bad("latch_policy", policy_text, "heuristic or signalling")),
        };
        let relay_max_streams = int_in(
            "relay_max_streams",
            raw.relay_max_streams,
            d::RELAY_MAX_STREAMS,
            1,
            1024,
            "",
        )? as usize;
        let relay_max_sessions = int_in(
            "relay_max_sessions",
            raw.relay_max_sessions,
            d::RELAY_MAX_SESSIONS,
            0,
            1_000_000,
            " (0: no limit)",
        )? as usize;
        let relay_max_packet_rate = int_in(
            "relay_max_packet_rate",
            raw.relay_max_packet_rate,
            d::RELAY_MAX_PACKET_RATE,
            0,
            10_000_000,
            " (packets per second and stream; 0: no ceiling)",
        )? as u32;
        let relay_connected_sockets = flag(
            "relay_connected_sockets",
            raw.relay_connected_sockets.unwrap_or(1),
        )?;

        Ok(Config {
            disable,
            mediaproxy_socket: PathBuf::from(socket),
            mediaproxy_timeout: Duration::from_millis(timeout_ms as u64),
            signaling_ip_avp,
            media_relay_avp,
            ice_candidate,
            ice_candidate_avp,
            sip_asymmetrics,
            rtp_asymmetrics,
            natping_interval,
            relay_mode,
            listen_ip,
            advertised_ip,
            port_min,
            port_max,
            relay_threads,
            relay_io,
            relay_batch_wait_us,
            relay_connected_sockets,
            setup_timeout,
            media_timeout,
            hold_timeout,
            learn_from_signaling_ip,
            latch_policy,
            relay_max_streams,
            relay_max_sessions,
            relay_max_packet_rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: RawParams) -> ParamError {
        match Config::from_raw(&raw) {
            Ok(c) => panic!("accepted {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::from_raw(&RawParams::default()).expect("defaults");
        assert!(!c.disable);
        assert_eq!(
            c.mediaproxy_socket,
            PathBuf::from(defaults::MEDIAPROXY_SOCKET)
        );
        assert_eq!(c.mediaproxy_timeout, Duration::from_millis(500));
        assert_eq!(c.signaling_ip_avp, "$avp(mp_signaling_ip)");
        assert_eq!(c.ice_candidate, IceCandidate::None);
        assert_eq!(c.natping_interval, 60);
        assert_eq!(c.relay_mode, RelayMode::Embedded);
        assert_eq!((c.port_min, c.port_max), (40000, 60000));
        assert_eq!(c.relay_threads, 2);
        assert_eq!(c.relay_io, RelayIo::Auto);
        assert_eq!(c.media_timeout, Duration::from_secs(60));
        assert_eq!(c.hold_timeout, Duration::from_secs(7200));
        assert_eq!(c.setup_timeout, Duration::from_secs(90));
        assert_eq!(c.listen_ip, "0.0.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(c.advertised_ip, None);
    }

    #[test]
    fn good_values_are_taken() {
        let raw = RawParams {
            disable: 1,
            mediaproxy_socket: Some("/tmp/x.sock".into()),
            mediaproxy_timeout: Some(1500),
            ice_candidate: Some("High-Priority".into()),
            relay_mode: Some("EXTERNAL".into()),
            listen_ip: Some("::".into()),
            advertised_ip: Some("2001:db8::1".into()),
            port_range: Some("20000-20003".into()),
            relay_threads: Some(4),
            relay_io: Some("IO_URING".into()),
            natping_interval: Some(0),
            learn_from_signaling_ip: 1,
            ..RawParams::default()
        };
        let c = Config::from_raw(&raw).expect("valid");
        assert!(c.disable);
        assert_eq!(c.ice_candidate, IceCandidate::HighPriority);
        assert_eq!(c.relay_mode, RelayMode::External);
        assert_eq!((c.port_min, c.port_max), (20000, 20003));
        assert_eq!(c.advertised_ip, Some("2001:db8::1".parse().unwrap()));
        assert!(c.learn_from_signaling_ip);
        assert_eq!(c.natping_interval, 0);
        assert_eq!(c.relay_io, RelayIo::IoUring);
        for (v, io) in [
            ("auto", RelayIo::Auto),
            ("epoll", RelayIo::Epoll),
            (" io_uring ", RelayIo::IoUring),
        ] {
            let raw = RawParams {
                relay_io: Some(v.into()),
                ..RawParams::default()
            };
            assert_eq!(Config::from_raw(&raw).expect(v).relay_io, io);
        }
    }

    // One test per parameter: a bad value is refused, naming the parameter, value, accepted set.

    #[test]
    fn bad_disable() {
        let e = refused(RawParams {
            disable: 2,
            ..Default::default()
        });
        assert_eq!(
            e.to_string(),
            "invalid value \"2\" for modparam \"disable\": expected 0 or 1"
        );
    }

    #[test]
    fn bad_mediaproxy_socket() {
        let e = refused(RawParams {
            mediaproxy_socket: Some("relative.sock".into()),
            ..Default::default()
        });
        assert_eq!(e.param, "mediaproxy_socket");
        assert!(
            e.to_string().contains("an absolute path of a unix socket"),
            "{e}"
        );
        let long = format!("/{}", "a".repeat(120));
        let e = refused(RawParams {
            mediaproxy_socket: Some(long),
            ..Default::default()
        });
        assert_eq!(e.param, "mediaproxy_socket");
    }

    #[test]
    fn bad_mediaproxy_timeout() {
        let e = refused(RawParams {
            mediaproxy_timeout: Some(0),
            ..Default::default()
        });
        assert_eq!(
            e.to_string(),
            "invalid value \"0\" for modparam \"mediaproxy_timeout\": expected an integer from 1 \
             to 60000 (milliseconds)"
        );
    }

    #[test]
    fn bad_avp_specs() {
        for (which, raw) in [
            (
                "signaling_ip_avp",
                RawParams {
                    signaling_ip_avp: Some("mp_ip".into()),
                    ..Default::default()
                },
            ),
            (
                "media_relay_avp",
                RawParams {
                    media_relay_avp: Some("$var(x)".into()),
                    ..Default::default()
                },
            ),
            (
                "ice_candidate_avp",
                RawParams {
                    ice_candidate_avp: Some("$avp()".into()),
                    ..Default::default()
                },
            ),
        ] {
            let e = refused(raw);
            assert_eq!(e.param, which);
            assert!(
                e.to_string()
                    .contains("expected an AVP spec such as \"$avp(name)\""),
                "{e}"
            );
        }
    }

    #[test]
    fn bad_ice_candidate() {
        let e = refused(RawParams {
            ice_candidate: Some("medium".into()),
            ..Default::default()
        });
        assert_eq!(
            e.to_string(),
            "invalid value \"medium\" for modparam \"ice_candidate\": expected \"none\", \
             \"low-priority\" or \"high-priority\""
        );
    }

    #[test]
    fn bad_asymmetrics_files() {
        for (which, raw) in [
            (
                "sip_asymmetrics",
                RawParams {
                    sip_asymmetrics: Some("/nonexistent/sip-asym".into()),
                    ..Default::default()
                },
            ),
            (
                "rtp_asymmetrics",
                RawParams {
                    rtp_asymmetrics: Some("/nonexistent/rtp-asym".into()),
                    ..Default::default()
                },
            ),
        ] {
            let e = refused(raw);
            assert_eq!(e.param, which);
            assert!(
                e.to_string()
                    .contains("a readable file of regular expressions"),
                "{e}"
            );
        }
    }

    #[test]
    fn bad_natping_interval() {
        let e = refused(RawParams {
            natping_interval: Some(-1),
            ..Default::default()
        });
        assert_eq!(e.param, "natping_interval");
        assert!(e.to_string().contains("from 0 to 3600"), "{e}");
    }

    #[test]
    fn bad_relay_mode() {
        let e = refused(RawParams {
            relay_mode: Some("kernel".into()),
            ..Default::default()
        });
        assert_eq!(
            e.to_string(),
            "invalid value \"kernel\" for modparam \"relay_mode\": expected \"embedded\" or \"external\""
        );
    }

    #[test]
    fn bad_listen_ip() {
        let e = refused(RawParams {
            listen_ip: Some("relay.example.com".into()),
            ..Default::default()
        });
        assert_eq!(e.param, "listen_ip");
        assert!(
            e.to_string().contains("an IPv4 or IPv6 address literal"),
            "{e}"
        );
    }

    #[test]
    fn bad_advertised_ip() {
        let e = refused(RawParams {
            advertised_ip: Some("300.1.1.1".into()),
            ..Default::default()
        });
        assert_eq!(e.param, "advertised_ip");
        let e = refused(RawParams {
            advertised_ip: Some("0.0.0.0".into()),
            ..Default::default()
        });
        assert!(e.to_string().contains("not 0.0.0.0"), "{e}");
    }

    #[test]
    fn bad_port_range() {
        for v in [
            "40000",
            "40001-50000",
            "50000-40000",
            "1000-2000",
            "40000-40002",
            "a-b",
            "40000-70000",
        ] {
            let e = refused(RawParams {
                port_range: Some(v.into()),
                ..Default::default()
            });
            assert_eq!(e.param, "port_range", "{v}");
            assert_eq!(e.value, v);
            assert!(e.to_string().contains("\"MIN-MAX\" with MIN even"), "{e}");
        }
    }

    #[test]
    fn bad_relay_threads() {
        let e = refused(RawParams {
            relay_threads: Some(0),
            ..Default::default()
        });
        assert_eq!(
            e.to_string(),
            "invalid value \"0\" for modparam \"relay_threads\": expected an integer from 1 to 64"
        );
    }

    #[test]
    fn bad_relay_io() {
        for v in ["uring", "", "select", "io-uring"] {
            let e = refused(RawParams {
                relay_io: Some(v.into()),
                ..Default::default()
            });
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid value \"{v}\" for modparam \"relay_io\": expected auto, io_uring or epoll"
                )
            );
        }
    }

    #[test]
    fn bad_timeouts() {
        for (which, raw) in [
            (
                "setup_timeout",
                RawParams {
                    setup_timeout: Some(0),
                    ..Default::default()
                },
            ),
            (
                "media_timeout",
                RawParams {
                    media_timeout: Some(-5),
                    ..Default::default()
                },
            ),
            (
                "hold_timeout",
                RawParams {
                    hold_timeout: Some(10_000_000),
                    ..Default::default()
                },
            ),
        ] {
            let e = refused(raw);
            assert_eq!(e.param, which);
            assert!(e.to_string().contains("(seconds)"), "{e}");
        }
    }

    #[test]
    fn relay_batch_wait_range() {
        let c = Config::from_raw(&RawParams::default()).expect("defaults");
        assert_eq!(c.relay_batch_wait_us, 0);
        for ok in [0, 1, 10_000] {
            let c = Config::from_raw(&RawParams {
                relay_batch_wait: Some(ok),
                ..Default::default()
            })
            .expect("in range");
            assert_eq!(c.relay_batch_wait_us, ok as u32);
        }
        for v in [-1, 10_001] {
            let e = refused(RawParams {
                relay_batch_wait: Some(v),
                ..Default::default()
            });
            assert_eq!(e.param, "relay_batch_wait");
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid value \"{v}\" for modparam \"relay_batch_wait\": expected an integer from 0 to 10000 (microseconds)"
                )
            );
        }
    }

    #[test]
    fn relay_connected_sockets_is_a_flag_on_by_default() {
        assert!(
            Config::from_raw(&RawParams::default())
                .unwrap()
                .relay_connected_sockets
        );
        let off = Config::from_raw(&RawParams {
            relay_connected_sockets: Some(0),
            ..Default::default()
        })
        .unwrap();
        assert!(!off.relay_connected_sockets);
        let e = refused(RawParams {
            relay_connected_sockets: Some(2),
            ..Default::default()
        });
        assert_eq!(e.param, "relay_connected_sockets");
        assert_eq!(
            e.to_string(),
            "invalid value \"2\" for modparam \"relay_connected_sockets\": expected 0 or 1"
        );
    }

    #[test]
    fn latch_policy_and_relay_limits() {
        let c = Config::from_raw(&RawParams::default()).unwrap();
        assert_eq!(c.latch_policy, LatchMode::Heuristic);
        assert_eq!(
            (
                c.relay_max_streams,
                c.relay_max_sessions,
                c.relay_max_packet_rate
            ),
            (16, 10_000, 10_000)
        );
        let c = Config::from_raw(&RawParams {
            latch_policy: Some("Signalling".into()),
            relay_max_streams: Some(4),
            relay_max_sessions: Some(0),
            relay_max_packet_rate: Some(0),
            ..RawParams::default()
        })
        .unwrap();
        assert_eq!(c.latch_policy, LatchMode::Signalling);
        assert_eq!(
            (
                c.relay_max_streams,
                c.relay_max_sessions,
                c.relay_max_packet_rate
            ),
            (4, 0, 0)
        );
        // the older switch selects the `signalling` policy
        let c = Config::from_raw(&RawParams {
            learn_from_signaling_ip: 1,
            ..RawParams::default()
        })
        .unwrap();
        assert_eq!(c.latch_policy, LatchMode::Signalling);
        let e = refused(RawParams {
            latch_policy: Some("first".into()),
            ..RawParams::default()
        });
        assert_eq!(e.param, "latch_policy");
        for (v, name) in [(0, "relay_max_streams"), (1025, "relay_max_streams")] {
            let e = refused(RawParams {
                relay_max_streams: Some(v),
                ..RawParams::default()
            });
            assert_eq!(e.param, name);
        }
        let e = refused(RawParams {
            relay_max_sessions: Some(-1),
            ..RawParams::default()
        });
        assert_eq!(e.param, "relay_max_sessions");
        let e = refused(RawParams {
            relay_max_packet_rate: Some(-5),
            ..RawParams::default()
        });
        assert_eq!(e.param, "relay_max_packet_rate");
    }

    #[test]
    fn bad_learn_from_signaling_ip() {
        let e = refused(RawParams {
            learn_from_signaling_ip: 7,
            ..Default::default()
        });
        assert_eq!(e.param, "learn_from_signaling_ip");
    }
}
