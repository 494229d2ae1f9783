//! The `mediaproxy` engine of the rtp_relay module: registration from `mod_preinit` (when
//! rtp_relay is loaded; without it nothing changes) and the framework's entry points, each
//! guarded. What they do is host-independent ([`crate::rtp_relay`]); here the framework's
//! structures become safe values and the results go back into its memory (the node in shm,
//! a returned body in pkg memory, as the framework frees them).

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void};
use std::net::IpAddr;

use super::log::{guard, mark_host_thread, HostLog, Level};
use super::msg::SipMsg;
use super::strs::{bytes, return_body};
use super::sys::{self, str_};
use crate::host::common::lifecycle::config;
use crate::host::common::msg::{HostMsg, MsgFields, FAKED_REPLY};
use crate::host::common::HostStatic;
use crate::rtp_relay::{self, Body, Call, Done, Flags, Op, Output};
use crate::script::{self, Avp, Edit, Logger, Message};

/// Filled by the framework at registration; unused by this engine but kept for its lifetime
/// (media copies read the call's SDPs from the dialog themselves: `get_sdp` keeps a reference
/// to a dialog it has to look up). Written once by the framework in mod_preinit (attendant,
/// single-threaded), never read by this module.
static HOOKS: HostStatic<UnsafeCell<sys::mpx_rtp_relay_hooks>> =
    HostStatic(UnsafeCell::new(sys::mpx_rtp_relay_hooks {
        get_sdp: None,
        get_dlg_ids: None,
    }));

/// `preinit_f`: registers the engine when the rtp_relay module is loaded.
pub unsafe extern "C" fn mod_preinit() -> c_int {
    mark_host_thread();
    guard("mod_preinit", -1, || {
        let mut funcs = sys::mpx_rtp_relay_funcs {
            offer: Some(offer),
            answer: Some(answer),
            delete_: Some(delete),
            copy_offer: Some(super::rtp_relay_copy::copy_offer),
            copy_answer: Some(super::rtp_relay_copy::copy_answer),
            copy_delete: Some(super::rtp_relay_copy::copy_delete),
            copy_serialize: Some(super::rtp_relay_copy::copy_serialize),
            copy_deserialize: Some(super::rtp_relay_copy::copy_deserialize),
            copy_release: Some(super::rtp_relay_copy::copy_release),
        };
        // SAFETY: the shim looks the registration up with find_export; the framework copies
        // `funcs` and fills the static hooks, in this single-threaded attendant.
        let rc = unsafe {
            sys::mpx_register_rtp_relay(c"mediaproxy".as_ptr(), &mut funcs, HOOKS.0.get())
        };
        match rc {
            0 => {
                host_log!(
                    Level::Info,
                    "mod_preinit",
                    "registered as rtp_relay engine \"{}\"",
                    rtp_relay::ENGINE
                );
                0
            }
            1 => 0,
            _ => {
                host_log!(
                    Level::Err,
                    "mod_preinit",
                    "rtp_relay refused the engine \"{}\"",
                    rtp_relay::ENGINE
                );
                -1
            }
        }
    })
}

/// A SIP message the framework runs a request for: not NULL, not `FAKED_REPLY`, not the
/// core's dummy message.
///
/// # Safety
/// `msg` must be NULL, `FAKED_REPLY`, or a valid message.
unsafe fn real_message(msg: *mut sys::sip_msg) -> bool {
    if msg.is_null() || msg as usize == FAKED_REPLY {
        return false;
    }
    // SAFETY: per the contract, a valid message; the shim only compares its buffer.
    unsafe { sys::mpx_is_dummy_msg(msg) == 0 }
}

/// # Safety
/// As [`bytes`].
unsafe fn string(p: *const str_) -> Option<String> {
    // SAFETY: per the contract.
    unsafe { bytes(p) }.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Stands for the message when the framework has none: no bytes, no source, no changes.
struct NoMsg;

impl Logger for NoMsg {
    fn log(&self, level: script::Level, func: &str, args: std::fmt::Arguments<'_>) {
        script::Logger::log(&HostLog, level, func, args)
    }
}

impl Message for NoMsg {
    fn buf(&self) -> &[u8] {
        &[]
    }
    fn source(&self) -> Option<(IpAddr, u16)> {
        None
    }
    fn frozen(&self) -> Option<&'static str> {
        Some("there is no message")
    }
    fn sdp_rewritten(&self) -> bool {
        false
    }
    fn mark_sdp_rewritten(&mut self) {}
    fn foreign_sdp_changes(&self) -> bool {
        false
    }
    fn prepare_edits(&mut self) -> bool {
        false
    }
    fn apply(&mut self, _edits: &[Edit]) -> Result<(), String> {
        Err("there is no message".into())
    }
    fn avp(&self, _which: Avp) -> Option<String> {
        None
    }
}

/// Stores `node` in the framework's server (shm, NUL-terminated; the old one freed).
///
/// # Safety
/// `server` must be the framework's valid server of this call.
unsafe fn store_node(server: *mut sys::mpx_rtp_relay_server, node: &str) -> bool {
    // SAFETY: shm of the core, under its lock.
    let p = unsafe { sys::mpx_shm_malloc(node.len() as u64 + 1) } as *mut u8;
    if p.is_null() {
        return false;
    }
    // SAFETY: p has room for node.len() + 1 bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(node.as_ptr(), p, node.len());
        *p.add(node.len()) = 0;
    }
    // SAFETY: per the contract; the old node came from shm (ours or the framework's copy).
    unsafe {
        let s = &mut (*server).node;
        sys::mpx_shm_free(s.s as *mut c_void);
        s.s = p as *mut _;
        s.len = node.len() as c_int;
    }
    true
}

/// Offer and answer: the framework's arguments into a [`Call`], the result back.
///
/// # Safety
/// The framework's arguments of one offer or answer.
#[allow(clippy::too_many_arguments)]
unsafe fn offer_answer(
    op: Op,
    sess: *mut sys::mpx_rtp_relay_session,
    server: *mut sys::mpx_rtp_relay_server,
    body: *mut str_,
    ip: *mut str_,
    in_iface: *mut str_,
    out_iface: *mut str_,
    flag_strs: [*mut str_; 3],
) -> c_int {
    let (Some(cfg), false, false) = (config(), sess.is_null(), server.is_null()) else {
        return -1;
    };
    // SAFETY: the framework's session and server, valid for this call.
    let (sess, server_ref) = unsafe { (&*sess, &*server) };
    let raw_msg = sess.msg;
    // SAFETY: the message is NULL, FAKED_REPLY, the core's dummy or one the framework runs
    // this request for.
    let real = unsafe { real_message(raw_msg) };
    // which message this is, read before the message is borrowed below
    // SAFETY: a real message is valid for this call.
    let msg_key = real.then(|| (raw_msg as usize, unsafe { (*raw_msg).id }));
    // SAFETY: as above; FAKED_REPLY and NULL give None.
    let host_msg = unsafe { SipMsg::from_ptr(raw_msg) };
    // SAFETY: the session's strings are valid for this call.
    let given = unsafe { bytes(sess.body) };
    // the message's bytes, as addresses: the SDP the framework names may lie inside them
    let span = host_msg.as_ref().map(|m| {
        let b = m.buf();
        (b.as_ptr() as usize, b.len())
    });
    let input = match (given, span) {
        (None, _) => Body::Find,
        (Some(b), Some((start, len)))
            if real
                && b.as_ptr() as usize >= start
                && b.as_ptr() as usize + b.len() <= start + len =>
        {
            Body::At {
                offset: b.as_ptr() as usize - start,
                len: b.len(),
            }
        }
        (Some(b), _) => Body::Given(b),
    };
    let mut words = Vec::new();
    for f in flag_strs {
        // SAFETY: the framework's flag strings, valid for this call.
        if let Some(w) = unsafe { string(f) } {
            words.push(w);
        }
    }
    // SAFETY: the session's strings and the server's node are valid for this call.
    let call = unsafe {
        Call {
            op,
            call_id: bytes(sess.callid),
            from_tag: bytes(sess.from_tag),
            to_tag: bytes(sess.to_tag),
            branch: sess.branch,
            node: bytes(&server_ref.node),
            real_msg: real,
            body: input,
            output: if body.is_null() {
                Output::Message
            } else {
                Output::Bytes
            },
            flags: Flags {
                ip: string(ip),
                iface: string(out_iface),
                in_iface: string(in_iface),
                words,
            },
            msg_key,
        }
    };
    let done: Result<Done, i32> = match host_msg {
        Some(m) => rtp_relay::offer_answer(&mut HostMsg(m), cfg, &call),
        None => rtp_relay::offer_answer(&mut NoMsg, cfg, &call),
    };
    // the call borrows the old node, which storing a new one frees
    drop(call);
    let Ok(done) = done else {
        return -1;
    };
    if let Some(n) = &done.node {
        // SAFETY: the framework's server, valid for this call.
        if !unsafe { store_node(server, n) } {
            host_log!(Level::Err, "rtp_relay", "out of shared memory for the node");
            return -1;
        }
    }
    if !body.is_null() {
        let new = done.body.unwrap_or_default();
        // SAFETY: the framework's body to fill.
        if !unsafe { return_body(body, &new) } {
            host_log!(Level::Err, "rtp_relay", "out of pkg memory for the SDP");
            return -1;
        }
    }
    1
}

macro_rules! oa_entry {
    ($name:ident, $op:expr) => {
        #[allow(clippy::too_many_arguments)]
        unsafe extern "C" fn $name(
            sess: *mut sys::mpx_rtp_relay_session,
            server: *mut sys::mpx_rtp_relay_server,
            body: *mut str_,
            ip: *mut str_,
            _type: *mut str_,
            in_iface: *mut str_,
            out_iface: *mut str_,
            global_flags: *mut str_,
            flags: *mut str_,
            extra_flags: *mut str_,
        ) -> c_int {
            guard(concat!("rtp_relay ", stringify!($name)), -1, || {
                // SAFETY: the framework's arguments for this call.
                unsafe {
                    offer_answer(
                        $op,
                        sess,
                        server,
                        body,
                        ip,
                        in_iface,
                        out_iface,
                        [global_flags, flags, extra_flags],
                    )
                }
            })
        }
    };
}
oa_entry!(offer, Op::Offer);
oa_entry!(answer, Op::Answer);

unsafe extern "C" fn delete(
    sess: *mut sys::mpx_rtp_relay_session,
    server: *mut sys::mpx_rtp_relay_server,
    _flags: *mut str_,
    _extra: *mut str_,
) -> c_int {
    guard("rtp_relay delete", -1, || {
        let (Some(cfg), false, false) = (config(), sess.is_null(), server.is_null()) else {
            return -1;
        };
        // SAFETY: the framework's session and server, valid for this call.
        let (sess, server) = unsafe { (&*sess, &*server) };
        // SAFETY: as above.
        let (call_id, node) = unsafe { (bytes(sess.callid), bytes(&server.node)) };
        // SAFETY: the message is NULL, FAKED_REPLY, the core's dummy or one the framework
        // runs this delete for.
        let real = unsafe { real_message(sess.msg) };
        // SAFETY: as above; FAKED_REPLY and NULL give None.
        let msg = real
            .then(|| unsafe { SipMsg::from_ptr(sess.msg) })
            .flatten();
        rtp_relay::delete(&HostLog, cfg, call_id, node, msg.as_ref().map(|m| m.buf()))
    })
}
