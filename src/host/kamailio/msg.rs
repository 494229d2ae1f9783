//! The Kamailio message: the safe view of `struct sip_msg` shared with every host
//! ([`crate::host::common::msg`]) and its lumps (the shim copies their contents into pkg
//! memory). What else the message does Kamailio's way is in `host`
//! ([`crate::host::common::msg::HostMessage`]).

use super::log::HostLog;
use super::sys;
use crate::host::common::msg::{sip_msg_view, Anchor, Lumps};

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
