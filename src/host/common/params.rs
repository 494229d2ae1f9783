//! The modparam table and the storage the core writes the values into, shared by every host:
//! OpenSIPS and the SER family declare `param_export_t` alike (`{ char *name; unsigned int
//! type; void *param_pointer; }`, 24 bytes) with the same type codes (string = 1, int = 2),
//! and both store a string parameter as a NUL-terminated `char*` copy that they never free
//! (OpenSIPS `strdup`s it, Kamailio copies it into pkg memory of the attendant, inherited by
//! every child) and an int parameter as an `int`. Each host layer checks its own declaration
//! against [`ParamExport`] at compile time.
//!
//! Read once, in `mod_init`, into [`RawParams`].

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_void, CStr};

use crate::config::RawParams;

/// A string parameter (OpenSIPS `STR_PARAM`, Kamailio `PARAM_STRING`).
pub const STR_PARAM: u32 = 1;
/// An integer parameter (OpenSIPS `INT_PARAM`, Kamailio `PARAM_INT`).
pub const INT_PARAM: u32 = 2;

/// One row of the host's `param_export_t` table.
#[repr(C)]
pub struct ParamExport {
    pub name: *const c_char,
    pub type_: u32,
    pub param_pointer: *mut c_void,
}
const _: () = assert!(std::mem::size_of::<ParamExport>() == 24);
const _: () = assert!(std::mem::offset_of!(ParamExport, type_) == 8);
const _: () = assert!(std::mem::offset_of!(ParamExport, param_pointer) == 16);

/// A cell the core writes through a raw pointer during config parsing (attendant, before
/// `mod_init`, single-threaded), and the module reads afterwards.
#[repr(transparent)]
pub struct Slot<T>(UnsafeCell<T>);

// SAFETY: written only by the core while parsing the config (single thread, before any fork
// or thread exists) and only read afterwards.
unsafe impl<T> Sync for Slot<T> {}

impl<T: Copy> Slot<T> {
    pub const fn new(v: T) -> Self {
        Slot(UnsafeCell::new(v))
    }
    pub const fn ptr(&self) -> *mut T {
        self.0.get()
    }
    fn get(&self) -> T {
        // SAFETY: see the Sync impl: no concurrent writer exists when the module reads.
        unsafe { *self.0.get() }
    }
}

type StrSlot = Slot<*mut c_char>;
type IntSlot = Slot<c_int>;

/// INT parameters start at this marker so that "not set" can be told from any real value.
const UNSET: c_int = c_int::MIN;

macro_rules! slots {
    ($( $name:ident : $kind:ident ),* $(,)?) => {
        $( pub static $name: slots!(@ty $kind) = slots!(@init $kind); )*
    };
    (@ty str) => { StrSlot };
    (@ty int) => { IntSlot };
    (@init str) => { Slot::new(std::ptr::null_mut()) };
    (@init int) => { Slot::new(UNSET) };
}

slots! {
    DISABLE: int,
    MEDIAPROXY_SOCKET: str,
    MEDIAPROXY_TIMEOUT: int,
    SIGNALING_IP_AVP: str,
    MEDIA_RELAY_AVP: str,
    ICE_CANDIDATE: str,
    ICE_CANDIDATE_AVP: str,
    SIP_ASYMMETRICS: str,
    RTP_ASYMMETRICS: str,
    NATPING_INTERVAL: int,
    RELAY_MODE: str,
    LISTEN_IP: str,
    ADVERTISED_IP: str,
    PORT_RANGE: str,
    RELAY_THREADS: int,
    RELAY_IO: str,
    RELAY_BATCH_WAIT: int,
    RELAY_CONNECTED_SOCKETS: int,
    SETUP_TIMEOUT: int,
    MEDIA_TIMEOUT: int,
    HOLD_TIMEOUT: int,
    LEARN_FROM_SIGNALING_IP: int,
    LATCH_POLICY: str,
    RELAY_MAX_STREAMS: int,
    RELAY_MAX_SESSIONS: int,
    RELAY_MAX_PACKET_RATE: int,
}

const fn p(name: &'static CStr, ty: u32, ptr: *mut c_void) -> ParamExport {
    ParamExport {
        name: name.as_ptr(),
        type_: ty,
        param_pointer: ptr,
    }
}
const fn s(name: &'static CStr, slot: &'static StrSlot) -> ParamExport {
    p(name, STR_PARAM, slot.ptr() as *mut c_void)
}
const fn i(name: &'static CStr, slot: &'static IntSlot) -> ParamExport {
    p(name, INT_PARAM, slot.ptr() as *mut c_void)
}

/// The `params` table, terminated by a NULL name.
#[repr(transparent)]
pub struct ParamTable(pub [ParamExport; 27]);
// SAFETY: read-only after construction; the pointers it holds refer to the slots above.
unsafe impl Sync for ParamTable {}

pub static PARAMS: ParamTable = ParamTable([
    i(c"disable", &DISABLE),
    s(c"mediaproxy_socket", &MEDIAPROXY_SOCKET),
    i(c"mediaproxy_timeout", &MEDIAPROXY_TIMEOUT),
    s(c"signaling_ip_avp", &SIGNALING_IP_AVP),
    s(c"media_relay_avp", &MEDIA_RELAY_AVP),
    s(c"ice_candidate", &ICE_CANDIDATE),
    s(c"ice_candidate_avp", &ICE_CANDIDATE_AVP),
    s(c"sip_asymmetrics", &SIP_ASYMMETRICS),
    s(c"rtp_asymmetrics", &RTP_ASYMMETRICS),
    i(c"natping_interval", &NATPING_INTERVAL),
    s(c"relay_mode", &RELAY_MODE),
    s(c"listen_ip", &LISTEN_IP),
    s(c"advertised_ip", &ADVERTISED_IP),
    s(c"port_range", &PORT_RANGE),
    i(c"relay_threads", &RELAY_THREADS),
    s(c"relay_io", &RELAY_IO),
    i(c"relay_batch_wait", &RELAY_BATCH_WAIT),
    i(c"relay_connected_sockets", &RELAY_CONNECTED_SOCKETS),
    i(c"setup_timeout", &SETUP_TIMEOUT),
    i(c"media_timeout", &MEDIA_TIMEOUT),
    i(c"hold_timeout", &HOLD_TIMEOUT),
    i(c"learn_from_signaling_ip", &LEARN_FROM_SIGNALING_IP),
    s(c"latch_policy", &LATCH_POLICY),
    i(c"relay_max_streams", &RELAY_MAX_STREAMS),
    i(c"relay_max_sessions", &RELAY_MAX_SESSIONS),
    i(c"relay_max_packet_rate", &RELAY_MAX_PACKET_RATE),
    ParamExport {
        name: std::ptr::null(),
        type_: 0,
        param_pointer: std::ptr::null_mut(),
    },
]);

fn read_str(slot: &StrSlot) -> Option<String> {
    let p = slot.get();
    if p.is_null() {
        return None;
    }
    // SAFETY: the core stored a strdup()ed, NUL-terminated string that is never freed.
    let c = unsafe { CStr::from_ptr(p) };
    Some(c.to_string_lossy().into_owned())
}

fn read_int(slot: &IntSlot) -> Option<i32> {
    match slot.get() {
        UNSET => None,
        v => Some(v),
    }
}

/// Copies every parameter as the script set it.
pub fn read_raw() -> RawParams {
    RawParams {
        disable: read_int(&DISABLE).unwrap_or(0),
        mediaproxy_socket: read_str(&MEDIAPROXY_SOCKET),
        mediaproxy_timeout: read_int(&MEDIAPROXY_TIMEOUT),
        signaling_ip_avp: read_str(&SIGNALING_IP_AVP),
        media_relay_avp: read_str(&MEDIA_RELAY_AVP),
        ice_candidate: read_str(&ICE_CANDIDATE),
        ice_candidate_avp: read_str(&ICE_CANDIDATE_AVP),
        sip_asymmetrics: read_str(&SIP_ASYMMETRICS),
        rtp_asymmetrics: read_str(&RTP_ASYMMETRICS),
        natping_interval: read_int(&NATPING_INTERVAL),
        relay_mode: read_str(&RELAY_MODE),
        listen_ip: read_str(&LISTEN_IP),
        advertised_ip: read_str(&ADVERTISED_IP),
        port_range: read_str(&PORT_RANGE),
        relay_threads: read_int(&RELAY_THREADS),
        relay_io: read_str(&RELAY_IO),
        relay_batch_wait: read_int(&RELAY_BATCH_WAIT),
        relay_connected_sockets: read_int(&RELAY_CONNECTED_SOCKETS),
        setup_timeout: read_int(&SETUP_TIMEOUT),
        media_timeout: read_int(&MEDIA_TIMEOUT),
        hold_timeout: read_int(&HOLD_TIMEOUT),
        learn_from_signaling_ip: read_int(&LEARN_FROM_SIGNALING_IP).unwrap_or(0),
        latch_policy: read_str(&LATCH_POLICY),
        relay_max_streams: read_int(&RELAY_MAX_STREAMS),
        relay_max_sessions: read_int(&RELAY_MAX_SESSIONS),
        relay_max_packet_rate: read_int(&RELAY_MAX_PACKET_RATE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_terminated_and_names_are_unique() {
        let t = &PARAMS.0;
        assert!(t[t.len() - 1].name.is_null());
        let mut names: Vec<String> = t[..t.len() - 1]
            .iter()
            // SAFETY: every non-terminal entry holds a C string literal.
            .map(|e| {
                unsafe { CStr::from_ptr(e.name) }
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        for e in &t[..n] {
            assert!(e.type_ == STR_PARAM || e.type_ == INT_PARAM);
            assert!(!e.param_pointer.is_null());
        }
    }

    #[test]
    fn unset_slots_read_as_defaults() {
        let raw = read_raw();
        assert_eq!(raw, RawParams::default());
    }
}
