//! The script functions' OpenSIPS entry points. What they do is in [`crate::script`]; here is
//! only the OpenSIPS side: the message view, its AVPs, its logger, and the dialog hooks.
//! Each entry is guarded; `disable=1` makes every one return -1.

use std::ffi::{c_int, c_void};
use std::fmt;
use std::net::IpAddr;

use super::avp;
use super::dialog;
use super::guard::guard;
use super::init::config;
use super::log::{self, Level};
use super::msg::SipMsg;
use super::sys::{self, sip_msg};
use crate::script::{self, Avp, BufEdit, Ctx, Logger, Message};

/// The host logger as the script layer sees it.
pub struct HostLog;

impl Logger for HostLog {
    fn log(&self, level: script::Level, func: &str, args: fmt::Arguments<'_>) {
        let level = match level {
            script::Level::Err => Level::Err,
            script::Level::Warn => Level::Warn,
            script::Level::Notice => Level::Notice,
            script::Level::Info => Level::Info,
            script::Level::Dbg => Level::Dbg,
        };
        log::log(level, func, args);
    }
}

/// An OpenSIPS message as a [`Message`].
pub struct OsMsg<'m> {
    raw: *mut sip_msg,
    msg: SipMsg<'m>,
}

impl<'m> OsMsg<'m> {
    /// # Safety
    /// As [`SipMsg::from_ptr`].
    pub unsafe fn new(raw: *mut sip_msg) -> Option<OsMsg<'m>> {
        // SAFETY: per the function contract.
        let msg = unsafe { SipMsg::from_ptr(raw) }?;
        Some(OsMsg { raw, msg })
    }

    pub fn set_engaged(&mut self) {
        self.msg.set_msg_flags(sys::MPX_FL_USE_MEDIA_PROXY);
    }

    pub fn engaged(&self) -> bool {
        self.msg.msg_flags() & sys::MPX_FL_USE_MEDIA_PROXY != 0
    }
}

impl Logger for OsMsg<'_> {
    fn log(&self, level: script::Level, func: &str, args: fmt::Arguments<'_>) {
        HostLog.log(level, func, args)
    }
}

const REWRITTEN: u32 = sys::MPX_FL_SDP_IP_AFS | sys::MPX_FL_SDP_PORT_AFS;

impl Message for OsMsg<'_> {
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
        self.msg.has_sdp_ops()
    }
    fn prepare_edits(&mut self) -> bool {
        self.msg.parse_all_headers()
    }
    fn apply(&mut self, edits: &[BufEdit<'_>]) -> Result<(), String> {
        self.msg.apply(edits).map(|_| ()).map_err(|e| e.to_string())
    }
    fn replace_contact_uri(&mut self, edit: &BufEdit<'_>) -> Result<(), String> {
        let inserted = self
            .msg
            .apply(std::slice::from_ref(edit))
            .map_err(|e| e.to_string())?;
        // as nathelper's fix_nated_contact(): the parsed Contact names the fixed URI too, so
        // the dialog module stores it as the leg's contact and the requests it sends itself
        // (the BYEs ending a call after a media timeout) reach the client behind NAT
        if let Some(&lump) = inserted.first() {
            if !self.msg.set_first_contact_uri(lump) {
                self.log(
                    script::Level::Warn,
                    "fix_contact",
                    format_args!("Contact rewritten, but its parsed form could not be updated"),
                );
            }
        }
        Ok(())
    }
    fn avp(&self, which: Avp) -> Option<String> {
        match which {
            Avp::SignalingIp => avp::signaling_ip(self.raw),
            Avp::MediaRelay => avp::media_relay(self.raw),
            Avp::IceCandidate => avp::ice_candidate(self.raw),
        }
    }
}

/// `use_media_proxy` for a message (also the engaged dialog's hook).
pub fn media_proxy(raw: *mut sip_msg, ctx: &Ctx) -> c_int {
    let Some(cfg) = config() else { return -1 };
    // SAFETY: raw is the message the core runs this route or callback for.
    let Some(mut m) = (unsafe { OsMsg::new(raw) }) else {
        return -1;
    };
    script::use_media_proxy(&mut m, cfg, ctx)
}

fn engage(raw: *mut sip_msg) -> c_int {
    let Some(cfg) = config() else { return -1 };
    // SAFETY: raw is the message the core runs this route for.
    let Some(mut m) = (unsafe { OsMsg::new(raw) }) else {
        return -1;
    };
    if !script::can_engage(&m, cfg) {
        return -1;
    }
    if m.engaged() {
        return 1;
    }
    let ice = script::ice_choice(&m, cfg);
    let Some(did) = dialog::engage(raw, ice) else {
        return -1;
    };
    m.set_engaged();
    let ctx = Ctx {
        dialog_id: Some(did),
        ice: Some(ice),
    };
    match script::use_media_proxy(&mut m, cfg, &ctx) {
        // an INVITE without SDP (late offer) is fine: the 200 OK and ACK carry it
        -2 => 1,
        rc => rc,
    }
}

fn str_arg(p0: *mut c_void) -> String {
    if p0.is_null() {
        return String::new();
    }
    // SAFETY: the core passes a `str*` for a CMD_PARAM_STR parameter.
    let s = unsafe { &*(p0 as *const sys::str_) };
    if s.s.is_null() || s.len < 0 {
        return String::new();
    }
    // SAFETY: s.s points to s.len bytes for the duration of the call.
    let b = unsafe { std::slice::from_raw_parts(s.s as *const u8, s.len as usize) };
    String::from_utf8_lossy(b).into_owned()
}

fn with_msg(
    raw: *mut sip_msg,
    f: impl FnOnce(&mut OsMsg<'_>, &crate::config::Config) -> c_int,
) -> c_int {
    let Some(cfg) = config() else { return -1 };
    // SAFETY: raw is the message the core runs this route for.
    match unsafe { OsMsg::new(raw) } {
        Some(mut m) => f(&mut m, cfg),
        None => -1,
    }
}

macro_rules! entry {
    ($name:ident, |$msg:ident, $p0:ident| $body:expr) => {
        pub unsafe extern "C" fn $name(
            $msg: *mut sip_msg,
            $p0: *mut c_void,
            _p1: *mut c_void,
            _p2: *mut c_void,
            _p3: *mut c_void,
            _p4: *mut c_void,
            _p5: *mut c_void,
            _p6: *mut c_void,
            _p7: *mut c_void,
        ) -> c_int {
            guard(stringify!($name), -1, || $body)
        }
    };
}

entry!(engage_media_proxy, |msg, _p0| engage(msg));
entry!(use_media_proxy, |msg, _p0| media_proxy(
    msg,
    &Ctx::default()
));
entry!(end_media_session, |msg, _p0| with_msg(msg, |m, cfg| {
    script::end_media_session(m, cfg)
}));
entry!(client_nat_test, |msg, p0| with_msg(msg, |m, cfg| {
    script::client_nat_test(m, cfg, &str_arg(p0))
}));
entry!(fix_contact, |msg, _p0| with_msg(msg, |m, cfg| {
    script::fix_contact(m, cfg)
}));
