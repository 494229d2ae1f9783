//! The AVPs named by `signaling_ip_avp`, `media_relay_avp` and `ice_candidate_avp`: looked up
//! in the core's pseudo-variable cache in `mod_init` (main process; the cache is inherited by
//! every child) and read per message ([`crate::host::common::avp`] holds the three and names
//! a refused one).

use std::ffi::c_void;

use once_cell::sync::OnceCell;

use super::sys::{self, sip_msg};
use crate::config::Config;
use crate::host::common::avp::{value, Avps};
use crate::host::common::HostStatic;
use crate::script::Avp;

/// A spec in the core's cache, alive for the whole process.
/// Created in the attendant before any fork, only read afterwards ([`HostStatic`]'s rule).
type Spec = HostStatic<*mut c_void>;

static AVPS: OnceCell<Avps<Spec>> = OnceCell::new();

/// The core's cached spec for exactly this text, or `None`.
fn parse(text: &str) -> Option<Spec> {
    // SAFETY: the core copies what it keeps of the text into its cache; called in mod_init.
    let spec = unsafe { sys::mpx_pv_parse(text.as_ptr() as *const _, text.len() as i32) };
    (!spec.is_null()).then_some(HostStatic(spec))
}

/// Looks the three specs up (from `mod_init`).
pub fn init(cfg: &Config) -> Result<(), String> {
    let _ = AVPS.set(Avps::parse(cfg, parse)?);
    Ok(())
}

/// The value of an AVP for `msg`, trimmed; `None` when unset or empty.
pub fn get(msg: *mut sip_msg, which: Avp) -> Option<String> {
    let spec = AVPS.get()?.spec(which);
    let mut buf = [0u8; 256];
    let (mut len, mut n) = (0i32, 0i32);
    // SAFETY: msg is the message being processed; the spec came from the core's cache; the
    // shim copies at most buf.len() bytes into buf.
    let rc = unsafe {
        sys::mpx_pv_get(
            msg,
            spec.0,
            buf.as_mut_ptr() as *mut _,
            buf.len() as i32,
            &mut len,
            &mut n,
        )
    };
    let text = buf.get(..usize::try_from(len).unwrap_or(0)).unwrap_or(&[]);
    value(rc, text, n)
}
