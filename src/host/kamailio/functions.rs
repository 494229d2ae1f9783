//! The script functions' Kamailio entry points (`int f(struct sip_msg *, char *, char *)`).
//! What they do is in [`crate::script`] and [`crate::host::common::dialog`]; here is only the
//! Kamailio side: the message view, its AVPs and the dialog hooks. Each entry is guarded and
//! never returns 0 (which would end the script); `disable=1` makes every one return -1.

use std::ffi::{c_char, c_int, c_void};
use std::fmt;
use std::net::IpAddr;

use super::avp;
use super::dialog;
use super::log::{guard, HostLog};
use super::msg::SipMsg;
use super::sys::{self, sip_msg};
use crate::config::{Config, IceCandidate};
use crate::host::common::dialog::{self as engaged, Engage};
use crate::host::common::lifecycle::config;
use crate::script::{self, Avp, BufEdit, Ctx, Logger, Message};

/// A Kamailio message as a [`Message`].
pub struct KamMsg<'m> {
    raw: *mut sip_msg,
    msg: SipMsg<'m>,
}

impl Logger for KamMsg<'_> {
    fn log(&self, level: script::Level, func: &str, args: fmt::Arguments<'_>) {
        HostLog.log(level, func, args)
    }
}

const REWRITTEN: u32 = sys::MPX_FL_SDP_IP_AFS | sys::MPX_FL_SDP_PORT_AFS;

impl Message for KamMsg<'_> {
    fn buf(&self) -> &[u8] {
        self.msg.buf()
    }
    fn source(&self) -> Option<(IpAddr, u16)> {
        self.msg.source()
    }
    fn frozen(&self) -> Option<&'static str> {
        self.msg
            .is_shm_clone()
            .then_some("it is a transaction's stored copy")
    }
    fn sdp_rewritten(&self) -> bool {
        self.msg.msg_flags() & REWRITTEN != 0
    }
    fn mark_sdp_rewritten(&mut self) {
        self.msg.set_msg_flags(REWRITTEN);
    }
    fn foreign_sdp_changes(&self) -> bool {
        // Kamailio's SDP operations (sdpops) change the body with lumps too
        false
    }
    fn prepare_edits(&mut self) -> bool {
        self.msg.parse_all_headers()
    }
    fn apply(&mut self, edits: &[BufEdit<'_>]) -> Result<(), String> {
        self.msg.apply(edits).map_err(|e| e.to_string())
    }
    fn avp(&self, which: Avp) -> Option<String> {
        avp::get(self.raw, which)
    }
}

impl Engage for KamMsg<'_> {
    fn engaged(&self) -> bool {
        self.msg.msg_flags() & sys::MPX_FL_USE_MEDIA_PROXY != 0
    }
    fn set_engaged(&mut self) {
        self.msg.set_msg_flags(sys::MPX_FL_USE_MEDIA_PROXY);
    }
    fn engage_dialog(&mut self, ice: IceCandidate) -> Option<String> {
        dialog::engage(self.raw, ice)
    }
}

/// Runs `f` on the message the core runs this route or callback for.
fn with_msg(raw: *mut sip_msg, f: impl FnOnce(&mut KamMsg<'_>, &Config) -> c_int) -> c_int {
    let Some(cfg) = config() else { return -1 };
    // SAFETY: raw is the message the core runs this route or callback for.
    let Some(msg) = (unsafe { SipMsg::from_ptr(raw) }) else {
        return -1;
    };
    f(&mut KamMsg { raw, msg }, cfg)
}

/// `use_media_proxy` for a message (also the engaged dialog's hook).
pub fn media_proxy(raw: *mut sip_msg, ctx: &Ctx) -> c_int {
    with_msg(raw, |m, cfg| script::use_media_proxy(m, cfg, ctx))
}

/// The string value of a parameter fixed up by `fixup_spve_null`.
fn str_arg(msg: *mut sip_msg, p: *mut c_char) -> String {
    let (mut s, mut len): (*mut c_char, c_int) = (std::ptr::null_mut(), 0);
    // SAFETY: p is the fixed-up parameter of this function call; the core hands back a string
    // valid until the next such call.
    if unsafe { sys::mpx_param_str(msg, p as *mut c_void, &mut s, &mut len) } != 0
        || s.is_null()
        || len <= 0
    {
        return String::new();
    }
    // SAFETY: s points to len bytes.
    let b = unsafe { std::slice::from_raw_parts(s as *const u8, len as usize) };
    String::from_utf8_lossy(b).into_owned()
}

macro_rules! entry {
    ($name:ident, |$msg:ident, $p1:ident| $body:expr) => {
        pub unsafe extern "C" fn $name(
            $msg: *mut sip_msg,
            $p1: *mut c_char,
            _p2: *mut c_char,
        ) -> c_int {
            guard(stringify!($name), -1, || $body)
        }
    };
}

entry!(engage_media_proxy, |msg, _p1| with_msg(msg, |m, cfg| {
    engaged::engage(m, cfg)
}));
entry!(use_media_proxy, |msg, _p1| media_proxy(
    msg,
    &Ctx::default()
));
entry!(end_media_session, |msg, _p1| with_msg(msg, |m, cfg| {
    script::end_media_session(m, cfg)
}));
entry!(client_nat_test, |msg, p1| {
    let tests = str_arg(msg, p1);
    with_msg(msg, |m, cfg| script::client_nat_test(m, cfg, &tests))
});
entry!(fix_contact, |msg, _p1| with_msg(msg, |m, cfg| {
    script::fix_contact(m, cfg)
}));
