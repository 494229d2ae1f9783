//! One io_uring with its memory: set-up (the ring flags, the features and opcodes the relay
//! needs, the provided buffer ring, a registered-file table), submissions (multishot receive,
//! send, poll, cancel), waits, completions, and a bounded tear-down that never frees memory the
//! kernel may still write.

use super::memory::{BufRing, Mem, BUF_SIZE, NAME_LEN, OUT_HDR, PAYLOAD_AT};
use super::{KIND_SHIFT, K_CANCEL, K_SEND, REAP};
use crate::relay::packet::Datagram;
use crate::relay::sys::{sockaddr_from_bytes, to_sockaddr, MAX_DGRAM};
use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};
use std::io;
use std::mem::{zeroed, ManuallyDrop};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// The provided buffer group of every receive.
pub(super) const BGID: u16 = 0;
pub(super) const SQ_ENTRIES: u32 = 4096;
/// How long closing a ring may wait for the kernel to finish its requests.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug)]
pub(super) struct Cqe {
    pub(super) ud: u64,
    pub(super) res: i32,
    pub(super) flags: u32,
}

/// One io_uring with its provided buffer ring, send addresses and a table of registered files
/// (sockets addressed by index: no descriptor lookup per request). Dropping it cancels whatever
/// is still in flight and waits (bounded) for the kernel to let go of the memory before
/// freeing it.
pub(super) struct Ring {
    ring: IoUring,
    mem: ManuallyDrop<Mem>,
    /// Submitted requests whose last completion has not arrived yet.
    inflight: usize,
    /// Size of the registered-file table (0: none could be registered; descriptors are used).
    files: u32,
}

/// How a request names its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    Fd(RawFd),
    /// Index in the registered-file table.
    Fixed(u32),
}

pub(super) fn build(entries: u32, cq: u32) -> io::Result<IoUring> {
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
    pub(super) fn new(buffers: u16, files: u32) -> Result<Ring, String> {
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
    pub(super) fn register_file(&mut self, idx: u32, fd: RawFd) -> bool {
        if idx >= self.files || self.ring.submit().is_err() {
            return false;
        }
        self.ring
            .submitter()
            .register_files_update(idx, &[fd])
            .is_ok_and(|n| n == 1)
    }

    /// Empties `idx` of the registered-file table (as [`Ring::register_file`]).
    pub(super) fn unregister_file(&mut self, idx: u32) {
        if idx < self.files && self.ring.submit().is_ok() {
            let _ = self.ring.submitter().register_files_update(idx, &[-1]);
        }
    }

    pub(super) fn bufs(&mut self) -> &mut BufRing {
        &mut self.mem.bufs
    }

    /// Queues `e` (submitting what is queued if the queue is full). `false`: not queued.
    ///
    /// # Safety
    /// Every pointer `e` carries must stay valid until its last completion.
    pub(super) unsafe fn push(&mut self, e: &squeue::Entry) -> bool {
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
    pub(super) fn arm(&mut self, t: Target, ud: u64) -> bool {
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
    pub(super) fn cancel(&mut self, ud: u64) -> bool {
        let e = opcode::AsyncCancel::new(ud)
            .build()
            .user_data(K_CANCEL << KIND_SHIFT);
        // SAFETY: carries no pointer.
        unsafe { self.push(&e) }
    }

    /// Arms a multishot poll for readability of `fd`.
    pub(super) fn poll(&mut self, fd: RawFd, ud: u64) -> bool {
        let e = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(ud);
        // SAFETY: carries no pointer.
        unsafe { self.push(&e) }
    }

    /// Queues a send (`IORING_OP_SEND`) of the `len` payload bytes in buffer `bid` from `t`: to
    /// `dest` (`sendto`), or with `None` to the peer `t` is connected to. On `false` the buffer
    /// is still the caller's.
    pub(super) fn send(
        &mut self,
        t: Target,
        bid: u16,
        len: usize,
        dest: Option<SocketAddr>,
        v6: bool,
    ) -> bool {
        let off = PAYLOAD_AT;
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
    pub(super) fn min_wait_supported(&self) -> bool {
        self.ring.params().is_feature_min_timeout()
    }

    /// Submits what is queued without waiting.
    pub(super) fn submit(&mut self) -> io::Result<()> {
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
    pub(super) fn submit_and_wait(&mut self, want: usize, timeout: Duration) -> io::Result<()> {
        self.submit_and_wait_min(want, timeout, 0)
    }

    /// [`Ring::submit_and_wait`], but after `min_us` microseconds any completion ends the wait
    /// (only where the kernel has `IORING_FEAT_MIN_TIMEOUT`; callers check `min_wait_supported`).
    pub(super) fn submit_and_wait_min(
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
    pub(super) fn reap(&mut self, out: &mut Vec<Cqe>) {
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

    /// The datagram a receive completion put in buffer `bid` (`res` bytes: header, source,
    /// payload), read in place. `truncated`: it was too long to relay.
    pub(super) fn datagram(&self, bid: u16, res: i32) -> Option<Datagram<'_>> {
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
        Some(Datagram {
            payload: b.get(PAYLOAD_AT..PAYLOAD_AT + len)?,
            src,
            truncated,
        })
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
