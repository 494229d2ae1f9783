//! The memory the kernel shares with an io_uring worker: anonymous mappings ([`Region`]), the
//! provided buffer ring every receive draws from ([`BufRing`]), and the per-buffer send addresses
//! and receive template ([`Mem`]).

use crate::relay::sys::MAX_DGRAM;
use io_uring::types;
use std::io;
use std::mem::size_of;
use std::sync::atomic::{AtomicU16, Ordering};

/// `struct io_uring_recvmsg_out`: namelen, controllen, payloadlen, flags (4 × u32).
pub(super) const OUT_HDR: usize = 16;
/// Room for the source address in each buffer (either family).
pub(super) const NAME_LEN: usize = size_of::<libc::sockaddr_in6>();
pub(super) const PAYLOAD_AT: usize = OUT_HDR + NAME_LEN;
/// One receive buffer: header, address, and a payload of up to `MAX_DGRAM` + 1 bytes (so a
/// longer datagram is seen as too long), rounded up to a cache line.
pub(super) const BUF_SIZE: usize = (PAYLOAD_AT + MAX_DGRAM + 1).div_ceil(64) * 64;
const _: () = assert!(BUF_SIZE > PAYLOAD_AT + MAX_DGRAM && BUF_SIZE % 64 == 0);

/// An anonymous private mapping (page-aligned, zeroed), unmapped on drop.
pub(super) struct Region {
    pub(super) ptr: *mut u8,
    pub(super) len: usize,
}

impl Region {
    pub(super) fn new(len: usize) -> io::Result<Region> {
        // SAFETY: a fresh anonymous mapping; no file, no address hint, no aliasing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region { ptr: p.cast(), len })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `new`; nothing refers to it any
        // more (the owner guarantees the kernel is done with it before dropping).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// The provided buffer ring: `count` entries the kernel takes buffers from, and the buffers.
/// Every buffer id is at any time either in the ring (the kernel's to take) or held by the
/// worker (received, not yet given back): `held` counts the latter.
pub(super) struct BufRing {
    pub(super) entries: Region,
    pub(super) data: Region,
    pub(super) count: u16,
    pub(super) tail: u16,
    pub(super) held: usize,
}

impl BufRing {
    pub(super) fn new(count: u16) -> io::Result<BufRing> {
        let entries = Region::new(usize::from(count) * size_of::<types::BufRingEntry>())?;
        let data = Region::new(usize::from(count) * BUF_SIZE)?;
        let mut r = BufRing {
            entries,
            data,
            count,
            tail: 0,
            held: usize::from(count),
        };
        for bid in 0..count {
            r.give(bid);
        }
        r.publish();
        Ok(r)
    }

    /// Puts buffer `bid` back at the tail; the kernel sees it after [`BufRing::publish`].
    pub(super) fn give(&mut self, bid: u16) {
        if bid >= self.count || self.held == 0 {
            return;
        }
        let idx = usize::from(self.tail & (self.count - 1));
        // SAFETY: `idx < count`, the number of entries in the region. The entry at the tail is
        // not read by the kernel until the published tail moves past it, and only this thread
        // writes entries. The setters leave the `resv` field (the shared tail of entry 0) alone.
        let e = unsafe { &mut *self.entries.ptr.cast::<types::BufRingEntry>().add(idx) };
        e.set_addr(self.data.ptr as u64 + u64::from(bid) * BUF_SIZE as u64);
        e.set_len(BUF_SIZE as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        self.held -= 1;
    }

    /// Makes every buffer given back so far visible to the kernel.
    pub(super) fn publish(&self) {
        // SAFETY: the tail is the u16 at offset 14 of the page-aligned first entry; the kernel
        // reads it with acquire ordering, this release store pairs with it.
        let tail = unsafe {
            &*types::BufRingEntry::tail(self.entries.ptr.cast::<types::BufRingEntry>())
                .cast::<AtomicU16>()
        };
        tail.store(self.tail, Ordering::Release);
    }

    /// Buffers the kernel can still take.
    pub(super) fn available(&self) -> usize {
        usize::from(self.count) - self.held
    }

    /// The bytes of a buffer the kernel handed over (`held`), `len` of them.
    pub(super) fn filled(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.count {
            return None;
        }
        // SAFETY: the buffer lies inside the data region; the kernel wrote `len` (≤ BUF_SIZE)
        // bytes into it before posting the completion that handed it to us, and it does not
        // touch the buffer again until we give it back.
        Some(unsafe {
            std::slice::from_raw_parts(
                self.data.ptr.add(usize::from(bid) * BUF_SIZE),
                len.min(BUF_SIZE),
            )
        })
    }
}

/// What the kernel may read or write while requests are in flight.
pub(super) struct Mem {
    pub(super) bufs: BufRing,
    /// Per buffer: the destination of the send that forwards the packet in it.
    pub(super) addrs: Box<[libc::sockaddr_storage]>,
    /// The `msghdr` every multishot receive is armed with (only name and control lengths count).
    pub(super) template: Box<libc::msghdr>,
}
