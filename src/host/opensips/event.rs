//! The session-end event, `E_MEDIAPROXY_SESSION_END`, raised once per ended media session
//! (BYE, CANCEL, failure, dialog end, MI, media timeout) with the session's figures, so that
//! accounting can go to a log, a database or a queue through OpenSIPS's own event modules
//! (`event_route`, event_rabbitmq, event_kafka, ...).
//!
//! Parameters: `call_id`, `from_tag`, `to_tag`, `reason`, `duration` (s), `streams`,
//! `caller_packets`, `callee_packets`, `caller_bytes`, `callee_bytes` (sums over the streams),
//! `caller_codec`, `callee_codec` (first stream), `timed_out` (0/1), `stats` (the relay's JSON).

use std::ffi::c_int;

use once_cell::sync::OnceCell;
use serde_json::Value;

use super::log::Level;
use super::sys::{self, str_};

pub const NAME: &str = "E_MEDIAPROXY_SESSION_END";
static ID: OnceCell<c_int> = OnceCell::new();

/// Publishes the event (from `mod_init`).
pub fn init() -> Result<(), String> {
    // SAFETY: the name is a static literal; called in the attendant.
    let id = unsafe { sys::mpx_evi_publish(NAME.as_ptr() as *const _, NAME.len() as c_int) };
    if id < 0 {
        return Err(format!("cannot publish the event {NAME}"));
    }
    let _ = ID.set(id);
    Ok(())
}

fn sum(streams: &[Value], key: &str) -> c_int {
    let total: u64 = streams
        .iter()
        .filter_map(|s| s.get(key).and_then(Value::as_u64))
        .sum();
    total.min(c_int::MAX as u64) as c_int
}

fn as_str(s: &str) -> str_ {
    str_ {
        s: s.as_ptr() as *mut _,
        len: s.len() as c_int,
    }
}

/// Raises the event for one ended session (the script layer's session-end hook).
pub fn session_ended(reason: &str, stats_json: &str) {
    let Some(&id) = ID.get() else { return };
    // SAFETY: a plain query of the core's subscriber list.
    if unsafe { sys::mpx_evi_probe(id) } <= 0 {
        return; // nobody listens
    }
    let v: Value = serde_json::from_str(stats_json).unwrap_or(Value::Null);
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let streams: Vec<Value> = v
        .get("streams")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let first = |k: &str| {
        streams
            .first()
            .and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let strs: Vec<(&str, String)> = vec![
        ("call_id", text("call_id")),
        ("from_tag", text("from_tag")),
        ("to_tag", text("to_tag")),
        ("reason", reason.to_string()),
        ("caller_codec", first("caller_codec")),
        ("callee_codec", first("callee_codec")),
        ("stats", stats_json.to_string()),
    ];
    let ints: Vec<(&str, c_int)> = vec![
        (
            "duration",
            v.get("duration")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(c_int::MAX as u64) as c_int,
        ),
        ("streams", streams.len().min(c_int::MAX as usize) as c_int),
        ("caller_packets", sum(&streams, "caller_packets")),
        ("callee_packets", sum(&streams, "callee_packets")),
        ("caller_bytes", sum(&streams, "caller_bytes")),
        ("callee_bytes", sum(&streams, "callee_bytes")),
        (
            "timed_out",
            c_int::from(v.get("timed_out").and_then(Value::as_bool).unwrap_or(false)),
        ),
    ];
    // names and values must stay alive until the event is raised: they live in these vectors
    let names: Vec<str_> = strs
        .iter()
        .map(|(n, _)| as_str(n))
        .chain(ints.iter().map(|(n, _)| as_str(n)))
        .collect();
    let values: Vec<str_> = strs.iter().map(|(_, s)| as_str(s)).collect();
    // SAFETY: allocates the core's parameter list in this process.
    let list = unsafe { sys::mpx_evi_params() };
    if list.is_null() {
        host_log!(Level::Err, "event", "no memory for the {NAME} parameters");
        return;
    }
    let mut ok = true;
    for (i, val) in values.iter().enumerate() {
        // SAFETY: list is live; name and value point into vectors that outlive the raise.
        ok &= unsafe { sys::mpx_evi_add_str(list, &names[i], val) } == 0;
    }
    for (j, (_, n)) in ints.iter().enumerate() {
        // SAFETY: as above; the int is copied.
        ok &= unsafe { sys::mpx_evi_add_int(list, &names[values.len() + j], *n) } == 0;
    }
    if !ok {
        host_log!(Level::Err, "event", "cannot build the {NAME} parameters");
    }
    // SAFETY: raises and frees the list; our strings are still alive here.
    if unsafe { sys::mpx_evi_raise(id, list) } < 0 {
        host_log!(Level::Err, "event", "cannot raise {NAME}");
    }
}
