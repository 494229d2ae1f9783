//! What every host does alike with its message: the packet's source from the core's
//! `struct ip_addr` (the same 24-byte layout in OpenSIPS and the SER family), and the script
//! layer's byte edits as lumps: range and order checks once, then per edit a delete (or an
//! anchor) and an insert after it, at offsets of the received buffer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::script::BufEdit;

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

/// A host message's lump operations. Offsets are checked against [`Lumps::msg_len`] before
/// any is called.
pub trait Lumps {
    type Anchor: Copy;
    /// Length of the received buffer the offsets refer to.
    fn msg_len(&self) -> usize;
    /// A delete lump over `len` bytes at `offset` (None: out of memory).
    fn delete(&mut self, offset: usize, len: usize) -> Option<Self::Anchor>;
    /// An anchor lump at `offset` (None: out of memory).
    fn anchor(&mut self, offset: usize) -> Option<Self::Anchor>;
    /// Inserts a copy of `bytes` (in the host's per-process memory) after `anchor`; false when
    /// out of memory.
    fn insert_after(&mut self, anchor: Self::Anchor, bytes: &[u8]) -> bool;
}

/// Applies ordered, non-overlapping edits as lumps. Nothing is applied when a range check
/// fails; an out-of-memory failure part-way leaves the earlier lumps in place (the message is
/// then dropped by the caller's -1).
pub fn apply<L: Lumps>(l: &mut L, edits: &[BufEdit<'_>]) -> Result<(), EditError> {
    let msg_len = l.msg_len();
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
    for e in edits {
        let anchor = if e.delete > 0 {
            l.delete(e.offset, e.delete)
        } else {
            l.anchor(e.offset)
        }
        .ok_or(EditError::NoMemory)?;
        if !e.insert.is_empty() && !l.insert_after(anchor, e.insert) {
            return Err(EditError::NoMemory);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Rec(Vec<String>);
    impl Lumps for Rec {
        type Anchor = usize;
        fn msg_len(&self) -> usize {
            10
        }
        fn delete(&mut self, o: usize, n: usize) -> Option<usize> {
            self.0.push(format!("del {o}+{n}"));
            Some(o)
        }
        fn anchor(&mut self, o: usize) -> Option<usize> {
            self.0.push(format!("anchor {o}"));
            Some(o)
        }
        fn insert_after(&mut self, a: usize, b: &[u8]) -> bool {
            self.0
                .push(format!("ins {a} {}", String::from_utf8_lossy(b)));
            true
        }
    }

    fn e(offset: usize, delete: usize, insert: &'static [u8]) -> BufEdit<'static> {
        BufEdit {
            offset,
            delete,
            insert,
        }
    }

    #[test]
    fn edits_become_lumps_after_the_checks() {
        let mut r = Rec::default();
        apply(&mut r, &[e(1, 2, b"x"), e(5, 0, b"y"), e(6, 1, b"")]).unwrap();
        assert_eq!(
            r.0,
            ["del 1+2", "ins 1 x", "anchor 5", "ins 5 y", "del 6+1"]
        );
        let mut r = Rec::default();
        assert_eq!(
            apply(&mut r, &[e(1, 2, b""), e(2, 1, b"")]),
            Err(EditError::Unordered)
        );
        assert!(matches!(
            apply(&mut r, &[e(9, 2, b"")]),
            Err(EditError::OutOfRange { .. })
        ));
        assert!(r.0.is_empty());
    }
}
