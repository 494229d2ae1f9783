//! The OpenSIPS message: the safe view of `struct sip_msg` shared with every host
//! ([`crate::host::common::msg`]) and its lumps (contents in pkg memory). What else the message
//! does OpenSIPS's way is in `host` ([`crate::host::common::msg::HostMessage`]).

use super::log::HostLog;
use super::sys;
use crate::host::common::msg::{sip_msg_view, Anchor, Lumps};

sip_msg_view!(sys, HostLog);

impl Lumps for SipMsg<'_> {
    type Lump = sys::lump;

    fn cut(&mut self, offset: usize, len: usize) -> Option<Anchor<sys::lump>> {
        // SAFETY: range checked against the region the core rebuilds (the shim checks against
        // msg->len again).
        Anchor::new(unsafe { sys::mpx_del_lump(self.raw, offset as u32, len as u32) })
    }

    fn insert_after(&mut self, anchor: Anchor<sys::lump>, bytes: &[u8]) -> Option<*mut u8> {
        // SAFETY: pkg memory of this process; the lump takes ownership on success.
        let p = unsafe { sys::mpx_pkg_malloc(bytes.len() as u64) } as *mut u8;
        if p.is_null() {
            return None;
        }
        // SAFETY: p has room for bytes.len() bytes and does not overlap bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
        // SAFETY: anchor is a lump of this message; p is pkg memory of the right length.
        let l = unsafe {
            sys::mpx_insert_new_lump_after(anchor.as_ptr(), p as *mut _, bytes.len() as u32)
        };
        if l.is_null() {
            // SAFETY: the lump did not take ownership; p came from mpx_pkg_malloc.
            unsafe { sys::mpx_pkg_free(p as *mut _) };
            return None;
        }
        Some(p)
    }
}

impl SipMsg<'_> {
    /// The script changed the SDP with the core's SDP operations (`msg->sdp_ops`).
    pub fn sdp_ops_set(&self) -> bool {
        !self.raw.sdp_ops.is_null()
    }
}
