//! The io_uring back end of the relay workers.
//!
//! Per worker one ring, created on the worker's own thread (single issuer with task work
//! deferred to the worker's own waits where the kernel offers it, so receives run in batches
//! when the worker asks for completions and never interrupt it):
//! * **receive**: one multishot `recvmsg` (`IORING_OP_RECVMSG` + `IORING_RECV_MULTISHOT`) per
//!   socket the worker owns, all drawing from one provided buffer ring
//!   (`IORING_REGISTER_PBUF_RING`). Each completion carries one datagram in one buffer: an
//!   `io_uring_recvmsg_out` header, the source address, the payload. A wait returns the packets of thousands of sockets at once.
//! * **send**: a forwarded packet becomes an `IORING_OP_SEND` with a destination (`sendto`)
//!   straight from its receive buffer (no copy), with a per-buffer destination address; every
//!   submission of a batch goes to the kernel in the one `io_uring_enter` that also waits for
//!   the next completions. The send's completion gives the buffer back to the ring.
//! * **sockets** are addressed through a registered-file table (index = slot × 2 + side, no
//!   descriptor lookup per request; descriptors where the table could not be set up).
//! * **re-arm**: when a receive's completion lacks `IORING_CQE_F_MORE` the kernel has ended it
//!   (no free buffer: `ENOBUFS`; a full completion queue; an error): the socket is armed again
//!   once buffers are back (errors other than `ENOBUFS` after a short pause, so a socket that
//!   keeps failing cannot spin the worker). Its packets wait in the socket meanwhile.
//! * **close**: the receive of a removed flow is cancelled by its `user_data`; the socket is
//!   closed only once the receive's last completion has arrived (an in-flight request holds the
//!   socket: closing it earlier would keep the port bound and let its completions run on). Every
//!   receive's `user_data` carries a generation, so completions that were already queued for a
//!   flow that is gone, or for the flow that reuses its slot, are recognised and dropped.
//! * **wake-up**: a multishot poll on the worker's eventfd; commands from the control thread
//!   are applied at the start of every batch, before its packets (as the epoll back end does).
//!
//! The per-packet path does not allocate and takes no lock: buffers, send addresses and the
//! re-arm lists are sized when flows are added. `unsafe` is confined to this module's ring
//! memory and submissions; each block says why it is sound.

use super::{Driver, UringSettings};
use crate::relay::counters::Counters;
use crate::relay::events::LogLevel;
use crate::relay::sys::{
    connected_twin, reconnect_twin, sockaddr_from_bytes, to_sockaddr, MAX_DGRAM,
};
use crate::relay::worker::{judge, Core, Flow, FlowIo};
use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};
use std::collections::HashMap;
use std::io;
use std::mem::{size_of, zeroed, ManuallyDrop};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// `struct io_uring_recvmsg_out`: namelen, controllen, payloadlen, flags (4 × u32).
const OUT_HDR: usize = 16;
/// Room for the source address in each buffer (either family).
const NAME_LEN: usize = size_of::<libc::sockaddr_in6>();
const PAYLOAD_AT: usize = OUT_HDR + NAME_LEN;
/// One receive buffer: header, address, and a payload of up to `MAX_DGRAM` + 1 bytes (so a
/// longer datagram is seen as too long), rounded up to a cache line.
pub(crate) const BUF_SIZE: usize = (PAYLOAD_AT + MAX_DGRAM + 1).div_ceil(64) * 64;
const _: () = assert!(BUF_SIZE > PAYLOAD_AT + MAX_DGRAM && BUF_SIZE % 64 == 0);
/// The provided buffer group of every receive.
const BGID: u16 = 0;
const SQ_ENTRIES: u32 = 4096;

/// `user_data` layout: kind in bits 62–63. Receives: generation in bits 32–61, slot in bits
/// 2–31, socket in bits 0–1 (see [`SOCKS`]). Sends: the buffer id.
const KIND_SHIFT: u32 = 62;
const K_RECV: u64 = 0;
const K_SEND: u64 = 1;
const K_WAKE: u64 = 2;
const K_CANCEL: u64 = 3;
const GEN_MASK: u32 = (1 << 30) - 1;
const SLOT_MAX: usize = (1 << 30) - 1;
/// Sockets per slot, numbered `k`: 0 and 1 are the flow's own (`Flow::socks[k]`, bound to its
/// ports), 2 and 3 the connected twins of 0 and 1 ([`Twin`]). Socket `k` belongs to side `k & 1`.
const SOCKS: usize = 4;

/// Idle wait (the worker wakes at least this often) and the pause before a receive that ended
/// with an error is armed again.
const IDLE_WAIT: Duration = Duration::from_secs(1);
const RETRY_MS: u64 = 50;
/// Completions taken from the queue at a time.
const REAP: usize = 1024;
/// With `relay_batch_wait`, how many new completions end a wait before its time is up.
const WAIT_BATCH: usize = 64;
/// How long closing a ring may wait for the kernel to finish its requests.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

fn recv_ud(slot: usize, k: usize, gen: u32) -> u64 {
    (K_RECV << KIND_SHIFT)
        | (u64::from(gen & GEN_MASK) << 32)
        | ((slot as u64 & SLOT_MAX as u64) << 2)
        | (k as u64 & 3)
}

/// Errors a connected socket reports for an ICMP message from its peer.
fn is_icmp_error(errno: i32) -> bool {
    matches!(
        errno,
        libc::ECONNREFUSED
            | libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::ENOPROTOOPT
            | libc::EOPNOTSUPP
            | libc::EACCES
            | libc::EPROTO
            | libc::EMSGSIZE
    )
}

/// (slot, socket, generation) of a receive's `user_data`.
fn recv_parts(ud: u64) -> (usize, usize, u32) {
    (
        ((ud >> 2) & SLOT_MAX as u64) as usize,
        (ud & 3) as usize,
        ((ud >> 32) as u32) & GEN_MASK,
    )
}

// ---------------------------------------------------------------------------------------------
// memory shared with the kernel

/// An anonymous private mapping (page-aligned, zeroed), unmapped on drop.
struct Region {
    ptr: *mut u8,
    len: usize,
}

impl Region {
    fn new(len: usize) -> io::Result<Region> {
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
struct BufRing {
    entries: Region,
    data: Region,
    count: u16,
    tail: u16,
    held: usize,
}

impl BufRing {
    fn new(count: u16) -> io::Result<BufRing> {
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
    fn give(&mut self, bid: u16) {
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
    fn publish(&self) {
        // SAFETY: the tail is the u16 at offset 14 of the page-aligned first entry; the kernel
        // reads it with acquire ordering, this release store pairs with it.
        let tail = unsafe {
            &*types::BufRingEntry::tail(self.entries.ptr.cast::<types::BufRingEntry>())
                .cast::<AtomicU16>()
        };
        tail.store(self.tail, Ordering::Release);
    }

    /// Buffers the kernel can still take.
    fn available(&self) -> usize {
        usize::from(self.count) - self.held
    }

    /// The bytes of a buffer the kernel handed over (`held`), `len` of them.
    fn filled(&self, bid: u16, len: usize) -> Option<&[u8]> {
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
struct Mem {
    bufs: BufRing,
    /// Per buffer: the destination of the send that forwards the packet in it.
    addrs: Box<[libc::sockaddr_storage]>,
    /// The `msghdr` every multishot receive is armed with (only name and control lengths count).
    template: Box<libc::msghdr>,
}

#[derive(Clone, Copy, Debug)]
struct Cqe {
    ud: u64,
    res: i32,
    flags: u32,
}

// ---------------------------------------------------------------------------------------------
// the ring

/// One io_uring with its provided buffer ring, send addresses and a table of registered files
/// (sockets addressed by index: no descriptor lookup per request). Dropping it cancels whatever
/// is still in flight and waits (bounded) for the kernel to let go of the memory before
/// freeing it.
struct Ring {
    ring: IoUring,
    mem: ManuallyDrop<Mem>,
    /// Submitted requests whose last completion has not arrived yet.
    inflight: usize,
    /// Size of the registered-file table (0: none could be registered; descriptors are used).
    files: u32,
}

/// How a request names its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Fd(RawFd),
    /// Index in the registered-file table.
    Fixed(u32),
}

fn build(entries: u32, cq: u32) -> io::Result<IoUring> {
    let mut last = None;
    for mode in 0..3 {
        let mut b = IoUring::builder();
        b.setup_cqsize(cq).setup_clamp();
        match mode {
            // 6.1+: task work only when this thread waits, one submitter
            0 => {
                b.setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_submit_all();
            }
            // 5.19+
            1 => {
                b.setup_coop_taskrun().setup_submit_all();
            }
            _ => {}
        }
        match b.build(entries) {
            Ok(r) => return Ok(r),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL)))
}

impl Ring {
    fn new(buffers: u16, files: u32) -> Result<Ring, String> {
        let cq = (2 * u32::from(buffers) + 4096)
            .next_power_of_two()
            .min(65536);
        let ring = build(SQ_ENTRIES, cq).map_err(|e| format!("io_uring_setup: {e}"))?;
        let p = ring.params();
        if !p.is_feature_nodrop() || !p.is_feature_ext_arg() {
            return Err("kernel too old (no IORING_FEAT_NODROP / IORING_FEAT_EXT_ARG)".into());
        }
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(|e| format!("IORING_REGISTER_PROBE: {e}"))?;
        for (code, name) in [
            (opcode::RecvMsg::CODE, "RECVMSG"),
            (opcode::Send::CODE, "SEND"),
            (opcode::PollAdd::CODE, "POLL_ADD"),
            (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
        ] {
            if !probe.is_supported(code) {
                return Err(format!("opcode IORING_OP_{name} not supported"));
            }
        }
        let bufs = BufRing::new(buffers).map_err(|e| format!("buffer memory: {e}"))?;
        // SAFETY: the entries region is page-aligned, holds `buffers` entries (a power of two)
        // and lives in `mem`, which is freed only after the ring let go of it (see Drop).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(bufs.entries.ptr as u64, buffers, BGID, 0)
        }
        .map_err(|e| format!("IORING_REGISTER_PBUF_RING: {e}"))?;
        // SAFETY: all-zero is a valid sockaddr_storage and msghdr (null pointers).
        let addrs = (0..buffers)
            .map(|_| unsafe { zeroed::<libc::sockaddr_storage>() })
            .collect();
        // SAFETY: as above.
        let mut template: Box<libc::msghdr> = Box::new(unsafe { zeroed() });
        template.msg_namelen = NAME_LEN as libc::socklen_t;
        // a sparse table; without it (an old kernel, a low RLIMIT_NOFILE) descriptors are used
        let files = if files > 0 && ring.submitter().register_files_sparse(files).is_ok() {
            files
        } else {
            0
        };
        Ok(Ring {
            ring,
            mem: ManuallyDrop::new(Mem {
                bufs,
                addrs,
                template,
            }),
            inflight: 0,
            files,
        })
    }

    /// Puts `fd` at `idx` of the registered-file table (replacing what was there: requests in
    /// flight keep the file they started with). Everything queued is submitted first, so no
    /// queued request meets the new file under an old index.
    fn register_file(&mut self, idx: u32, fd: RawFd) -> bool {
        if idx >= self.files || self.ring.submit().is_err() {
            return false;
        }
        self.ring
            .submitter()
            .register_files_update(idx, &[fd])
            .is_ok_and(|n| n == 1)
    }

    /// Empties `idx` of the registered-file table (as [`Ring::register_file`]).
    fn unregister_file(&mut self, idx: u32) {
        if idx < self.files && self.ring.submit().is_ok() {
            let _ = self.ring.submitter().register_files_update(idx, &[-1]);
        }
    }

    fn bufs(&mut self) -> &mut BufRing {
        &mut self.mem.bufs
    }

    /// Queues `e` (submitting what is queued if the queue is full). `false`: not queued.
    ///
    /// # Safety
    /// Every pointer `e` carries must stay valid until its last completion.
    unsafe fn push(&mut self, e: &squeue::Entry) -> bool {
        for _ in 0..2 {
            // SAFETY: forwarded from the caller's guarantee.
            if unsafe { self.ring.submission().push(e) }.is_ok() {
                self.inflight += 1;
                return true;
            }
            if self.ring.submit().is_err() {
                return false;
            }
        }
        false
    }

    /// Arms a multishot receive on `t` into the provided buffers.
    fn arm(&mut self, t: Target, ud: u64) -> bool {
        let msg: *const libc::msghdr = &*self.mem.template;
        let e = match t {
            Target::Fd(fd) => opcode::RecvMsgMulti::new(types::Fd(fd), msg, BGID).build(),
            Target::Fixed(i) => opcode::RecvMsgMulti::new(types::Fixed(i), msg, BGID).build(),
        }
        .user_data(ud);
        // SAFETY: the template lives in `mem` until the ring is done (Drop); the buffers are
        // registered memory of `mem` too.
        unsafe { self.push(&e) }
    }

    /// Cancels the request with `user_data` `ud`.
    fn cancel(&mut self, ud: u64) -> bool {
        let e = opcode::AsyncCancel::new(ud)
            .build()
            .user_data(K_CANCEL << KIND_SHIFT);
        // SAFETY: carries no pointer.
        unsafe { self.push(&e) }
    }

    /// Arms a multishot poll for readability of `fd`.
    fn poll(&mut self, fd: RawFd, ud: u64) -> bool {
        let e = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(ud);
        // SAFETY: carries no pointer.
        unsafe { self.push(&e) }
    }

    /// Queues a send (`IORING_OP_SEND`) of `len` bytes at `off` in buffer `bid` from `t`: to
    /// `dest` (`sendto`), or with `None` to the peer `t` is connected to. On `false` the buffer
    /// is still the caller's.
    fn send(
        &mut self,
        t: Target,
        bid: u16,
        off: usize,
        len: usize,
        dest: Option<SocketAddr>,
        v6: bool,
    ) -> bool {
        if bid >= self.mem.bufs.count || off + len > BUF_SIZE {
            return false;
        }
        let base = self.mem.bufs.data.ptr;
        let Some(addr) = self.mem.addrs.get_mut(usize::from(bid)) else {
            return false;
        };
        let (addr, namelen) = match dest {
            Some(d) => {
                let n = to_sockaddr(d, v6, addr);
                ((addr as *const libc::sockaddr_storage).cast(), n)
            }
            None => (std::ptr::null::<libc::sockaddr>(), 0),
        };
        // SAFETY: the offset stays inside buffer `bid` of the data region (checked above).
        let buf = unsafe { base.add(usize::from(bid) * BUF_SIZE + off) };
        let len = len as u32;
        let flags = libc::MSG_DONTWAIT;
        let e = match t {
            Target::Fd(fd) => opcode::Send::new(types::Fd(fd), buf, len)
                .dest_addr(addr)
                .dest_addr_len(namelen)
                .flags(flags)
                .build(),
            Target::Fixed(i) => opcode::Send::new(types::Fixed(i), buf, len)
                .dest_addr(addr)
                .dest_addr_len(namelen)
                .flags(flags)
                .build(),
        }
        .user_data((K_SEND << KIND_SHIFT) | u64::from(bid));
        // SAFETY: buffer `bid` and address `bid` belong to this send until its completion: the
        // buffer is held (not in the kernel's ring) and its address is only rewritten when the
        // buffer is received again, after it came back.
        unsafe { self.push(&e) }
    }

    /// Whether the kernel takes a minimum wait before waking for fewer completions than asked
    /// for (`IORING_FEAT_MIN_TIMEOUT`, Linux 6.12).
    fn min_wait_supported(&self) -> bool {
        self.ring.params().is_feature_min_timeout()
    }

    /// Submits what is queued without waiting.
    fn submit(&mut self) -> io::Result<()> {
        match self.ring.submit() {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Submits what is queued and waits up to `timeout` for `want` completions.
    fn submit_and_wait(&mut self, want: usize, timeout: Duration) -> io::Result<()> {
        self.submit_and_wait_min(want, timeout, 0)
    }

    /// [`Ring::submit_and_wait`], but after `min_us` microseconds any completion ends the wait
    /// (only where the kernel has `IORING_FEAT_MIN_TIMEOUT`; callers check `min_wait_supported`).
    fn submit_and_wait_min(
        &mut self,
        want: usize,
        timeout: Duration,
        min_us: u32,
    ) -> io::Result<()> {
        let ts = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&ts).min_wait_usec(min_us);
        match self.ring.submitter().submit_with_args(want, &args) {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves up to `out`'s capacity of completions into `out`; requests that posted their last
    /// completion leave `inflight`.
    fn reap(&mut self, out: &mut Vec<Cqe>) {
        out.clear();
        let cap = out.capacity();
        for c in self.ring.completion().take(cap) {
            if !cqueue::more(c.flags()) {
                self.inflight = self.inflight.saturating_sub(1);
            }
            out.push(Cqe {
                ud: c.user_data(),
                res: c.result(),
                flags: c.flags(),
            });
        }
    }

    /// Parses the datagram a receive completion put in buffer `bid` (`res` bytes): payload
    /// offset and length in the buffer, source, and whether it was too long to relay.
    fn datagram(&self, bid: u16, res: i32) -> Option<(usize, usize, SocketAddr, bool)> {
        let total = usize::try_from(res).ok()?;
        let b = self.mem.bufs.filled(bid, total)?;
        let word = |at: usize| -> Option<usize> {
            let w = b.get(at..at + 4)?;
            Some(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) as usize)
        };
        let namelen = word(0)?;
        let payloadlen = word(8)?;
        let msg_flags = word(12)?;
        let src = sockaddr_from_bytes(b.get(OUT_HDR..OUT_HDR + namelen.min(NAME_LEN))?)?;
        let room = b.len().checked_sub(PAYLOAD_AT)?;
        let len = payloadlen.min(room);
        let truncated = msg_flags & libc::MSG_TRUNC as usize != 0
            || payloadlen > MAX_DGRAM
            || payloadlen > room;
        Some((PAYLOAD_AT, len, src, truncated))
    }

    /// The `len` payload bytes at `off` of buffer `bid` (held by the caller).
    fn payload(&self, bid: u16, off: usize, len: usize) -> &[u8] {
        self.mem
            .bufs
            .filled(bid, off + len)
            .and_then(|b| b.get(off..))
            .unwrap_or(&[])
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if self.inflight > 0 {
            let e = opcode::AsyncCancel2::new(types::CancelBuilder::any())
                .build()
                .user_data(K_CANCEL << KIND_SHIFT);
            // SAFETY: carries no pointer.
            unsafe { self.push(&e) };
            let deadline = Instant::now() + CLOSE_WAIT;
            let mut cqes = Vec::with_capacity(REAP);
            while self.inflight > 0 && Instant::now() < deadline {
                let _ = self.submit_and_wait(1, Duration::from_millis(100));
                self.reap(&mut cqes);
            }
        }
        if self.inflight == 0 {
            // the table's hold on the sockets ends now, not whenever the kernel gets to the
            // closed ring: their ports are free once their descriptors close
            if self.files > 0 {
                let _ = self.ring.submitter().unregister_files();
            }
            let _ = self.ring.submitter().unregister_buf_ring(BGID);
            // SAFETY: no request is in flight, so the kernel no longer reads or writes this
            // memory; it is dropped exactly once, here.
            unsafe { ManuallyDrop::drop(&mut self.mem) };
        }
        // else: the memory is leaked on purpose, the kernel may still write into it
    }
}

// ---------------------------------------------------------------------------------------------
// probe

/// Whether io_uring can run the relay here: ring set-up (not disabled, not filtered), the
/// opcodes and features used, a provided buffer ring, and a multishot `recvmsg` that really
/// delivers a datagram on a loopback socket. `Err` says what is missing.
///
/// Runs on a thread of its own: the kernel tears a closed ring down asynchronously and then
/// notifies every thread that submitted to it, which interrupts whatever blocking call that
/// thread is in (`EINTR`). The caller (the host's relay process thread) must not get that.
pub(crate) fn probe() -> Result<(), String> {
    match crate::relay::sys::spawn_blocked("mp-probe".into(), probe_here) {
        Ok(h) => h
            .join()
            .unwrap_or_else(|_| Err("the probe panicked".into())),
        Err(e) => Err(format!("cannot start the probe thread: {e}")),
    }
}

fn probe_here() -> Result<(), String> {
    let mut ring = Ring::new(2, 1)?;
    let sock = match UdpSocket::bind("127.0.0.1:0").or_else(|_| UdpSocket::bind("[::1]:0")) {
        Ok(s) => s,
        // no loopback to try it on: what could be checked without one passed
        Err(_) => return Ok(()),
    };
    let to = sock
        .local_addr()
        .map_err(|e| format!("probe socket: {e}"))?;
    sock.send_to(b"probe", to)
        .map_err(|e| format!("probe socket: {e}"))?;
    let t = if ring.register_file(0, sock.as_raw_fd()) {
        Target::Fixed(0)
    } else {
        Target::Fd(sock.as_raw_fd())
    };
    if !ring.arm(t, 1) {
        return Err("cannot submit a multishot recvmsg".into());
    }
    // first the datagram sent above arrives through the multishot receive; the ring then sends
    // it back to the same socket (a send with a destination), and it must arrive as well
    let mut sent = false;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut cqes = Vec::with_capacity(8);
    while Instant::now() < deadline {
        ring.submit_and_wait(1, Duration::from_millis(200))
            .map_err(|e| format!("io_uring_enter: {e}"))?;
        ring.reap(&mut cqes);
        for c in &cqes {
            if c.ud >> KIND_SHIFT == K_SEND && c.res < 0 {
                let e = io::Error::from_raw_os_error(-c.res);
                return Err(format!("send with a destination address: {e}"));
            }
            if c.ud != 1 {
                continue;
            }
            if c.res < 0 {
                let e = io::Error::from_raw_os_error(-c.res);
                return Err(format!("multishot recvmsg with provided buffers: {e}"));
            }
            let Some(bid) = cqueue::buffer_select(c.flags) else {
                return Err("multishot recvmsg delivered no buffer".into());
            };
            let Some((off, len, src, _)) = ring.datagram(bid, c.res) else {
                return Err("multishot recvmsg delivered no datagram".into());
            };
            if src != to || ring.payload(bid, off, len) != b"probe" {
                return Err("multishot recvmsg delivered another datagram".into());
            }
            if sent {
                return Ok(());
            }
            if !cqueue::more(c.flags) || !ring.send(t, bid, off, len, Some(to), to.is_ipv6()) {
                return Err("multishot recvmsg stopped after one datagram".into());
            }
            sent = true;
        }
    }
    Err("multishot recvmsg or send did not complete".into())
}

// ---------------------------------------------------------------------------------------------
// the worker loop

/// The connected twin of one of a flow's sockets (`relay_connected_sockets`): made the first
/// time the worker sends from that socket, pointed at a new peer whenever the side's
/// destination changes (re-latch, new SDP address), closed with the flow.
#[derive(Default)]
struct Twin {
    sock: Option<UdpSocket>,
    /// Where `sock` is connected to; `None`: no socket, or the last connect failed.
    peer: Option<SocketAddr>,
    /// A destination whose twin could not be made or connected: sends to it go through the
    /// flow's own socket, with no new attempt until the destination changes.
    failed: Option<SocketAddr>,
}

#[derive(Default)]
struct SlotIo {
    gen: u32,
    /// Per socket `k` (see [`SOCKS`]): its multishot receive is in flight.
    armed: [bool; SOCKS],
    /// Per socket `k`: it is in the registered-file table at [`file_index`].
    fixed: [bool; SOCKS],
    /// The twins of sockets 0 and 1 (sockets 2 and 3).
    twins: [Twin; 2],
}

/// Where socket `k` of `slot` goes in the registered-file table.
fn file_index(slot: usize, k: usize) -> Option<u32> {
    u32::try_from(slot.checked_mul(SOCKS)?.checked_add(k)?).ok()
}

/// Socket `k` of a flow (its own, or its twin's where there is one).
fn sock_of<'a>(flow: &'a Flow, st: &'a SlotIo, k: usize) -> Option<&'a UdpSocket> {
    match k {
        0 | 1 => flow.socks.get(k),
        _ => st.twins.get(k - 2).and_then(|t| t.sock.as_ref()),
    }
}

pub(crate) struct UringIo {
    ring: Ring,
    /// Receive state per worker slot, beside `Core::flows`.
    slots: Vec<SlotIo>,
    next_gen: u32,
    /// Live sockets whose receive ended, to arm again once buffers are back (each at most once
    /// in `rearm` + `retry`; capacity for every socket is reserved when flows are added).
    rearm: Vec<u64>,
    /// Live sockets whose receive ended with an error, armed again at `retry_at_ms`.
    retry: Vec<u64>,
    retry_at_ms: u64,
    /// Sockets of removed flows whose cancelled receive has not posted its last completion.
    closing: HashMap<u64, UdpSocket>,
    /// Cancels that could not be queued yet.
    uncancelled: Vec<u64>,
    cqes: Vec<Cqe>,
    wake_fd: RawFd,
    wake_armed: bool,
    wake_seen: bool,
    /// `relay_batch_wait` in microseconds, 0 when off or when the kernel cannot do it.
    batch_us: u32,
    /// `relay_connected_sockets`: send through connected twins.
    twins: bool,
    counters: &'static Counters,
}

impl UringIo {
    /// The ring of a worker, made on the worker's own thread, with its wake-up armed. `Err`:
    /// why not.
    pub(crate) fn new(core: &Core, s: UringSettings) -> Result<UringIo, String> {
        let ring = Ring::new(s.buffers, s.files)?;
        let mut io = UringIo {
            batch_us: if ring.min_wait_supported() {
                s.batch_us
            } else {
                0
            },
            ring,
            slots: Vec::new(),
            next_gen: 1,
            rearm: Vec::new(),
            retry: Vec::new(),
            retry_at_ms: 0,
            closing: HashMap::new(),
            uncancelled: Vec::new(),
            cqes: Vec::with_capacity(REAP),
            wake_fd: core.wake.as_raw_fd(),
            wake_armed: false,
            wake_seen: false,
            twins: s.twins,
            counters: core.counters,
        };
        io.arm_wake();
        if !io.wake_armed {
            return Err("cannot poll the wake-up eventfd".into());
        }
        if s.batch_us > 0 && io.batch_us == 0 {
            core.log.send_log(
                LogLevel::Info,
                format!(
                    "relay worker {}: relay_batch_wait needs Linux 6.12 (IORING_FEAT_MIN_TIMEOUT); \
                     waking for every completion",
                    core.id
                ),
            );
        }
        Ok(io)
    }
}

impl Driver for UringIo {
    fn turn(&mut self, core: &mut Core) -> bool {
        self.iteration(core)
    }

    fn finish(self, core: &mut Core) {
        // the ring cancels every receive and waits for the kernel before the sockets close
        let twins_open: usize = self
            .slots
            .iter()
            .map(|s| s.twins.iter().filter(|t| t.sock.is_some()).count())
            .sum();
        drop(self);
        Counters::sub(&core.counters.connected_sockets, twins_open as u64);
    }
}

impl FlowIo for UringIo {
    fn added(&mut self, slot: usize, flow: &Flow) -> io::Result<()> {
        if slot > SLOT_MAX {
            return Err(io::Error::other("slot out of range"));
        }
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, SlotIo::default);
        }
        let want = SOCKS * self.slots.len();
        for list in [&mut self.rearm, &mut self.retry] {
            if list.capacity() < want {
                list.reserve(want - list.len());
            }
        }
        let gen = self.next_gen;
        self.next_gen = (self.next_gen + 1) & GEN_MASK;
        let mut fixed = [false; SOCKS];
        for (k, f) in fixed.iter_mut().enumerate().take(2) {
            if let Some(idx) = file_index(slot, k) {
                *f = self.ring.register_file(idx, flow.socks[k].as_raw_fd());
            }
        }
        self.slots[slot] = SlotIo {
            gen,
            armed: [false; SOCKS],
            fixed,
            twins: Default::default(),
        };
        let mut failed = 0;
        for k in 0..2 {
            if !self.arm(slot, k, flow.socks[k].as_raw_fd()) {
                failed += 1;
            }
        }
        if failed > 0 {
            return Err(io::Error::other(
                "submission queue full: the receive starts shortly",
            ));
        }
        Ok(())
    }

    fn removed(&mut self, slot: usize, flow: Flow) {
        let Some(st) = self.slots.get_mut(slot) else {
            return;
        };
        let mut st = std::mem::take(st);
        let [s0, s1] = flow.socks;
        let [t0, t1] = std::mem::take(&mut st.twins).map(|t| t.sock);
        let twins = usize::from(t0.is_some()) + usize::from(t1.is_some());
        for (k, sock) in [Some(s0), Some(s1), t0, t1].into_iter().enumerate() {
            let Some(sock) = sock else {
                continue;
            };
            let ud = recv_ud(slot, k, st.gen);
            if st.armed[k] {
                if !self.ring.cancel(ud) {
                    self.uncancelled.push(ud);
                }
                self.closing.insert(ud, sock);
            } else {
                // not armed: nothing in flight holds it; forget any pending re-arm
                self.rearm.retain(|&u| u != ud);
                self.retry.retain(|&u| u != ud);
                drop(sock);
            }
            // the table lets go of the socket; a receive still in flight keeps its own hold
            // until its last completion
            if st.fixed[k] {
                if let Some(idx) = file_index(slot, k) {
                    self.ring.unregister_file(idx);
                }
            }
        }
        Counters::sub(&self.counters.connected_sockets, twins as u64);
    }
}

impl UringIo {
    fn arm_wake(&mut self) {
        self.wake_armed = self.ring.poll(self.wake_fd, K_WAKE << KIND_SHIFT);
    }

    /// Arms the receive of socket `k` of `slot` (current generation).
    fn arm(&mut self, slot: usize, k: usize, fd: RawFd) -> bool {
        let Some(st) = self.slots.get(slot) else {
            return false;
        };
        let ud = recv_ud(slot, k, st.gen);
        if self.ring.arm(self.target(slot, k, fd), ud) {
            self.slots[slot].armed[k] = true;
            true
        } else {
            self.retry.push(ud);
            false
        }
    }

    /// How requests name socket `k` of `slot` (descriptor `fd`).
    fn target(&self, slot: usize, k: usize, fd: RawFd) -> Target {
        match (self.slots.get(slot), file_index(slot, k)) {
            (Some(st), Some(idx)) if st.fixed.get(k) == Some(&true) => Target::Fixed(idx),
            _ => Target::Fd(fd),
        }
    }

    /// Whether a receive `user_data` belongs to the flow now in its slot.
    fn live(&self, core: &Core, slot: usize, gen: u32) -> bool {
        self.slots.get(slot).is_some_and(|s| s.gen == gen)
            && core.flows.get(slot).is_some_and(Option::is_some)
    }

    fn iteration(&mut self, core: &mut Core) -> bool {
        let batching = self.batch_us > 0 && !self.wake_seen;
        if batching {
            // Submit the queued sends and take their (inline) completions now, so that the wait
            // below counts only packets that arrive during it: otherwise the send completions
            // alone would end every wait when `batch_us` is up.
            self.ring.bufs().publish();
            if let Err(e) = Ring::submit(&mut self.ring) {
                return self.enter_failed(core, &e);
            }
            if !self.settle(core) {
                return false;
            }
        }
        // after a wake-up, apply the commands without waiting for more completions; when
        // batching, wake early only for WAIT_BATCH new completions, and for any once `batch_us` is up
        let (want, min_us) = if self.wake_seen {
            (0, 0)
        } else if batching {
            (WAIT_BATCH, self.batch_us)
        } else {
            (1, 0)
        };
        self.wake_seen = false;
        let timeout = if self.retry.is_empty() && self.uncancelled.is_empty() && self.wake_armed {
            IDLE_WAIT
        } else {
            Duration::from_millis(RETRY_MS)
        };
        self.ring.bufs().publish();
        if let Err(e) = self.ring.submit_and_wait_min(want, timeout, min_us) {
            return self.enter_failed(core, &e);
        }
        self.settle(core)
    }

    fn enter_failed(&mut self, core: &mut Core, e: &io::Error) -> bool {
        core.log.send_log(
            LogLevel::Error,
            format!("relay worker {}: io_uring_enter: {e}", core.id),
        );
        std::thread::sleep(Duration::from_millis(10));
        true
    }

    /// Applies the queued commands, then handles the completions there are, re-arms, retries
    /// cancels and publishes the counters. `false`: the worker is to stop.
    fn settle(&mut self, core: &mut Core) -> bool {
        // Signalling first (see the epoll back end): every command queued before the control
        // reply that let an endpoint send is applied before that endpoint's packets are judged.
        if !core.commands(self) {
            return false;
        }
        let now_ms = core.now_ms();
        // a bounded number of rounds, so a flood cannot hold off commands and re-arms
        for _ in 0..4 {
            let mut cqes = std::mem::take(&mut self.cqes);
            self.ring.reap(&mut cqes);
            let n = cqes.len();
            for c in &cqes {
                self.complete(core, *c, now_ms);
            }
            self.cqes = cqes;
            if n < REAP {
                break;
            }
        }
        if self.wake_seen {
            // reset before the next look at the channel, so a command queued meanwhile
            // wakes us again
            core.wake.drain();
        }
        if !self.wake_armed {
            self.arm_wake();
        }
        self.ring.bufs().publish();
        self.rearm_pending(core, now_ms);
        if !self.uncancelled.is_empty() {
            let list = std::mem::take(&mut self.uncancelled);
            for ud in list {
                if !self.ring.cancel(ud) {
                    self.uncancelled.push(ud);
                }
            }
        }
        core.flush_counters();
        true
    }

    fn complete(&mut self, core: &mut Core, c: Cqe, now_ms: u64) {
        let more = cqueue::more(c.flags);
        match c.ud >> KIND_SHIFT {
            K_RECV => self.received(core, c, more, now_ms),
            K_SEND => {
                let bid = (c.ud & 0xFFFF) as u16;
                let local = &mut core.pkt.local;
                if c.res >= 0 {
                    local.relayed += 1;
                    local.bytes += c.res as u64;
                } else {
                    local.dropped_other += 1;
                    core.socket_error(now_ms, "sendmsg", &io::Error::from_raw_os_error(-c.res));
                }
                self.ring.bufs().give(bid);
            }
            K_WAKE => {
                self.wake_seen = true;
                if !more {
                    self.wake_armed = false;
                }
            }
            _ => {} // cancel results: the cancelled receive's own completion does the work
        }
    }

    fn received(&mut self, core: &mut Core, c: Cqe, more: bool, now_ms: u64) {
        let (slot, k, gen) = recv_parts(c.ud);
        let live = self.live(core, slot, gen);
        if let Some(bid) = cqueue::buffer_select(c.flags) {
            self.ring.bufs().held += 1;
            let mut queued = false;
            if live && c.res >= 0 {
                // a twin's packets are its side's, like those of the flow's own socket
                queued = self.forward(core, slot, k & 1, bid, c.res, now_ms);
            }
            if !queued {
                self.ring.bufs().give(bid);
            }
        }
        if more {
            return;
        }
        // the kernel ended this receive
        if !live {
            // a removed flow's socket: the kernel has let go of it, close it now
            self.closing.remove(&c.ud);
            return;
        }
        self.slots[slot].armed[k] = false;
        match c.res {
            r if r >= 0 || r == -libc::ENOBUFS || r == -libc::ECANCELED => {
                if r == -libc::ENOBUFS {
                    core.pkt.local.rx_no_buffers += 1;
                }
                self.rearm.push(c.ud);
            }
            // A connected socket (a twin; the others never get one) reports an ICMP error from
            // its peer (port unreachable, say: the peer's port was closed when a packet reached
            // it) on its next receive, which then ends. The receive consumed the error: arm
            // again at once, the peer's next packets are already on their way.
            r if is_icmp_error(-r) => self.rearm.push(c.ud),
            r => {
                core.socket_error(now_ms, "recvmsg", &io::Error::from_raw_os_error(-r));
                if self.retry.is_empty() {
                    self.retry_at_ms = now_ms + RETRY_MS;
                }
                self.retry.push(c.ud);
            }
        }
    }

    /// Judges the datagram in buffer `bid` and queues its send. `false`: not sent (dropped and
    /// counted); the buffer is still ours.
    fn forward(
        &mut self,
        core: &mut Core,
        slot: usize,
        side: usize,
        bid: u16,
        res: i32,
        now_ms: u64,
    ) -> bool {
        let Some(Some(flow)) = core.flows.get_mut(slot) else {
            return false;
        };
        let Some((off, len, src, truncated)) = self.ring.datagram(bid, res) else {
            core.pkt.local.dropped_other += 1;
            return false;
        };
        let pkt = self.ring.payload(bid, off, len);
        let Some(dest) = judge(flow, side, pkt, src, truncated, now_ms, &mut core.pkt) else {
            return false;
        };
        let o = 1 - side;
        let v6 = flow.v6;
        let (t, to) = match self.twin_towards(slot, o, &flow.socks[o], dest) {
            Ok(Some(t)) => (t, None),
            Ok(None) => (self.target(slot, o, flow.socks[o].as_raw_fd()), Some(dest)),
            Err(e) => {
                let t = self.target(slot, o, flow.socks[o].as_raw_fd());
                core.socket_error(now_ms, "connected socket", &e);
                (t, Some(dest))
            }
        };
        if self.ring.send(t, bid, off, len, to, v6) {
            true
        } else {
            core.pkt.local.dropped_other += 1;
            false
        }
    }

    /// The connected twin of socket `o` of `slot` (`primary`), pointed at `dest`: made, or
    /// connected again, when it is not connected there yet. `Ok(None)`: send from `primary` with
    /// the destination (twins are off, or this destination already failed); `Err`: it failed
    /// now (the caller logs it and sends from `primary`).
    fn twin_towards(
        &mut self,
        slot: usize,
        o: usize,
        primary: &UdpSocket,
        dest: SocketAddr,
    ) -> io::Result<Option<Target>> {
        if !self.twins {
            return Ok(None);
        }
        let Some(tw) = self.slots.get(slot).and_then(|st| st.twins.get(o)) else {
            return Ok(None);
        };
        if tw.peer != Some(dest) {
            if tw.failed == Some(dest) {
                return Ok(None);
            }
            self.point_twin(slot, o, primary, dest)?;
        }
        let Some(fd) = self.slots[slot].twins[o]
            .sock
            .as_ref()
            .map(AsRawFd::as_raw_fd)
        else {
            return Ok(None);
        };
        Ok(Some(self.target(slot, 2 + o, fd)))
    }

    /// The cold part of [`UringIo::twin_towards`]: makes the twin of socket `o` of `slot`
    /// (registers and arms it) or connects it again, to `dest`. On failure the destination is
    /// remembered as failed.
    #[cold]
    fn point_twin(
        &mut self,
        slot: usize,
        o: usize,
        primary: &UdpSocket,
        dest: SocketAddr,
    ) -> io::Result<()> {
        let k = 2 + o;
        let Some(st) = self.slots.get_mut(slot) else {
            return Ok(());
        };
        let made = match &st.twins[o].sock {
            // sends already queued go out first, to the peer they were queued for
            Some(s) => self
                .ring
                .submit()
                .and_then(|()| reconnect_twin(s, dest))
                .map(|()| None),
            None => connected_twin(primary, dest).map(Some),
        };
        let tw = &mut st.twins[o];
        let new = match made {
            Ok(new) => new,
            Err(e) => {
                tw.peer = None;
                tw.failed = Some(dest);
                return Err(e);
            }
        };
        tw.peer = Some(dest);
        tw.failed = None;
        if let Some(sock) = new {
            let fd = sock.as_raw_fd();
            tw.sock = Some(sock);
            Counters::add(&self.counters.connected_sockets, 1);
            st.fixed[k] = file_index(slot, k).is_some_and(|idx| self.ring.register_file(idx, fd));
            // its peer's packets now come to it: receive them
            self.arm(slot, k, fd);
        }
        Ok(())
    }

    /// Arms again the receives the kernel ended, when buffers are there (errors: after their
    /// pause).
    fn rearm_pending(&mut self, core: &mut Core, now_ms: u64) {
        if !self.retry.is_empty() && now_ms >= self.retry_at_ms {
            let mut retry = std::mem::take(&mut self.retry);
            self.rearm.append(&mut retry);
            self.retry = retry;
        }
        if self.rearm.is_empty() || self.ring.bufs().available() == 0 {
            return;
        }
        let mut list = std::mem::take(&mut self.rearm);
        for &ud in &list {
            let (slot, k, gen) = recv_parts(ud);
            if !self.live(core, slot, gen) || self.slots[slot].armed[k] {
                continue;
            }
            let Some(Some(flow)) = core.flows.get(slot) else {
                continue;
            };
            let Some(fd) = sock_of(flow, &self.slots[slot], k).map(AsRawFd::as_raw_fd) else {
                continue;
            };
            if self.arm(slot, k, fd) {
                core.pkt.local.rx_rearms += 1;
            } else if self.retry.len() == 1 {
                self.retry_at_ms = now_ms + RETRY_MS;
            }
        }
        list.clear();
        self.rearm = list;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips() {
        for (slot, side, gen) in [(0, 0, 1), (5, 1, 7), (SLOT_MAX, 1, GEN_MASK)] {
            let ud = recv_ud(slot, side, gen);
            assert_eq!(ud >> KIND_SHIFT, K_RECV);
            assert_eq!(recv_parts(ud), (slot, side, gen));
        }
    }

    #[test]
    fn probe_answers() {
        // either io_uring works here, or the reason is given
        match probe() {
            Ok(()) => {}
            Err(why) => assert!(!why.is_empty()),
        }
    }
}
