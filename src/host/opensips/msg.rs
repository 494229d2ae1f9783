//! `SipMsg`: the one safe view of the core's `struct sip_msg`, created in exactly one place
//! ([`SipMsg::from_ptr`]). Accessors hand out bytes borrowed for the message's lifetime; edits
//! become lumps (delete + insert at original offsets, contents in pkg memory).

use std::net::IpAddr;

use super::sys::{self, sip_msg};
pub use crate::host::common::msg::EditError;
use crate::host::common::msg::{self as edits, Lumps};
use crate::script::BufEdit;

/// `FAKED_REPLY` in the core: `(struct sip_msg *)-1`.
pub const FAKED_REPLY: usize = usize::MAX;

pub struct SipMsg<'m> {
    raw: &'m mut sip_msg,
}

impl<'m> SipMsg<'m> {
    /// # Safety
    /// `p` must be NULL, `FAKED_REPLY`, or the message the core is currently running a route
    /// or callback for, valid and not used elsewhere for `'m`.
    pub unsafe fn from_ptr(p: *mut sip_msg) -> Option<SipMsg<'m>> {
        if p.is_null() || p as usize == FAKED_REPLY {
            return None;
        }
        // SAFETY: per the contract, p points to a live sip_msg we may use exclusively.
        Some(SipMsg {
            raw: unsafe { &mut *p },
        })
    }

    pub fn as_ptr(&mut self) -> *mut sip_msg {
        self.raw as *mut sip_msg
    }

    /// The message as received (`msg->buf`, `msg->len`).
    pub fn buf(&self) -> &'m [u8] {
        if self.raw.buf.is_null() {
            return &[];
        }
        // SAFETY: buf/len describe the received message, alive for the message's lifetime.
        unsafe { std::slice::from_raw_parts(self.raw.buf as *const u8, self.raw.len as usize) }
    }

    pub fn is_request(&self) -> bool {
        self.raw.first_line.type_ == sys::MPX_SIP_REQUEST as i32
    }

    pub fn is_reply(&self) -> bool {
        self.raw.first_line.type_ == sys::MPX_SIP_REPLY as i32
    }

    pub fn msg_flags(&self) -> u32 {
        self.raw.msg_flags
    }

    pub fn set_msg_flags(&mut self, bits: u32) {
        self.raw.msg_flags |= bits;
    }

    /// A tm shm-cloned request: must be neither parsed nor changed (ABI notes §6.1).
    pub fn is_shm_clone(&self) -> bool {
        self.raw.msg_flags & sys::MPX_FL_SHM_CLONE != 0
    }

    /// The script changed the SDP with the core's SDP operations: body lumps would be ignored.
    pub fn has_sdp_ops(&self) -> bool {
        !self.raw.sdp_ops.is_null()
    }

    /// Where the packet came from.
    pub fn source(&self) -> Option<(IpAddr, u16)> {
        let ip = &self.raw.rcv.src_ip;
        // SAFETY: ip_addr's address union is plain bytes.
        let bytes = unsafe { ip.u.addr };
        edits::source_addr(ip.af, ip.len, bytes, self.raw.rcv.src_port)
    }

    /// Parses every header (needed before body lumps: the core files a lump under the body by
    /// comparing its offset with `msg->eoh`).
    pub fn parse_all_headers(&mut self) -> bool {
        // SAFETY: the message is valid and not an shm clone (checked by callers before edits).
        unsafe { sys::mpx_parse_headers(self.raw, u64::MAX) == 0 }
    }

    /// Applies ordered, non-overlapping edits as lumps ([`edits::apply`]).
    pub fn apply(&mut self, edits: &[BufEdit<'_>]) -> Result<(), EditError> {
        if self.is_shm_clone() {
            return Err(EditError::Refused("the message is a tm shm clone"));
        }
        edits::apply(self, edits)
    }
}

impl Lumps for SipMsg<'_> {
    type Anchor = *mut sys::lump;

    fn msg_len(&self) -> usize {
        self.raw.len as usize
    }

    fn delete(&mut self, offset: usize, len: usize) -> Option<Self::Anchor> {
        // SAFETY: range checked by edits::apply against msg->len (the shim checks again).
        let l = unsafe { sys::mpx_del_lump(self.raw, offset as u32, len as u32) };
        (!l.is_null()).then_some(l)
    }

    fn anchor(&mut self, offset: usize) -> Option<Self::Anchor> {
        // SAFETY: as above.
        let l = unsafe { sys::mpx_anchor_lump(self.raw, offset as u32) };
        (!l.is_null()).then_some(l)
    }

    fn insert_after(&mut self, anchor: Self::Anchor, bytes: &[u8]) -> bool {
        // SAFETY: pkg memory of this process; the lump takes ownership on success.
        let p = unsafe { sys::mpx_pkg_malloc(bytes.len() as u64) } as *mut u8;
        if p.is_null() {
            return false;
        }
        // SAFETY: p has room for bytes.len() bytes and does not overlap bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
        // SAFETY: anchor is a lump of this message; p is pkg memory of the right length.
        let l = unsafe { sys::mpx_insert_new_lump_after(anchor, p as *mut _, bytes.len() as u32) };
        if l.is_null() {
            // SAFETY: the lump did not take ownership; p came from mpx_pkg_malloc.
            unsafe { sys::mpx_pkg_free(p as *mut _) };
            return false;
        }
        true
    }
}
