//! The AVPs named by `signaling_ip_avp`, `media_relay_avp` and `ice_candidate_avp`: looked up
//! in the core's pseudo-variable cache in `mod_init` (main process; the cache is inherited by
//! every child) and read per message.

use std::ffi::c_void;

use once_cell::sync::OnceCell;

use super::sys::{self, sip_msg};
use crate::config::Config;
use crate::script::Avp;

/// A spec in the core's cache, alive for the whole process.
struct Spec(*mut c_void);

// SAFETY: specs are looked up in the main process before any fork and only read afterwards;
// every process has its own copy and uses it from its one host thread.
unsafe impl Send for Spec {}
// SAFETY: as above.
unsafe impl Sync for Spec {}

struct Avps {
    signaling_ip: Spec,
    media_relay: Spec,
    ice_candidate: Spec,
}

static AVPS: OnceCell<Avps> = OnceCell::new();

fn parse(param: &str, text: &str) -> Result<Spec, String> {
    // SAFETY: the core copies what it keeps of the text into its cache; called in mod_init.
    let spec = unsafe { sys::mpx_pv_parse(text.as_ptr() as *const _, text.len() as i32) };
    if spec.is_null() {
        return Err(format!(
            "invalid value {text:?} for modparam \"{param}\": the core cannot parse it as a variable"
        ));
    }
    Ok(Spec(spec))
}

/// Looks the three specs up (from `mod_init`).
pub fn init(cfg: &Config) -> Result<(), String> {
    let avps = Avps {
        signaling_ip: parse("signaling_ip_avp", &cfg.signaling_ip_avp)?,
        media_relay: parse("media_relay_avp", &cfg.media_relay_avp)?,
        ice_candidate: parse("ice_candidate_avp", &cfg.ice_candidate_avp)?,
    };
    let _ = AVPS.set(avps);
    Ok(())
}

/// The value of an AVP for `msg`, trimmed; `None` when unset or empty.
pub fn get(msg: *mut sip_msg, which: Avp) -> Option<String> {
    let a = AVPS.get()?;
    let spec = match which {
        Avp::SignalingIp => &a.signaling_ip,
        Avp::MediaRelay => &a.media_relay,
        Avp::IceCandidate => &a.ice_candidate,
    };
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
    match rc {
        1 => {
            let b = buf.get(..usize::try_from(len).ok()?)?;
            Some(String::from_utf8_lossy(b).trim().to_string()).filter(|v| !v.is_empty())
        }
        2 => Some(n.to_string()),
        _ => None,
    }
}
