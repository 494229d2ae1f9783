//! The control connection every script function shares (one per process, opened lazily), its
//! counters, the session-end hook, and the management commands (`sessions`, `summary`,
//! terminate by Call-ID).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{report, Level, Logger, ScriptError};
use crate::config::{Config, RelayMode};
use crate::control::client::{Client, ClientConfig, ClientError};
use crate::control::UpdateRequest;

/// Control-connection counters, shared by every process when the host places them in shared
/// memory ([`set_client_stats`]).
#[repr(C)]
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub timeouts: AtomicU64,
    /// Keep-alives sent by `natping_interval`.
    pub natpings: AtomicU64,
}

static CLIENT_STATS: once_cell::sync::OnceCell<&'static ClientStats> =
    once_cell::sync::OnceCell::new();

/// Where to count control requests (set once by the host before it forks).
pub fn set_client_stats(s: &'static ClientStats) {
    let _ = CLIENT_STATS.set(s);
}

fn count<T>(r: &Result<T, ClientError>) {
    let Some(s) = CLIENT_STATS.get() else { return };
    s.requests.fetch_add(1, Ordering::Relaxed);
    match r {
        Ok(_) => {}
        Err(ClientError::Timeout) => {
            s.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {
            s.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

thread_local! {
    /// This process's control connection.
    static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
}

/// Runs `f` on this process's connection, counting the request.
fn with_client<R>(
    cfg: &Config,
    f: impl FnOnce(&mut Client) -> Result<R, ClientError>,
) -> Result<R, ClientError> {
    let r = CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        // one connection per process; settings that differ from the connection's (only
        // tests change them within a process) get a new one
        let stale = c.as_ref().is_some_and(|c| {
            c.config().socket != cfg.mediaproxy_socket
                || c.config().timeout != cfg.mediaproxy_timeout
        });
        if stale {
            *c = None;
        }
        let client = c.get_or_insert_with(|| {
            Client::new(ClientConfig {
                socket: cfg.mediaproxy_socket.clone(),
                timeout: cfg.mediaproxy_timeout,
                ..ClientConfig::default()
            })
        });
        f(client)
    });
    count(&r);
    r
}

/// Sends an `update` and returns the relay's answer.
pub fn update(cfg: &Config, req: &UpdateRequest) -> Result<crate::media::RelayAnswer, ClientError> {
    with_client(cfg, |c| c.update(req))
}

/// Sends a `copy` (media copies, our relay only).
pub(crate) fn copy(
    cfg: &Config,
    req: &crate::control::copy::CopyRequest,
) -> Result<Option<crate::media::RelayAnswer>, ClientError> {
    with_client(cfg, |c| c.copy(req))
}

/// Sends a `record` (recordings, our relay only): the file for a start.
pub(crate) fn record(
    cfg: &Config,
    req: &crate::control::record::RecordRequest,
) -> Result<Option<String>, ClientError> {
    with_client(cfg, |c| c.record(req))
}

/// Called once per ended session with why it ended and the relay's statistics (JSON), so a
/// host can raise its own event (set once by the host before it forks).
pub type SessionEndHook = fn(reason: &str, stats_json: &str);

static SESSION_END: once_cell::sync::OnceCell<SessionEndHook> = once_cell::sync::OnceCell::new();

pub fn set_session_end_hook(h: SessionEndHook) {
    let _ = SESSION_END.set(h);
}

/// Reports an ended session to the host's hook (also for sessions the relay ended itself).
pub fn session_ended(reason: &str, stats_json: &str) {
    if let Some(h) = SESSION_END.get() {
        h(reason, stats_json);
    }
}

/// Whether a `remove`'s answer is a session the session-end hook already saw: an embedded
/// relay reports a session when it expires (its `Expired` event: a timeout, or every stream an
/// unselected ICE candidate) and answers a later `remove` for it (the dialog that timeout
/// ended, a BYE) from the session's tombstone, marked `timed_out` or `all_streams_ice`. An
/// external relay's expiries reach the module only this way.
fn reported_at_expiry(cfg: &Config, stats_json: &str) -> bool {
    if cfg.relay_mode != RelayMode::Embedded {
        return false;
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(stats_json) else {
        return false;
    };
    let flag = |k: &str| v.get(k).and_then(serde_json::Value::as_bool) == Some(true);
    flag("timed_out") || flag("all_streams_ice")
}

/// Sends `remove` for a session; 1 on success, -1 otherwise (logged). `reason` says why the
/// session ends (for the session-end event): `bye`, `dialog ended`, `mi`, ...
pub fn remove_session(
    log: &dyn Logger,
    cfg: &Config,
    call_id: &str,
    from_tag: &str,
    to_tag: &str,
    reason: &str,
) -> i32 {
    let r = remove(log, cfg, call_id, from_tag, to_tag, reason);
    report(log, "end_media_session", r)
}

/// `remove`, its failure as a [`ScriptError`].
pub(super) fn remove(
    log: &dyn Logger,
    cfg: &Config,
    call_id: &str,
    from_tag: &str,
    to_tag: &str,
    reason: &str,
) -> Result<i32, ScriptError> {
    let stats = with_client(cfg, |c| c.remove(call_id, from_tag, to_tag)).map_err(|error| {
        ScriptError::Relay {
            call_id: call_id.to_string(),
            error,
        }
    })?;
    if let Some(s) = stats {
        log.log(
            Level::Info,
            "end_media_session",
            format_args!("Call-ID {call_id} ({reason}): {s}"),
        );
        if !reported_at_expiry(cfg, &s) {
            session_ended(reason, &s);
        }
    }
    Ok(1)
}

/// A management command to the relay (`sessions`, `summary`): its one JSON line.
pub fn relay_command(cfg: &Config, cmd: &str) -> Result<String, String> {
    with_client(cfg, |c| c.command(cmd)).map_err(|e| e.to_string())
}

/// Drains remote relay `name` (MI/RPC `relay_drain`): it takes no new calls and exits once
/// its running ones have ended. Returns the reply's JSON.
pub fn drain_relay(cfg: &Config, name: &str) -> Result<String, String> {
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!("bad relay name {name:?}"));
    }
    match relay_command(cfg, &format!("drain {name}")) {
        Ok(l) if l.trim() == "halting" => {
            Ok(serde_json::json!({ "relay": name, "state": "halting" }).to_string())
        }
        Ok(l) => Err(format!("relay {name}: unexpected answer {l:?}")),
        Err(e) => Err(format!(
            "cannot drain relay {name}: {e} (not a connected relay?)"
        )),
    }
}

/// Ends every relay session of a Call-ID (MI, RPC): asks the relay for their tags, sends
/// `remove` for each. Returns how many were ended.
pub fn end_sessions_by_call_id(
    log: &dyn Logger,
    cfg: &Config,
    call_id: &str,
) -> Result<usize, String> {
    let tags = with_client(cfg, |c| c.tags(call_id)).map_err(|e| e.to_string())?;
    let ended = tags
        .iter()
        .filter(|(from_tag, to_tag)| remove_session(log, cfg, call_id, from_tag, to_tag, "mi") == 1)
        .count();
    Ok(ended)
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
