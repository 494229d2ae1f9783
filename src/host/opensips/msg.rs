//! `SipMsg`: the one safe view of the core's `struct sip_msg`, created in exactly one place
//! ([`SipMsg::from_ptr`]). Accessors hand out bytes borrowed for the message's lifetime; edits
//! become lumps (delete + insert at original offsets, contents in pkg memory).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::sys::{self, sip_msg};
use crate::script::BufEdit;

/// `FAKED_REPLY` in the core: `(struct sip_msg *)-1`.
pub const FAKED_REPLY: usize = usize::MAX;

/// Why an edit could not be turned into lumps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    OutOfRange {
        offset: usize,
        len: usize,
        msg_len: usize,
    },
    Unordered,
    NoMemory,
    Refused(&'static str),
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditError::OutOfRange {
                offset,
                len,
                msg_len,
            } => write!(
                f,
                "edit at {offset}+{len} is outside the message ({msg_len} bytes)"
            ),
            EditError::Unordered => f.write_str("edits overlap or are not in order"),
            EditError::NoMemory => f.write_str("out of pkg memory for a lump"),
            EditError::Refused(why) => f.write_str(why),
        }
    }
}

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
        let addr = match (ip.af as i32, ip.len) {
            (libc::AF_INET, 4) => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
            (libc::AF_INET6, 16) => IpAddr::V6(Ipv6Addr::from(bytes)),
            _ => return None,
        };
        Some((addr, self.raw.rcv.src_port))
    }

    /// Parses every header (needed before body lumps: the core files a lump under the body by
    /// comparing its offset with `msg->eoh`).
    pub fn parse_all_headers(&mut self) -> bool {
        // SAFETY: the message is valid and not an shm clone (checked by callers before edits).
        unsafe { sys::mpx_parse_headers(self.raw, u64::MAX) == 0 }
    }

    /// Points the parsed URI of the first Contact at `uri`, which must live as long as the
    /// message (the contents of one of its lumps, see [`SipMsg::apply`]). False when there is
    /// no parsable Contact.
    pub fn set_first_contact_uri(&mut self, uri: (*mut u8, usize)) -> bool {
        let Ok(len) = i32::try_from(uri.1) else {
            return false;
        };
        // SAFETY: the message is valid; `uri` is lump memory freed with the message.
        unsafe { sys::mpx_set_first_contact_uri(self.raw, uri.0 as *mut _, len) == 0 }
    }

    /// Applies ordered, non-overlapping edits as lumps. Nothing is applied when a range check
    /// fails; an out-of-memory failure part-way leaves the earlier lumps in place (the message
    /// is then dropped by the caller's -1). Returns the inserted texts as they live in the
    /// lumps (pkg memory freed with the message), one per non-empty insert.
    pub fn apply(&mut self, edits: &[BufEdit<'_>]) -> Result<Vec<(*mut u8, usize)>, EditError> {
        if self.is_shm_clone() {
            return Err(EditError::Refused("the message is a tm shm clone"));
        }
        let msg_len = self.raw.len as usize;
        let mut end = 0usize;
        for e in edits {
            let stop = e.offset.checked_add(e.delete).ok_or(EditError::Unordered)?;
            if stop > msg_len {
                return Err(EditError::OutOfRange {
                    offset: e.offset,
                    len: e.delete,
                    msg_len,
                });
            }
            if e.offset < end {
                return Err(EditError::Unordered);
            }
            end = stop;
        }
        let mut inserted = Vec::new();
        for e in edits {
            let off = e.offset as u32;
            let anchor = if e.delete > 0 {
                // SAFETY: range checked above against msg->len (the shim checks again).
                unsafe { sys::mpx_del_lump(self.raw, off, e.delete as u32) }
            } else {
                // SAFETY: as above.
                unsafe { sys::mpx_anchor_lump(self.raw, off) }
            };
            if anchor.is_null() {
                return Err(EditError::NoMemory);
            }
            if e.insert.is_empty() {
                continue;
            }
            // SAFETY: pkg memory of this process; the lump takes ownership on success.
            let p = unsafe { sys::mpx_pkg_malloc(e.insert.len() as u64) } as *mut u8;
            if p.is_null() {
                return Err(EditError::NoMemory);
            }
            // SAFETY: p has room for insert.len() bytes and does not overlap insert.
            unsafe { std::ptr::copy_nonoverlapping(e.insert.as_ptr(), p, e.insert.len()) };
            // SAFETY: anchor is a lump of this message; p is pkg memory of the right length.
            let l = unsafe {
                sys::mpx_insert_new_lump_after(anchor, p as *mut _, e.insert.len() as u32)
            };
            if l.is_null() {
                // SAFETY: the lump did not take ownership; p came from mpx_pkg_malloc.
                unsafe { sys::mpx_pkg_free(p as *mut _) };
                return Err(EditError::NoMemory);
            }
            inserted.push((p, e.insert.len()));
        }
        Ok(inserted)
    }
}
