//! A host's message as the script layer's [`Message`], written once for every host.
//!
//! OpenSIPS and the SER family declare the fields of `struct sip_msg` this module reads with
//! the same names (`buf`, `len`, `rcv.src_ip`, `rcv.src_port`, `first_line`, `msg_flags`),
//! so [`sip_msg_view!`] writes the safe view of them once ([`MsgFields`]); a host adds what
//! differs ([`HostMessage`]: its flag bits, header parsing, AVPs, dialog, lumps) and
//! [`HostMsg`] turns that into a [`Message`] and an [`Engage`].
//!
//! Edits become lumps as [`splice`] plans them: one delete lump over the changed span and one
//! insert after it, checked against the bytes the core rebuilds (its body or header section).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use super::log::HostLogger;
use super::splice::{self, SpliceError};
use crate::config::IceCandidate;
use crate::script::{self, Avp, Edit, Engage, Logger, Message};

/// The source address from an `ip_addr`'s family, length and address bytes (network order),
/// and the port (host order); `None` for anything but IPv4/IPv6.
pub fn source_addr(af: u32, len: u32, addr: [u8; 16], port: u16) -> Option<(IpAddr, u16)> {
    let ip = match (af as i32, len) {
        (libc::AF_INET, 4) => IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])),
        (libc::AF_INET6, 16) => IpAddr::V6(Ipv6Addr::from(addr)),
        _ => return None,
    };
    Some((ip, port))
}

/// Why an edit could not be turned into lumps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// The edits break the rules of [`splice`].
    Splice(SpliceError),
    /// The core cannot rebuild the part to change as edited (its reason).
    Region(&'static str),
    NoMemory,
    Refused(&'static str),
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditError::Splice(e) => e.fmt(f),
            EditError::Region(why) => f.write_str(why),
            EditError::NoMemory => f.write_str("out of pkg memory for a lump"),
            EditError::Refused(why) => f.write_str(why),
        }
    }
}

/// A lump of the message being edited, as the host's [`Lumps::cut`] made it.
pub struct Anchor<L>(std::ptr::NonNull<L>);

impl<L> Clone for Anchor<L> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<L> Copy for Anchor<L> {}

impl<L> Anchor<L> {
    /// `None` for NULL (the core's "out of memory").
    pub fn new(lump: *mut L) -> Option<Anchor<L>> {
        std::ptr::NonNull::new(lump).map(Anchor)
    }
    pub fn as_ptr(self) -> *mut L {
        self.0.as_ptr()
    }
}

/// A host message's lump operations.
pub trait Lumps: MsgFields {
    /// The host's `struct lump`.
    type Lump;
    /// A delete lump over `len` (≥ 1) bytes at `offset` (None: out of memory).
    fn cut(&mut self, offset: usize, len: usize) -> Option<Anchor<Self::Lump>>;
    /// Inserts a copy of `bytes` (in the host's per-process memory, freed with the message)
    /// after `anchor`; the copy, or `None` when out of memory.
    fn insert_after(&mut self, anchor: Anchor<Self::Lump>, bytes: &[u8]) -> Option<*mut u8>;
}

/// A host shim's `mpx_body_region` answer as a region, or the reason the core would not
/// rebuild the body from lumps.
pub fn region(rc: i32, start: u32, end: u32) -> Result<Range<usize>, &'static str> {
    match rc {
        0 if start <= end => Ok(start as usize..end as usize),
        -2 => Err("the script added or removed body parts"),
        -3 => Err("the edits lie in no body part the proxy rebuilds"),
        _ => Err("the proxy sees no body there"),
    }
}

/// The text an edit inserted, as it lives in its lump (host memory freed with the message).
pub type Inserted = (*mut u8, usize);

/// Which part of the message edits change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Headers,
    Body,
}

/// Applies ordered, non-overlapping edits inside one section as the one lump [`splice::plan`]
/// makes of them, after checking them against the region the core rebuilds: either the whole
/// change is made or none of it. Returns where the text of the first edit lives in the
/// inserted lump (`None` when nothing changed).
pub fn apply<L: Lumps>(
    l: &mut L,
    section: Section,
    edits: &[Edit],
) -> Result<Option<Inserted>, EditError> {
    let Some(first) = edits.first() else {
        return Ok(None);
    };
    let region = match section {
        Section::Body => l.body_region(first.offset).map_err(EditError::Region)?,
        Section::Headers => {
            0..l.headers_end()
                .ok_or(EditError::Region("the end of the headers is unknown"))?
        }
    };
    let Some(s) = splice::plan(l.buf(), edits, region).map_err(EditError::Splice)? else {
        return Ok(None);
    };
    let anchor = l.cut(s.offset, s.delete).ok_or(EditError::NoMemory)?;
    let p = l
        .insert_after(anchor, &s.insert)
        .ok_or(EditError::NoMemory)?;
    // the first edit's text sits after the bytes the splice took along before it
    let lead = first.offset - s.offset;
    Ok(Some((p.wrapping_add(lead), first.insert.len())))
}

/// The received bytes `buf[0..len)` of a message.
///
/// # Safety
/// `buf` is NULL or points to `len` bytes that stay valid for `'m`.
pub unsafe fn raw_bytes<'m>(buf: *const std::ffi::c_char, len: u32) -> &'m [u8] {
    if buf.is_null() {
        return &[];
    }
    // SAFETY: per the function contract.
    unsafe { std::slice::from_raw_parts(buf as *const u8, len as usize) }
}

/// A core `str` (`{ char *s; int len; }`, not NUL-terminated) as text; empty for NULL or a
/// negative length.
///
/// # Safety
/// `s` is NULL or points to `len` bytes valid for the call.
pub unsafe fn str_text(s: *const std::ffi::c_char, len: std::ffi::c_int) -> String {
    if s.is_null() || len <= 0 {
        return String::new();
    }
    // SAFETY: per the function contract.
    let b = unsafe { std::slice::from_raw_parts(s as *const u8, len as usize) };
    String::from_utf8_lossy(b).into_owned()
}

/// `FAKED_REPLY` in both cores: `(struct sip_msg *)-1`.
pub const FAKED_REPLY: usize = usize::MAX;

/// The fields every host's `struct sip_msg` declares alike, as [`sip_msg_view!`] reads them,
/// the `msg_flags` bits both hosts name alike, and what both hosts' shims answer alike about
/// the bytes the core rebuilds.
pub trait MsgFields {
    /// The bits that say the SDP was rewritten (`FL_SDP_IP_AFS | FL_SDP_PORT_AFS`).
    const SDP_REWRITTEN: u32;
    /// The bit of a tm request cloned into shared memory (`FL_SHM_CLONE`).
    const SHM_CLONE: u32;
    /// The bit `engage_media_proxy()` sets (`FL_USE_MEDIA_PROXY`).
    const ENGAGED: u32;
    /// The host's logger.
    type Log: HostLogger;
    const LOG: Self::Log;
    /// The message as received (`msg->buf`, `msg->len`).
    fn buf(&self) -> &[u8];
    /// Where the packet came from.
    fn source(&self) -> Option<(IpAddr, u16)>;
    /// The status code of a reply, `None` for a request.
    fn reply_status(&self) -> Option<u32>;
    /// The core's internal message flags (`FL_*`).
    fn msg_flags(&self) -> u32;
    fn set_msg_flags(&mut self, bits: u32);
    /// Points the parsed URI of the first Contact at `uri`, the contents of one of the
    /// message's lumps (what nathelper's `fix_nated_contact()` does in both hosts), so that
    /// modules reading the parsed Contact afterwards see the fixed URI: the dialog module keeps
    /// each leg's contact for the requests it sends itself (the BYEs ending a call after a
    /// media timeout must reach the client behind NAT). False when there is no parsable
    /// Contact.
    fn set_first_contact_uri(&mut self, uri: Inserted) -> bool;
    /// The bytes the core rebuilds around the body offset `at` (the body, or the part of a
    /// parsed body that holds `at`), as the core computes them ([`splice`], R2 and R4); the
    /// reason when the core would not rebuild it from lumps. Headers are parsed already.
    fn body_region(&mut self, at: usize) -> Result<Range<usize>, &'static str>;
    /// Where the core ends the header section (`msg->eoh`): lumps past it are body lumps.
    fn headers_end(&self) -> Option<usize>;
}

/// Writes a host's safe view of its `struct sip_msg` (from the host's `sys` bindings, whose
/// flag constants are `MPX_FL_*`; `$log` is the host's logger, a unit type): the type `SipMsg<'m>`, its
/// one constructor `from_ptr` and [`MsgFields`].
macro_rules! sip_msg_view {
    ($sys:ident, $log:ident) => {
        /// The one safe view of the core's `struct sip_msg`, created in exactly one place
        /// ([`SipMsg::from_ptr`]). Accessors hand out bytes borrowed for the message's
        /// lifetime.
        pub struct SipMsg<'m> {
            raw: &'m mut $sys::sip_msg,
        }

        impl<'m> SipMsg<'m> {
            /// # Safety
            /// `p` must be NULL, `FAKED_REPLY`, or the message the core is currently running
            /// a route or callback for, valid and not used elsewhere for `'m`.
            pub unsafe fn from_ptr(p: *mut $sys::sip_msg) -> Option<SipMsg<'m>> {
                if p.is_null() || p as usize == $crate::host::common::msg::FAKED_REPLY {
                    return None;
                }
                // SAFETY: per the contract, p points to a live sip_msg we may use exclusively.
                Some(SipMsg {
                    raw: unsafe { &mut *p },
                })
            }

            /// The core's message, for the core's functions.
            pub fn as_ptr(&mut self) -> *mut $sys::sip_msg {
                self.raw as *mut $sys::sip_msg
            }

            /// The core's message for the core's functions that take a non-const message
            /// but only read it (variable lookups; the script API hands out `&self`).
            pub fn read_ptr(&self) -> *mut $sys::sip_msg {
                &*self.raw as *const $sys::sip_msg as *mut $sys::sip_msg
            }
        }

        impl $crate::host::common::msg::MsgFields for SipMsg<'_> {
            const SDP_REWRITTEN: u32 = $sys::MPX_FL_SDP_IP_AFS | $sys::MPX_FL_SDP_PORT_AFS;
            const SHM_CLONE: u32 = $sys::MPX_FL_SHM_CLONE;
            const ENGAGED: u32 = $sys::MPX_FL_USE_MEDIA_PROXY;
            type Log = $log;
            const LOG: $log = $log;
            fn buf(&self) -> &[u8] {
                // SAFETY: buf/len describe the received message, alive as long as the message.
                unsafe { $crate::host::common::msg::raw_bytes(self.raw.buf, self.raw.len) }
            }
            fn source(&self) -> Option<(std::net::IpAddr, u16)> {
                let rcv = &self.raw.rcv;
                // SAFETY: ip_addr's address union is plain bytes.
                let addr = unsafe { rcv.src_ip.u.addr };
                $crate::host::common::msg::source_addr(
                    rcv.src_ip.af,
                    rcv.src_ip.len,
                    addr,
                    rcv.src_port,
                )
            }
            fn reply_status(&self) -> Option<u32> {
                let fl = &self.raw.first_line;
                // SAFETY: the reply member of the union is the one the parser filled for a
                // reply.
                (fl.type_ as u32 == $sys::MPX_SIP_REPLY).then(|| unsafe { fl.u.reply.statuscode })
            }
            fn msg_flags(&self) -> u32 {
                self.raw.msg_flags
            }
            fn set_msg_flags(&mut self, bits: u32) {
                self.raw.msg_flags |= bits;
            }
            fn set_first_contact_uri(
                &mut self,
                (uri, len): $crate::host::common::msg::Inserted,
            ) -> bool {
                let Ok(len) = std::ffi::c_int::try_from(len) else {
                    return false;
                };
                // SAFETY: the message is valid; `uri` is lump memory freed with the message.
                unsafe { $sys::mpx_set_first_contact_uri(self.raw, uri as *mut _, len) == 0 }
            }
            fn body_region(&mut self, at: usize) -> Result<std::ops::Range<usize>, &'static str> {
                let at = u32::try_from(at).map_err(|_| "offset past 4 GiB")?;
                let (mut start, mut end) = (0u32, 0u32);
                // SAFETY: the message is valid with its headers parsed; the shim only reads it.
                let rc = unsafe { $sys::mpx_body_region(self.raw, at, &mut start, &mut end) };
                $crate::host::common::msg::region(rc, start, end)
            }
            fn headers_end(&self) -> Option<usize> {
                // SAFETY: the message is valid; the shim only reads msg->eoh and msg->buf.
                usize::try_from(unsafe { $sys::mpx_headers_end(self.read_ptr()) }).ok()
            }
        }
    };
}
pub(crate) use sip_msg_view;

/// What differs between hosts for a message.
pub trait HostMessage: Lumps {
    /// The script changed the SDP by other means that make byte edits meaningless.
    fn foreign_sdp_changes(&self) -> bool;
    /// Parses every header (before body lumps: the core files a lump under the body by
    /// comparing its offset with `msg->eoh`). False on failure.
    fn parse_all_headers(&mut self) -> bool;
    fn avp(&self, which: Avp) -> Option<String>;
    /// See [`Engage::engage_dialog`].
    fn engage_dialog(&mut self, ice: IceCandidate) -> Option<String>;
}

/// A host's message as the script layer's [`Message`].
pub struct HostMsg<M>(pub M);

impl<M: HostMessage> HostMsg<M> {
    /// Edits as lumps, refused on a transaction's stored copy.
    fn edit(&mut self, section: Section, edits: &[Edit]) -> Result<Option<Inserted>, String> {
        if self.frozen().is_some() {
            return Err(EditError::Refused("the message is a tm shm clone").to_string());
        }
        apply(&mut self.0, section, edits).map_err(|e| e.to_string())
    }
}

impl<M: HostMessage> Logger for HostMsg<M> {
    fn log(&self, level: script::Level, func: &str, args: fmt::Arguments<'_>) {
        M::LOG.log(level, func, args)
    }
}

impl<M: HostMessage> Message for HostMsg<M> {
    fn buf(&self) -> &[u8] {
        self.0.buf()
    }
    fn source(&self) -> Option<(IpAddr, u16)> {
        self.0.source()
    }
    fn frozen(&self) -> Option<&'static str> {
        (self.0.msg_flags() & M::SHM_CLONE != 0).then_some("it is a transaction's stored copy")
    }
    fn sdp_rewritten(&self) -> bool {
        self.0.msg_flags() & M::SDP_REWRITTEN != 0
    }
    fn mark_sdp_rewritten(&mut self) {
        self.0.set_msg_flags(M::SDP_REWRITTEN);
    }
    fn foreign_sdp_changes(&self) -> bool {
        self.0.foreign_sdp_changes()
    }
    fn prepare_edits(&mut self) -> bool {
        self.0.parse_all_headers()
    }
    fn apply(&mut self, edits: &[Edit]) -> Result<(), String> {
        self.edit(Section::Body, edits).map(|_| ())
    }
    fn replace_contact_uri(&mut self, edit: &Edit) -> Result<(), String> {
        let inserted = self.edit(Section::Headers, std::slice::from_ref(edit))?;
        if let Some(uri) = inserted {
            if !self.0.set_first_contact_uri(uri) {
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
        self.0.avp(which)
    }
}

impl<M: HostMessage> Engage for HostMsg<M> {
    fn engaged(&self) -> bool {
        self.0.msg_flags() & M::ENGAGED != 0
    }
    fn set_engaged(&mut self) {
        self.0.set_msg_flags(M::ENGAGED);
    }
    fn engage_dialog(&mut self, ice: IceCandidate) -> Option<String> {
        self.0.engage_dialog(ice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message "HDR\r\n\r\n0123456789" whose core rebuilds the body 7..17 (or what the
    /// test sets), recording the lumps made.
    struct Rec {
        lumps: Vec<String>,
        region: Result<Range<usize>, &'static str>,
    }
    struct Quiet;
    impl HostLogger for Quiet {
        const LEVELS: [i32; 7] = [0; 7];
        fn available(&self) -> bool {
            true
        }
        fn enabled(&self, _: i32) -> bool {
            false
        }
        fn write(&self, _: i32, _: &std::ffi::CStr, _: &std::ffi::CStr) {}
    }
    impl MsgFields for Rec {
        const SDP_REWRITTEN: u32 = 0;
        const SHM_CLONE: u32 = 0;
        const ENGAGED: u32 = 0;
        type Log = Quiet;
        const LOG: Quiet = Quiet;
        fn buf(&self) -> &[u8] {
            b"HDR\r\n\r\n0123456789"
        }
        fn source(&self) -> Option<(IpAddr, u16)> {
            None
        }
        fn reply_status(&self) -> Option<u32> {
            None
        }
        fn msg_flags(&self) -> u32 {
            0
        }
        fn set_msg_flags(&mut self, _: u32) {}
        fn set_first_contact_uri(&mut self, _: Inserted) -> bool {
            false
        }
        fn body_region(&mut self, _: usize) -> Result<Range<usize>, &'static str> {
            self.region.clone()
        }
        fn headers_end(&self) -> Option<usize> {
            Some(3)
        }
    }
    impl Lumps for Rec {
        type Lump = u8;
        fn cut(&mut self, o: usize, n: usize) -> Option<Anchor<u8>> {
            self.lumps.push(format!("del {o}+{n}"));
            // a dangling but aligned, non-NULL pointer: the test only carries the offset in it
            Anchor::new((o + 1) as *mut u8)
        }
        fn insert_after(&mut self, a: Anchor<u8>, b: &[u8]) -> Option<*mut u8> {
            let o = a.as_ptr() as usize - 1;
            self.lumps
                .push(format!("ins {o} {}", String::from_utf8_lossy(b)));
            Some(std::ptr::null_mut())
        }
    }

    fn e(offset: usize, delete: usize, insert: &'static [u8]) -> Edit {
        Edit {
            offset,
            delete,
            insert: insert.to_vec(),
        }
    }

    fn rec(region: Result<Range<usize>, &'static str>) -> Rec {
        Rec {
            lumps: Vec::new(),
            region,
        }
    }

    #[test]
    fn edits_become_one_lump_after_the_checks() {
        let mut r = rec(Ok(7..17));
        let inserted = apply(
            &mut r,
            Section::Body,
            &[e(8, 2, b"x"), e(12, 0, b"y"), e(13, 1, b"")],
        );
        // the first edit's text is right at the start of the inserted lump
        assert_eq!(inserted, Ok(Some((std::ptr::null_mut(), 1))));
        assert_eq!(r.lumps, ["del 8+6", "ins 8 x34y5"]);
        // an insert after the body's last byte takes that byte along
        let mut r = rec(Ok(7..17));
        let inserted = apply(&mut r, Section::Body, &[e(17, 0, b"end")]);
        assert_eq!(
            inserted,
            Ok(Some((std::ptr::null_mut::<u8>().wrapping_add(1), 3)))
        );
        assert_eq!(r.lumps, ["del 16+1", "ins 16 9end"]);
    }

    #[test]
    fn refused_edits_make_no_lump() {
        for (region, edits) in [
            (Ok(7..17), vec![e(8, 2, b""), e(9, 1, b"")]),
            (Ok(7..12), vec![e(8, 2, b""), e(11, 2, b"")]),
            (Ok(7..7), vec![e(7, 0, b"x")]),
            (Err("no body"), vec![e(8, 1, b"x")]),
        ] {
            let mut r = rec(region);
            assert!(apply(&mut r, Section::Body, &edits).is_err());
            assert!(r.lumps.is_empty());
        }
        // header edits must stay before the end of the headers
        let mut r = rec(Ok(7..17));
        assert!(apply(&mut r, Section::Headers, &[e(2, 2, b"x")]).is_err());
        assert!(apply(&mut r, Section::Headers, &[e(1, 1, b"x")]).is_ok());
    }
}
