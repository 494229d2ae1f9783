//! The AVPs named by `signaling_ip_avp`, `media_relay_avp` and `ice_candidate_avp`: parsed with
//! the core's own pseudo-variable parser in `mod_init` (attendant; inherited by every child) and
//! read per message.

use std::ffi::CString;

use once_cell::sync::OnceCell;

use super::sys::{self, mpx_pv_spec, sip_msg};
use crate::config::Config;

/// A parsed spec. Lives for the whole process (leaked on purpose: the core's spec may point
/// into the spec text, which therefore lives as long).
struct Spec(*mut mpx_pv_spec);

// SAFETY: specs are created in the attendant before any fork and only read afterwards; every
// process has its own copy and uses it from its one host thread.
unsafe impl Send for Spec {}
// SAFETY: as above.
unsafe impl Sync for Spec {}

pub struct Avps {
    signaling_ip: Spec,
    media_relay: Spec,
    ice_candidate: Spec,
}

static AVPS: OnceCell<Avps> = OnceCell::new();

fn parse(param: &str, text: &str) -> Result<Spec, String> {
    let c = CString::new(text).map_err(|_| format!("{param}: NUL byte in {text:?}"))?;
    let c: &'static CString = Box::leak(Box::new(c));
    let spec: &'static mut mpx_pv_spec = Box::leak(Box::new(mpx_pv_spec { opaque: [0; 14] }));
    // SAFETY: the text and the spec live for the rest of the process; called in the attendant.
    let rc = unsafe { sys::mpx_pv_parse(c.as_ptr(), text.len() as i32, spec) };
    if rc != 0 {
        return Err(format!(
            "invalid value {text:?} for modparam \"{param}\": the core cannot parse it as a variable"
        ));
    }
    Ok(Spec(spec))
}

/// Parses the three specs (from `mod_init`).
pub fn init(cfg: &Config) -> Result<(), String> {
    let avps = Avps {
        signaling_ip: parse("signaling_ip_avp", &cfg.signaling_ip_avp)?,
        media_relay: parse("media_relay_avp", &cfg.media_relay_avp)?,
        ice_candidate: parse("ice_candidate_avp", &cfg.ice_candidate_avp)?,
    };
    let _ = AVPS.set(avps);
    Ok(())
}

fn get(msg: *mut sip_msg, spec: &Spec) -> Option<String> {
    let mut s: *mut std::ffi::c_char = std::ptr::null_mut();
    let mut len: i32 = 0;
    let mut n: i32 = 0;
    // SAFETY: msg is the message being processed; spec was parsed by the core.
    let rc = unsafe { sys::mpx_pv_get(msg, spec.0, &mut s, &mut len, &mut n) };
    match rc {
        1 if !s.is_null() && len >= 0 => {
            // SAFETY: the core returned a string of `len` bytes valid until the next pv call.
            let b = unsafe { std::slice::from_raw_parts(s as *const u8, len as usize) };
            Some(String::from_utf8_lossy(b).trim().to_string()).filter(|v| !v.is_empty())
        }
        2 => Some(n.to_string()),
        _ => None,
    }
}

pub fn signaling_ip(msg: *mut sip_msg) -> Option<String> {
    AVPS.get().and_then(|a| get(msg, &a.signaling_ip))
}

pub fn media_relay(msg: *mut sip_msg) -> Option<String> {
    AVPS.get().and_then(|a| get(msg, &a.media_relay))
}

pub fn ice_candidate(msg: *mut sip_msg) -> Option<String> {
    AVPS.get().and_then(|a| get(msg, &a.ice_candidate))
}
