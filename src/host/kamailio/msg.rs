//! The Kamailio message: the safe view of `struct sip_msg` shared with every host
//! ([`crate::host::common::msg`]), and what Kamailio does its own way: header parsing, AVPs,
//! the dialog, and lumps (the shim copies their contents into pkg memory).

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
        // SAFETY: range checked against msg->len before (the shim checks again).
        let l = unsafe { sys::mpx_cut_lump(self.raw, offset as u32, len as u32) };
        Anchor::new(l)
    }

    fn insert_after(&mut self, anchor: Anchor<sys::lump>, bytes: &[u8]) -> Option<*mut u8> {
        let (p, n) = (bytes.as_ptr() as *const _, bytes.len() as u32);
        // SAFETY: anchor is a lump of this message; the shim copies the n bytes at p into pkg
        // memory and hands the copy to the lump.
        let copy = unsafe { sys::mpx_insert_copy_after(anchor.as_ptr(), p, n) };
        (!copy.is_null()).then_some(copy as *mut u8)
    }
}

impl HostMessage for SipMsg<'_> {
    /// Kamailio's SDP operations (sdpops) change the body with lumps too.
    fn foreign_sdp_changes(&self) -> bool {
        false
    }
    fn parse_all_headers(&mut self) -> bool {
        // SAFETY: the message is valid and not an shm clone (checked by callers before edits).
        unsafe { sys::mpx_parse_headers(self.raw) == 0 }
    }
    fn avp(&self, which: Avp) -> Option<String> {
        avp::get(self.read_ptr(), which)
    }
    fn engage_dialog(&mut self, ice: IceCandidate) -> Option<String> {
        dialog::engage(self.as_ptr(), ice)
    }
}
