//! The media relay without OpenSIPS: the same engine and control socket as the module's relay
//! process, for tests, benchmarks and as a drop-in MediaProxy dispatcher+relay.
//!
//! ```text
//! mediaproxy-relay --socket PATH [--listen-ip IP] [--advertised-ip IP] [--port-range MIN-MAX]
//!                  [--threads N] [--relay-io auto|io_uring|epoll] [--ring-buffers N] [--batch-wait-us N]
//!                  [--connected-sockets 0|1]
//!                  [--setup-timeout S] [--media-timeout S] [--hold-timeout S]
//!                  [--quarantine S] [--signaling-source-only] [--max-seconds N] [--verbose]
//! ```
//! Logs go to stderr. SIGINT/SIGTERM or `--max-seconds` stop it (the socket file is removed).

use mediaproxy::relay::sys::{poll_any, SignalFd};
use mediaproxy::relay::{Counters, LatchMode, LogLevel, Relay, RelayConfig, RelayEvent, RelayIo};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn usage() -> &'static str {
    "usage: mediaproxy-relay --socket PATH [--listen-ip IP] [--advertised-ip IP] \
     [--port-range MIN-MAX] [--threads N] [--relay-io auto|io_uring|epoll] [--ring-buffers N] [--batch-wait-us N] [--connected-sockets 0|1] \
     [--setup-timeout S] [--media-timeout S] \
     [--hold-timeout S] [--quarantine S] [--latch-policy heuristic|signalling] [--signaling-source-only] \
     [--learn-window-ms N] [--max-streams N] [--max-sessions N] [--max-packet-rate N] \
     [--max-seconds N] [--verbose]"
}

struct Args {
    socket: PathBuf,
    cfg: RelayConfig,
    max_seconds: Option<u64>,
    verbose: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut cfg = RelayConfig::default();
    let mut socket = None;
    let mut max_seconds = None;
    let mut verbose = false;
    let mut it = std::env::args().skip(1);
    fn num<T: std::str::FromStr>(v: &str, name: &str) -> Result<T, String> {
        v.parse().map_err(|_| format!("{name}: not a number: {v}"))
    }
    let secs = |v: &str, name: &str| -> Result<Duration, String> {
        v.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("{name}: not a number of seconds: {v}"))
    };
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--socket" => socket = Some(PathBuf::from(val("--socket")?)),
            "--listen-ip" => {
                let v = val("--listen-ip")?;
                cfg.listen_ip = v
                    .parse()
                    .map_err(|_| format!("--listen-ip: bad address {v}"))?;
            }
            "--advertised-ip" => {
                let v = val("--advertised-ip")?;
                cfg.advertised_ip = Some(
                    v.parse()
                        .map_err(|_| format!("--advertised-ip: bad address {v}"))?,
                );
            }
            "--port-range" => {
                let v = val("--port-range")?;
                let (lo, hi) = v
                    .split_once(['-', ':'])
                    .ok_or_else(|| format!("--port-range: expected MIN-MAX, got {v}"))?;
                cfg.port_min = lo
                    .parse()
                    .map_err(|_| format!("--port-range: bad port {lo}"))?;
                cfg.port_max = hi
                    .parse()
                    .map_err(|_| format!("--port-range: bad port {hi}"))?;
            }
            "--threads" => cfg.threads = num(&val(&a)?, &a)?,
            "--relay-io" => {
                let v = val("--relay-io")?;
                cfg.io = RelayIo::parse(&v).ok_or_else(|| {
                    format!("--relay-io: expected auto, io_uring or epoll, got {v}")
                })?;
            }
            "--ring-buffers" => cfg.ring_buffers = num(&val(&a)?, &a)?,
            "--batch-wait-us" => cfg.batch_wait_us = num(&val(&a)?, &a)?,
            "--connected-sockets" => {
                cfg.connected_sockets = match val(&a)?.as_str() {
                    "0" => false,
                    "1" => true,
                    v => return Err(format!("--connected-sockets: expected 0 or 1, got {v}")),
                }
            }
            "--setup-timeout" => cfg.setup_timeout = secs(&val(&a)?, &a)?,
            "--media-timeout" => cfg.media_timeout = secs(&val(&a)?, &a)?,
            "--hold-timeout" => cfg.hold_timeout = secs(&val(&a)?, &a)?,
            "--quarantine" => cfg.port_quarantine = secs(&val(&a)?, &a)?,
            "--max-seconds" => max_seconds = Some(secs(&val(&a)?, &a)?.as_secs()),
            "--signaling-source-only" => cfg.latch_mode = LatchMode::Signalling,
            "--latch-policy" => {
                let v = val(&a)?;
                cfg.latch_mode = LatchMode::parse(&v).ok_or_else(|| {
                    format!("--latch-policy: expected heuristic or signalling, got {v}")
                })?;
            }
            "--learn-window-ms" => cfg.learn_window = Duration::from_millis(num(&val(&a)?, &a)?),
            "--max-streams" => cfg.max_streams = num(&val(&a)?, &a)?,
            "--max-sessions" => cfg.max_sessions = num(&val(&a)?, &a)?,
            "--max-packet-rate" => cfg.max_packet_rate = num(&val(&a)?, &a)?,
            "--verbose" | "-v" => verbose = true,
            "--help" | "-h" => return Err(usage().to_string()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    let socket = socket.ok_or_else(|| format!("--socket is required\n{}", usage()))?;
    Ok(Args {
        socket,
        cfg,
        max_seconds,
        verbose,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // block SIGINT/SIGTERM before any thread exists; they arrive on a descriptor instead
    let signals = match SignalFd::termination() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mediaproxy-relay: signalfd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let relay = match Relay::start(args.cfg, &args.socket, Counters::leak()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mediaproxy-relay: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let deadline = args
        .max_seconds
        .map(|s| Instant::now() + Duration::from_secs(s));
    loop {
        let wait = deadline.map_or(Duration::from_secs(1), |d| {
            d.saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1))
        });
        let _ = poll_any(
            &[(relay.event_fd(), false), (signals.as_raw_fd(), false)],
            wait,
        );
        for ev in relay.drain_events() {
            match ev {
                RelayEvent::Log { level, text } => {
                    if level != LogLevel::Debug || args.verbose {
                        eprintln!("mediaproxy-relay: {level:?}: {text}");
                    }
                }
                RelayEvent::Expired {
                    call_id,
                    stats_json,
                    all_streams_ice,
                    ..
                } => {
                    let what = if all_streams_ice {
                        "removed because ICE was used"
                    } else {
                        "expired"
                    };
                    eprintln!("mediaproxy-relay: session {call_id} {what}: {stats_json}");
                }
            }
        }
        if let Some(sig) = signals.read() {
            eprintln!("mediaproxy-relay: signal {sig}, stopping");
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            eprintln!("mediaproxy-relay: --max-seconds reached, stopping");
            break;
        }
    }
    relay.shutdown();
    ExitCode::SUCCESS
}
