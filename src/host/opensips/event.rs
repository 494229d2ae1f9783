//! The session-end event, `E_MEDIAPROXY_SESSION_END`, raised once per ended media session
//! (BYE, CANCEL, failure, dialog end, MI, media timeout) with the session's figures, so that
//! accounting can go to a log, a database or a queue through OpenSIPS's own event modules
//! (`event_route`, event_rabbitmq, event_kafka, ...).
//!
//! Parameters: the fields every host's session-end event carries
//! ([`crate::host::common::session_end`]).

use std::ffi::c_int;

use once_cell::sync::OnceCell;

use super::log::Level;
use super::sys::{self, str_};
use crate::host::common::session_end::Fields;

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
    let fields = Fields::new(reason, stats_json);
    let strs = &fields.text;
    let ints: Vec<(&str, c_int)> = fields
        .numbers
        .iter()
        .map(|&(n, x)| (n, x.min(c_int::MAX as u64) as c_int))
        .collect();
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
