//! The media relay without OpenSIPS: the same engine and control socket as the module's relay
//! process, for tests, benchmarks and as a drop-in MediaProxy dispatcher+relay.
//!
//! ```text
//! mediaproxy-relay --socket PATH [--listen-ip IP] [--advertised-ip IP] [--port-range MIN-MAX]
//!                  [--threads N] [--relay-io auto|io_uring|epoll] [--ring-buffers N] [--batch-wait-us N]
//!                  [--connected-sockets 0|1]
//!                  [--setup-timeout S] [--media-timeout S] [--hold-timeout S]
//!                  [--quarantine S] [--latch-policy heuristic|signalling] [--signaling-source-only]
//!                  [--learn-window-ms N] [--max-streams N] [--max-sessions N] [--max-packet-rate N]
//!                  [--max-seconds N] [--verbose]
//! ```
//! The relay options, their defaults and bounds are the settings table's (`--help` lists them;
//! the same as the module's `modparam`s).
//! Logs go to stderr. SIGINT/SIGTERM or `--max-seconds` stop it (the socket file is removed).

use mediaproxy::relay::serve::{serve, Stop};
use mediaproxy::relay::sys::SignalFd;
use mediaproxy::relay::{Counters, LogLevel, Relay, RelayEvent};
use mediaproxy::settings::{self, LatchMode, Origin, RelayConfig, Settings, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn usage() -> String {
    let mut u = String::from(
        "usage: mediaproxy-relay --socket PATH [OPTION VALUE]... [--signaling-source-only] \
         [--max-seconds N] [--verbose]\n\n  --socket PATH\n      the control socket to serve \
         (required)\n",
    );
    u.push_str(&settings::options_help());
    u.push_str(
        "  --signaling-source-only\n      the same as --latch-policy signalling\n  \
         --max-seconds N\n      stop after N seconds\n  --verbose, -v\n      log debug lines too",
    );
    u
}

struct Args {
    socket: PathBuf,
    cfg: RelayConfig,
    max_seconds: Option<u64>,
    verbose: bool,
}

/// The relay settings' options are the rows of the settings table (the same bounds as the
/// module's `modparam`s); the rest are this program's own.
fn parse_args() -> Result<Args, String> {
    let mut s = Settings::default();
    let mut socket = None;
    let mut max_seconds = None;
    let mut verbose = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--socket" => socket = Some(PathBuf::from(val("--socket")?)),
            "--max-seconds" => {
                let v = val(&a)?;
                max_seconds = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("{a}: not a number of seconds: {v}"))?,
                );
            }
            "--signaling-source-only" => s.relay.latch_mode = LatchMode::Signalling,
            "--verbose" | "-v" => verbose = true,
            "--help" | "-h" => return Err(usage()),
            other => match settings::by_option(other) {
                Some(spec) => {
                    let v = val(other)?;
                    s.set(spec, Value::Text(&v), Origin::Option)
                        .map_err(|e| e.to_string())?;
                }
                None => return Err(format!("unknown argument {other}\n{}", usage())),
            },
        }
    }
    let socket = socket.ok_or_else(|| format!("--socket is required\n{}", usage()))?;
    Ok(Args {
        socket,
        cfg: s.relay,
        max_seconds,
        verbose,
    })
}

/// One relay event on stderr (debug lines only with `--verbose`).
fn print_event(ev: RelayEvent, verbose: bool) {
    match ev {
        RelayEvent::Log { level, text } => {
            if level != LogLevel::Debug || verbose {
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
    let verbose = args.verbose;
    let stop = serve(&relay, &signals, deadline, |events| {
        for ev in events {
            print_event(ev, verbose);
        }
    });
    match stop {
        Ok(Stop::Signal(sig)) => eprintln!("mediaproxy-relay: signal {sig}, stopping"),
        Ok(Stop::Deadline) => eprintln!("mediaproxy-relay: --max-seconds reached, stopping"),
        Err(e) => eprintln!("mediaproxy-relay: poll: {e}, stopping"),
    }
    relay.shutdown();
    ExitCode::SUCCESS
}
