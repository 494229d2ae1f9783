//! The AVPs named by `signaling_ip_avp`, `media_relay_avp` and `ice_candidate_avp`: parsed with
//! the core's own pseudo-variable parser in `mod_init` (attendant; inherited by every child) and
//! read per message ([`crate::host::common::avp`] holds the three and names a refused one).

use std::ffi::CString;

use once_cell::sync::OnceCell;

use super::sys::{self, mpx_pv_spec, sip_msg};
use crate::config::Config;
use crate::host::common::avp::{value, Avps};
use crate::host::common::HostStatic;
use crate::script::Avp;

/// A parsed spec. Lives for the whole process (leaked on purpose: the core's spec may point
/// into the spec text, which therefore lives as long).
/// Created in the attendant before any fork, only read afterwards ([`HostStatic`]'s rule).
type Spec = HostStatic<*mut mpx_pv_spec>;

static AVPS: OnceCell<Avps<Spec>> = OnceCell::new();

fn parse(text: &str) -> Option<Spec> {
    let c: &'static CString = Box::leak(Box::new(CString::new(text).ok()?));
    let spec: &'static mut mpx_pv_spec = Box::leak(Box::new(mpx_pv_spec { opaque: [0; 14] }));
    // SAFETY: the text and the spec live for the rest of the process; called in the attendant.
    let rc = unsafe { sys::mpx_pv_parse(c.as_ptr(), text.len() as i32, spec) };
    (rc == 0).then_some(HostStatic(spec as *mut mpx_pv_spec))
}

/// Parses the three specs (from `mod_init`).
pub fn init(cfg: &Config) -> Result<(), String> {
    let _ = AVPS.set(Avps::parse(cfg, parse)?);
    Ok(())
}

/// The value of an AVP for `msg`, trimmed; `None` when unset or empty.
pub fn get(msg: *mut sip_msg, which: Avp) -> Option<String> {
    let spec = AVPS.get()?.spec(which);
    let mut s: *mut std::ffi::c_char = std::ptr::null_mut();
    let mut len: i32 = 0;
    let mut n: i32 = 0;
    // SAFETY: msg is the message being processed; spec was parsed by the core.
    let rc = unsafe { sys::mpx_pv_get(msg, spec.0, &mut s, &mut len, &mut n) };
    if rc == 1 && (s.is_null() || len < 0) {
        return None;
    }
    let text = match rc {
        // SAFETY: the core returned a string of `len` bytes valid until the next pv call.
        1 => unsafe { std::slice::from_raw_parts(s as *const u8, len as usize) },
        _ => &[],
    };
    value(rc, text, n)
}
