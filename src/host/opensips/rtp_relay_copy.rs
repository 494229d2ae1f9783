//! The `mediaproxy` engine's media copies (the framework's `copy_offer`, `copy_answer`,
//! `copy_delete` and the context's `copy_serialize`, `copy_deserialize`, `copy_release`), each
//! guarded. What they do is host-independent ([`crate::rtp_relay_copy`]); here the framework's
//! arguments become safe values. The copy context is a NUL-terminated line of text in shm,
//! freed by `copy_release`; the returned SDP is in pkg memory (the caller frees it).

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

use super::log::{guard, HostLog, Level};
use super::strs::{bytes, return_body};
use super::sys::{self, str_};
use crate::host::common::lifecycle::config;
use crate::rtp_relay_copy::{self as copy, Target};

/// The text of a copy context (`None` for none or unreadable).
///
/// # Safety
/// `ctx` must be NULL or a context this module stored.
unsafe fn ctx_text<'a>(ctx: *const c_void) -> Option<&'a str> {
    if ctx.is_null() {
        return None;
    }
    // SAFETY: per the contract, a NUL-terminated string in shm that lives until released.
    unsafe { CStr::from_ptr(ctx as *const c_char) }
        .to_str()
        .ok()
}

/// A new context in shm holding `text` (NULL when out of memory).
fn new_ctx(text: &str) -> *mut c_void {
    // SAFETY: shm of the core, under its lock.
    let p = unsafe { sys::mpx_shm_malloc(text.len() as u64 + 1) } as *mut u8;
    if !p.is_null() {
        // SAFETY: p has room for text.len() + 1 bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), p, text.len());
            *p.add(text.len()) = 0;
        }
    }
    p as *mut c_void
}

/// The relay session of the framework's session and server.
///
/// # Safety
/// Both must be the framework's valid arguments of this call.
unsafe fn target<'a>(
    sess: *const sys::mpx_rtp_relay_session,
    server: *const sys::mpx_rtp_relay_server,
) -> Target<'a> {
    // SAFETY: per the contract.
    unsafe {
        Target {
            call_id: bytes((*sess).callid),
            node: bytes(&(*server).node),
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn copy_offer(
    sess: *mut sys::mpx_rtp_relay_session,
    server: *mut sys::mpx_rtp_relay_server,
    ctx: *mut *mut c_void,
    _flags: *mut str_,
    copy_flags: c_uint,
    streams: c_uint,
    ret: *mut str_,
    map: *mut sys::mpx_rtp_relay_streams,
) -> c_int {
    guard("rtp_relay copy_offer", -1, || {
        let (Some(cfg), false, false, false, false) = (
            config(),
            sess.is_null(),
            server.is_null(),
            ctx.is_null(),
            ret.is_null(),
        ) else {
            return -1;
        };
        // SAFETY: the framework's arguments, valid for this call; the context is ours.
        let (t, prev) = unsafe { (target(sess, server), ctx_text(*ctx)) };
        // the parties' SDPs from the dialog (not the framework's get_sdp hook, which keeps a
        // reference to a dialog it has to look up, e.g. for media_exchange's MI fork)
        let sdps = t.call_id.map_or([None, None], super::dialog::call_sdps);
        let sdps = [sdps[0].as_deref(), sdps[1].as_deref()];
        let Some(done) = copy::copy_offer(&HostLog, cfg, &t, prev, copy_flags, streams, sdps)
        else {
            return -1;
        };
        let new = new_ctx(&done.ctx.text());
        if new.is_null() {
            host_log!(Level::Err, "rtp_relay", "out of shared memory for a copy");
            return -1;
        }
        // SAFETY: the framework's str to fill.
        if !unsafe { return_body(ret, &done.body) } {
            sys_free(new);
            host_log!(
                Level::Err,
                "rtp_relay",
                "out of pkg memory for the copy SDP"
            );
            return -1;
        }
        // SAFETY: the old context (ours or NULL) is replaced; nothing else holds it.
        unsafe {
            sys_free(*ctx);
            *ctx = new;
        }
        if !map.is_null() {
            // SAFETY: the framework's stream map to fill (room for MAX_STREAMS).
            let m = unsafe { &mut *map };
            let n = done.map.len().min(m.streams.len());
            for (slot, e) in m.streams.iter_mut().zip(&done.map) {
                slot.leg = e.leg;
                slot.medianum = e.medianum;
                slot.label = e.label;
            }
            m.count = n as c_int;
        }
        1
    })
}

fn sys_free(p: *mut c_void) {
    // SAFETY: NULL or a block of the core's shm this module allocated.
    unsafe { sys::mpx_shm_free(p) }
}

pub(super) unsafe extern "C" fn copy_answer(
    sess: *mut sys::mpx_rtp_relay_session,
    server: *mut sys::mpx_rtp_relay_server,
    ctx: *mut c_void,
    _flags: *mut str_,
    body: *mut str_,
) -> c_int {
    guard("rtp_relay copy_answer", -1, || {
        let (Some(cfg), false, false) = (config(), sess.is_null(), server.is_null()) else {
            return -1;
        };
        // SAFETY: the framework's arguments, valid for this call; the context is ours.
        let (t, text, body) = unsafe { (target(sess, server), ctx_text(ctx), bytes(body)) };
        let Some(body) = body else {
            host_log!(Level::Err, "rtp_relay", "copy answer without SDP");
            return -1;
        };
        copy::copy_answer(&HostLog, cfg, &t, text, body)
    })
}

pub(super) unsafe extern "C" fn copy_delete(
    sess: *mut sys::mpx_rtp_relay_session,
    server: *mut sys::mpx_rtp_relay_server,
    ctx: *mut c_void,
    _flags: *mut str_,
) -> c_int {
    guard("rtp_relay copy_delete", -1, || {
        let (Some(cfg), false, false) = (config(), sess.is_null(), server.is_null()) else {
            return -1;
        };
        // SAFETY: the framework's arguments, valid for this call; the context is ours.
        let (t, text) = unsafe { (target(sess, server), ctx_text(ctx)) };
        copy::copy_delete(&HostLog, cfg, &t, text)
    })
}

/// Stores the context in the dialog's packet (an empty string for none).
pub(super) unsafe extern "C" fn copy_serialize(ctx: *mut c_void, packet: *mut c_void) -> c_int {
    guard("rtp_relay copy_serialize", -1, || {
        // SAFETY: the context is ours or NULL.
        let text = unsafe { ctx_text(ctx) }.unwrap_or("");
        let Ok(len) = c_int::try_from(text.len()) else {
            return -1;
        };
        // SAFETY: the framework's packet; the bytes are copied into it.
        unsafe { sys::mpx_bin_push_str(packet, text.as_ptr() as *const c_char, len) }
    })
}

/// Reads a context back from the dialog's packet: 1 on success, 0 otherwise (the framework
/// then drops the copy).
pub(super) unsafe extern "C" fn copy_deserialize(
    ctx: *mut *mut c_void,
    packet: *mut c_void,
) -> c_int {
    guard("rtp_relay copy_deserialize", 0, || {
        if ctx.is_null() {
            return 0;
        }
        let mut s: *mut c_char = std::ptr::null_mut();
        let mut len: c_int = 0;
        // SAFETY: the framework's packet; the popped string points into it.
        if unsafe { sys::mpx_bin_pop_str(packet, &mut s, &mut len) } != 0 || s.is_null() || len <= 0
        {
            return 0;
        }
        // SAFETY: len bytes at s, inside the packet.
        let raw = unsafe { std::slice::from_raw_parts(s as *const u8, len as usize) };
        let Some(text) = std::str::from_utf8(raw)
            .ok()
            .filter(|t| copy::CopyCtx::parse(t).is_some())
        else {
            host_log!(Level::Err, "rtp_relay", "unreadable stored copy context");
            return 0;
        };
        let new = new_ctx(text);
        if new.is_null() {
            return 0;
        }
        // SAFETY: the framework's context slot to fill.
        unsafe { *ctx = new };
        1
    })
}

/// Frees a context.
pub(super) unsafe extern "C" fn copy_release(ctx: *mut *mut c_void) {
    guard("rtp_relay copy_release", (), || {
        if ctx.is_null() {
            return;
        }
        // SAFETY: the framework's context slot; the context is ours or NULL.
        unsafe {
            sys_free(*ctx);
            *ctx = std::ptr::null_mut();
        }
    })
}
