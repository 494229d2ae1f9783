//! The media relay without OpenSIPS: the same engine and control socket as the module's relay
//! process, for tests, benchmarks and as a drop-in MediaProxy dispatcher+relay.
//!
//! ```text
//! mediaproxy-relay [--socket PATH] [--dispatcher HOST:PORT --cert F --key F --ca F [--drain-timeout S]]
//!                  [--listen-ip IP] [--advertised-ip IP] [--port-range MIN-MAX]
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
//!
//! With `--dispatcher` the relay also connects out to a dispatcher (the module's
//! `relay_listen`, or MediaProxy's dispatcher) over TLS with its certificate and serves it the
//! same requests as its socket (which then defaults to a private path). SIGINT/SIGTERM then
//! drain it: new sessions are answered `halting`, running ones are relayed until they end or
//! `--drain-timeout` passes, then it exits; a second signal stops it at once.

use mediaproxy::relay::serve::{serve, Stop};
use mediaproxy::relay::sys::SignalFd;
use mediaproxy::relay::{Counters, LogLevel, Relay, RelayEvent};
use mediaproxy::remote::tls::TlsFiles;
use mediaproxy::remote::uplink::{Uplink, UplinkConfig};
use mediaproxy::settings::{self, LatchMode, Origin, RelayConfig, Settings, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn usage() -> String {
    let mut u = String::from(
        "usage: mediaproxy-relay [--socket PATH] [--dispatcher HOST:PORT --cert FILE --key FILE \
         --ca FILE [--drain-timeout S]] [OPTION VALUE]... [--signaling-source-only] \
         [--max-seconds N] [--verbose]\n\n  --socket PATH\n      the control socket to serve \
         (required without --dispatcher)\n  --dispatcher HOST:PORT\n      connect to this \
         dispatcher over TLS and serve it (the module's relay_listen)\n  --cert FILE, --key FILE, \
         --ca FILE\n      this relay's certificate and key, the CA of the dispatcher's (PEM)\n  \
         --drain-timeout S\n      on SIGTERM, relay running calls at most this long (default: \
         until they end)\n",
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
    /// `--dispatcher` and its TLS files.
    uplink: Option<(String, TlsFiles)>,
    drain_timeout: Option<Duration>,
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
    let mut dispatcher = None;
    let mut tls = TlsFiles::default();
    let mut drain_timeout = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--socket" => socket = Some(PathBuf::from(val("--socket")?)),
            "--dispatcher" => dispatcher = Some(val(&a)?),
            "--cert" => tls.cert = PathBuf::from(val(&a)?),
            "--key" => tls.key = PathBuf::from(val(&a)?),
            "--ca" => tls.ca = PathBuf::from(val(&a)?),
            "--drain-timeout" => {
                let v = val(&a)?;
                drain_timeout = Some(Duration::from_secs(
                    v.parse::<u64>()
                        .map_err(|_| format!("{a}: not a number of seconds: {v}"))?,
                ));
            }
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
    let uplink = match dispatcher {
        Some(d) => {
            for (name, f) in [
                ("--cert", &tls.cert),
                ("--key", &tls.key),
                ("--ca", &tls.ca),
            ] {
                if f.as_os_str().is_empty() {
                    return Err(format!("--dispatcher needs {name}\n{}", usage()));
                }
            }
            Some((d, tls))
        }
        None if tls != TlsFiles::default() || drain_timeout.is_some() => {
            return Err(format!(
                "--cert, --key, --ca and --drain-timeout go with --dispatcher\n{}",
                usage()
            ))
        }
        None => None,
    };
    let socket = match (socket, &uplink) {
        (Some(s), _) => s,
        (None, Some(_)) => {
            std::env::temp_dir().join(format!("mediaproxy-relay.{}.sock", std::process::id()))
        }
        (None, None) => return Err(format!("--socket is required\n{}", usage())),
    };
    Ok(Args {
        socket,
        uplink,
        drain_timeout,
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
    let uplink = match &args.uplink {
        Some((dispatcher, files)) => {
            let log = Arc::new(move |level: LogLevel, text: String| {
                if level != LogLevel::Debug || verbose {
                    eprintln!("mediaproxy-relay: {level:?}: {text}");
                }
            });
            let cfg =
                UplinkConfig::new(dispatcher.clone(), files.clone(), args.socket.clone(), log);
            match Uplink::start(cfg) {
                Ok(u) => Some(u),
                Err(e) => {
                    eprintln!("mediaproxy-relay: cannot start the dispatcher link: {e}");
                    relay.shutdown();
                    return ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    // with a dispatcher link, the loop wakes every second to see whether a drain has ended
    let mut draining_until: Option<Option<Instant>> = None;
    let why = loop {
        let tick = Instant::now() + Duration::from_secs(1);
        let until = match (&uplink, deadline) {
            (None, d) => d,
            (Some(_), Some(d)) => Some(d.min(tick)),
            (Some(_), None) => Some(tick),
        };
        let stop = serve(&relay, &signals, until, |events| {
            for ev in events {
                if let (Some(u), RelayEvent::Expired { stats_json, .. }) = (&uplink, &ev) {
                    u.expired(stats_json);
                }
                print_event(ev, verbose);
            }
        });
        match stop {
            Ok(Stop::Signal(sig)) => match &uplink {
                Some(u) if draining_until.is_none() => {
                    eprintln!(
                        "mediaproxy-relay: signal {sig}, draining: no new sessions, running ones until they end{}",
                        args.drain_timeout
                            .map(|t| format!(" or {} s pass", t.as_secs()))
                            .unwrap_or_default()
                    );
                    u.drain();
                    draining_until = Some(args.drain_timeout.map(|t| Instant::now() + t));
                }
                _ => break format!("signal {sig}, stopping"),
            },
            Ok(Stop::Deadline) => {}
            Err(e) => break format!("poll: {e}, stopping"),
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break "--max-seconds reached, stopping".into();
        }
        if let Some(u) = &uplink {
            if u.is_draining() && draining_until.is_none() {
                // drained on the dispatcher's request
                draining_until = Some(args.drain_timeout.map(|t| now + t));
            }
            if u.is_drained() {
                break "drained, stopping".into();
            }
            if let Some(Some(d)) = draining_until {
                if now >= d {
                    break "--drain-timeout reached, stopping".into();
                }
            }
        }
    };
    eprintln!("mediaproxy-relay: {why}");
    drop(uplink);
    relay.shutdown();
    ExitCode::SUCCESS
}
