//! The OpenSIPS message: the safe view of `struct sip_msg` shared with every host
//! ([`crate::host::common::msg`]), and what OpenSIPS does its own way: the SDP-operations
//! check, header parsing, AVPs, the dialog, and lumps (contents in pkg memory).

use super::log::HostLog;
use super::sys;
use super::{avp, dialog};
use crate::config::IceCandidate;
use crate::host::common::msg::{sip_msg_view, Anchor, HostMessage, Lumps};
use crate::script::Avp;

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

impl HostMessage for SipMsg<'_> {
    /// The script changed the SDP with the core's SDP operations: body lumps would be ignored.
    fn foreign_sdp_changes(&self) -> bool {
        !self.raw.sdp_ops.is_null()
    }
    fn parse_all_headers(&mut self) -> bool {
        // SAFETY: the message is valid and not an shm clone (checked by callers before edits).
        unsafe { sys::mpx_parse_headers(self.raw, u64::MAX) == 0 }
    }
    fn avp(&self, which: Avp) -> Option<String> {
        avp::get(self.read_ptr(), which)
    }
    fn engage_dialog(&mut self, ice: IceCandidate) -> Option<String> {
        dialog::engage(self.as_ptr(), ice)
    }
}
