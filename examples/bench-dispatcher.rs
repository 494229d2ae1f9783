//! The module's dispatcher without a SIP proxy, for `scripts/bench-remote.sh`: remote relays
//! (`mediaproxy-relay --dispatcher`) connect to it over TLS, and it serves the control protocol
//! the module's OpenSIPS side speaks (`update`/`remove`, `summary`, ...) on a unix socket, so a
//! load generator can drive it as OpenSIPS would.
//!
//! ```text
//! bench-dispatcher --socket PATH --listen IP:PORT --cert F --key F --ca F
//!                  [--relay-timeout-ms N] --max-seconds N
//! ```
//!
//! It runs [`Front`] with no embedded relay: the very code the module runs in its relay process
//! with `relay_mode = "remote"` (the dispatcher behind the control socket's server), so a
//! measurement through it measures the module's path, less OpenSIPS. `--relay-timeout-ms`: how
//! long a relay may take to answer (default 200, the module's with its default
//! `mediaproxy_timeout` of 500 ms). Log lines and sessions that ended on a relay go to stderr.
//! It stops after `--max-seconds` (required, at most one day) or on SIGINT/SIGTERM, and removes
//! its socket file.

use mediaproxy::relay::sys::{poll_any, SignalFd};
use mediaproxy::relay::RelayEvent;
use mediaproxy::remote::dispatcher::DispatcherConfig;
use mediaproxy::remote::front::Front;
use mediaproxy::remote::tls::TlsFiles;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: bench-dispatcher --socket PATH --listen IP:PORT --cert FILE --key FILE \
                     --ca FILE [--relay-timeout-ms N] --max-seconds N";

struct Args {
    socket: PathBuf,
    listen: SocketAddr,
    tls: TlsFiles,
    relay_timeout: Duration,
    max_seconds: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut socket = None;
    let mut listen = None;
    let mut tls = TlsFiles::default();
    let mut relay_timeout = DispatcherConfig::default().relay_timeout;
    let mut max_seconds = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it
            .next()
            .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))?;
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{a}: not a number: {v}"))
        };
        match a.as_str() {
            "--socket" => socket = Some(PathBuf::from(v)),
            "--listen" => {
                listen = Some(
                    v.parse::<SocketAddr>()
                        .map_err(|_| format!("--listen: not IP:PORT: {v}"))?,
                )
            }
            "--cert" => tls.cert = PathBuf::from(v),
            "--key" => tls.key = PathBuf::from(v),
            "--ca" => tls.ca = PathBuf::from(v),
            "--relay-timeout-ms" => relay_timeout = Duration::from_millis(number(&v)?.max(1)),
            "--max-seconds" => max_seconds = Some(number(&v)?.clamp(1, 86_400)),
            _ => return Err(format!("unknown argument {a}\n{USAGE}")),
        }
    }
    let missing = |what: &str| format!("{what} is required\n{USAGE}");
    for (name, f) in [
        ("--cert", &tls.cert),
        ("--key", &tls.key),
        ("--ca", &tls.ca),
    ] {
        if f.as_os_str().is_empty() {
            return Err(missing(name));
        }
    }
    Ok(Args {
        socket: socket.ok_or_else(|| missing("--socket"))?,
        listen: listen.ok_or_else(|| missing("--listen"))?,
        tls,
        relay_timeout,
        max_seconds: max_seconds.ok_or_else(|| missing("--max-seconds"))?,
    })
}

fn print_event(ev: RelayEvent) {
    match ev {
        RelayEvent::Log { level, text } => eprintln!("bench-dispatcher: {level:?}: {text}"),
        RelayEvent::Expired {
            call_id,
            stats_json,
            ..
        } => eprintln!("bench-dispatcher: session {call_id} ended on its relay: {stats_json}"),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // before any thread exists: SIGINT/SIGTERM arrive on a descriptor
    let signals = match SignalFd::termination() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench-dispatcher: signalfd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = DispatcherConfig {
        listen: Some(args.listen),
        tls: args.tls,
        relay_timeout: args.relay_timeout,
        ..DispatcherConfig::default()
    };
    let front = match Front::start(cfg, &args.socket, None) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bench-dispatcher: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "bench-dispatcher: control socket {}, relays connect to {}",
        args.socket.display(),
        front
            .listen_addr()
            .map_or_else(|| "-".to_string(), |a| a.to_string())
    );
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let why = loop {
        let now = Instant::now();
        if now >= deadline {
            break "--max-seconds reached".to_string();
        }
        let fds = [(signals.as_raw_fd(), false), (front.event_fd(), false)];
        if let Err(e) = poll_any(&fds, (deadline - now).min(Duration::from_secs(1))) {
            break format!("poll: {e}");
        }
        if let Some(sig) = signals.read() {
            break format!("signal {sig}");
        }
        for ev in front.drain_events() {
            print_event(ev);
        }
    };
    eprintln!("bench-dispatcher: {why}, stopping");
    front.shutdown();
    ExitCode::SUCCESS
}
