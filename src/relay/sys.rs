//! System calls of the relay (the io_uring back end has its own room, `io/uring/`): epoll, eventfd, batched UDP receive/send (`recvmmsg`/`sendmmsg`),
//! signal masks, `RLIMIT_NOFILE`, `poll`, `signalfd`. The only module of the crate besides
//! `host` that contains `unsafe`; every block states why it is sound.
//!
//! Conventions (quinn-udp style): `EINTR` is retried inside each helper ([`crate::eintr`]), `EAGAIN` means "nothing
//! now" and is not an error, buffers are allocated once per worker and reused for every packet.

use super::packet::Datagram;
use crate::eintr;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_size(r: libc::ssize_t) -> io::Result<libc::ssize_t> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = cvt(fd)?;
    // SAFETY: `fd` was just returned by the kernel for us, is valid and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// ---------------------------------------------------------------------------------------------
// epoll

/// A level-triggered epoll instance; every registration carries a `u64` token.
pub struct Epoll {
    fd: OwnedFd,
}

/// Space for the events one `epoll_wait` returns.
pub struct EventBuf {
    ev: Vec<libc::epoll_event>,
}

impl EventBuf {
    pub fn new(n: usize) -> EventBuf {
        EventBuf {
            ev: vec![libc::epoll_event { events: 0, u64: 0 }; n.max(1)],
        }
    }

    /// The token of the `i`-th ready event.
    pub fn token(&self, i: usize) -> u64 {
        // copy out of the (possibly packed) struct, never take a reference to the field
        let e = self.ev[i];
        e.u64
    }
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 has no memory arguments.
        let fd = owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll { fd })
    }

    /// Watches `fd` for readability.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`; the event argument is ignored for DEL but must be non-null on
        // old kernels.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) })?;
        Ok(())
    }

    /// Waits up to `timeout_ms` (-1: forever). `EINTR` returns 0 events.
    pub fn wait(&self, buf: &mut EventBuf, timeout_ms: i32) -> io::Result<usize> {
        let cap = libc::c_int::try_from(buf.ev.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: the pointer and capacity describe `buf.ev`, which outlives the call.
        let r =
            unsafe { libc::epoll_wait(self.fd.as_raw_fd(), buf.ev.as_mut_ptr(), cap, timeout_ms) };
        eintr::as_timeout(cvt(r).map(|n| usize::try_from(n).unwrap_or(0)))
    }
}

// ---------------------------------------------------------------------------------------------
// eventfd

/// A non-blocking eventfd used as a wake-up: `notify` makes it readable, `drain` resets it.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd has no memory arguments.
        let fd = owned(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        Ok(EventFd { fd })
    }

    pub fn notify(&self) {
        let one: u64 = 1;
        // EAGAIN (counter at its maximum) still leaves the fd readable: fine
        let _ = eintr::retry(|| {
            // SAFETY: writes 8 bytes from a live u64.
            cvt_size(unsafe {
                libc::write(
                    self.fd.as_raw_fd(),
                    (&one as *const u64).cast(),
                    size_of::<u64>(),
                )
            })
        });
    }

    /// Resets the counter; returns whether it was set.
    pub fn drain(&self) -> bool {
        let mut v: u64 = 0;
        eintr::retry(|| {
            // SAFETY: reads 8 bytes into a live u64.
            cvt_size(unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    (&mut v as *mut u64).cast(),
                    size_of::<u64>(),
                )
            })
        })
        .is_ok_and(|r| r == 8)
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

// ---------------------------------------------------------------------------------------------
// socket addresses

/// `addr` as a socket of that family names it: an IPv4 address becomes its IPv4-mapped IPv6
/// form for an IPv6 socket.
fn for_socket(addr: SocketAddr, v6_socket: bool) -> SocketAddr {
    match (addr, v6_socket) {
        (SocketAddr::V4(a), true) => {
            SocketAddr::V6(SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0))
        }
        (a, _) => a,
    }
}

pub(crate) fn to_sockaddr(
    addr: SocketAddr,
    v6_socket: bool,
    out: &mut libc::sockaddr_storage,
) -> libc::socklen_t {
    match for_socket(addr, v6_socket) {
        SocketAddr::V4(a) => {
            // SAFETY: all-zero is a valid sockaddr_in.
            let mut sin: libc::sockaddr_in = unsafe { zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr.
            unsafe { std::ptr::write((out as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: all-zero is a valid sockaddr_in6.
            let mut sin6: libc::sockaddr_in6 = unsafe { zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            // SAFETY: as above.
            unsafe { std::ptr::write((out as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// A socket address from the raw bytes the kernel wrote (e.g. the name area of a multishot
/// `recvmsg` buffer, which has no alignment guarantee). `None` for another family or too few
/// bytes.
pub(crate) fn sockaddr_from_bytes(b: &[u8]) -> Option<SocketAddr> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    let n = b.len().min(size_of::<libc::sockaddr_storage>());
    let need = match i32::from(u16::from_ne_bytes([*b.first()?, *b.get(1)?])) {
        libc::AF_INET => size_of::<libc::sockaddr_in>(),
        libc::AF_INET6 => size_of::<libc::sockaddr_in6>(),
        _ => return None,
    };
    if n < need {
        return None;
    }
    // SAFETY: copies `n` bytes (at most the storage's size) from a live slice into the local
    // storage; byte copies have no alignment requirement.
    unsafe {
        std::ptr::copy_nonoverlapping(
            b.as_ptr(),
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            n,
        )
    };
    from_sockaddr(&ss)
}

fn from_sockaddr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in; storage is aligned.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6; storage is aligned.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
                None => SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    port,
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )),
            })
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// batched UDP

/// Largest datagram relayed; longer ones are dropped (reported as truncated).
pub const MAX_DGRAM: usize = 2048;

/// Receive buffers for one `recvmmsg`, allocated once.
pub struct RecvBatch {
    bufs: Box<[[u8; MAX_DGRAM]]>,
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    count: usize,
}

// SAFETY: the raw pointers inside `iovs`/`hdrs` only ever point into the same struct's boxed
// buffers and are rebuilt before every system call; nothing is shared between threads.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(n: usize) -> RecvBatch {
        let n = n.max(1);
        RecvBatch {
            bufs: vec![[0u8; MAX_DGRAM]; n].into_boxed_slice(),
            // SAFETY: all-zero is a valid sockaddr_storage, iovec and mmsghdr (null pointers).
            addrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            iovs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            hdrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            count: 0,
        }
    }

    /// Receives up to the batch size from a non-blocking socket. `Ok(0)`: nothing waiting.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let n = self.bufs.len();
        for i in 0..n {
            self.iovs[i].iov_base = self.bufs[i].as_mut_ptr().cast();
            self.iovs[i].iov_len = MAX_DGRAM;
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        self.count = 0;
        let hdrs = self.hdrs.as_mut_ptr();
        let r = eintr::retry(|| {
            // SAFETY: every header points at a live buffer, iovec and address owned by `self`,
            // with the lengths set above; `n` headers exist.
            cvt(unsafe {
                libc::recvmmsg(
                    fd,
                    hdrs,
                    n as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            })
        });
        match r {
            Ok(r) => {
                self.count = usize::try_from(r).unwrap_or(0);
                Ok(self.count)
            }
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock => Ok(0),
                // ICMP errors from an earlier send surface here: not a receive failure
                io::ErrorKind::ConnectionRefused => Ok(0),
                _ => Err(e),
            },
        }
    }

    /// Number of datagrams from the last `recv`.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `i`-th datagram of the last `recv`.
    pub fn get(&self, i: usize) -> Option<Datagram<'_>> {
        if i >= self.count {
            return None;
        }
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(MAX_DGRAM);
        let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        let src = from_sockaddr(&self.addrs[i])?;
        Some(Datagram {
            payload: &self.bufs[i][..len],
            src,
            truncated,
        })
    }
}

/// Send-side headers for one `sendmmsg`, allocated once.
pub struct SendBatch {
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
}

// SAFETY: see RecvBatch; pointers are rebuilt before each call and never outlive it.
unsafe impl Send for SendBatch {}

/// Outcome of one batched send.
#[derive(Debug, Default)]
pub struct SendResult {
    pub sent: usize,
    pub bytes: usize,
    /// Datagrams not sent (socket buffer full or a per-destination error).
    pub failed: usize,
    pub error: Option<io::Error>,
}

impl SendBatch {
    pub fn new(n: usize) -> SendBatch {
        let n = n.max(1);
        SendBatch {
            // SAFETY: all-zero is a valid sockaddr_storage, iovec and mmsghdr.
            addrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            iovs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            // SAFETY: as above.
            hdrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
        }
    }

    /// Sends datagram `idx` of `from` to `dest` for each `(idx, dest)` in `items` (at most the
    /// batch size), from socket `fd`. `v6_socket`: IPv4 destinations are sent v4-mapped.
    pub fn send(
        &mut self,
        fd: RawFd,
        from: &RecvBatch,
        items: &[(usize, SocketAddr)],
        v6_socket: bool,
    ) -> SendResult {
        let mut res = SendResult::default();
        let mut n = 0;
        for &(idx, dest) in items.iter().take(self.hdrs.len()) {
            let Some(data) = from.get(idx).map(|d| d.payload) else {
                res.failed += 1;
                continue;
            };
            let namelen = to_sockaddr(dest, v6_socket, &mut self.addrs[n]);
            // sendmsg never writes through iov_base; the cast to *mut is required by the type
            self.iovs[n].iov_base = data.as_ptr() as *mut libc::c_void;
            self.iovs[n].iov_len = data.len();
            let h = &mut self.hdrs[n].msg_hdr;
            h.msg_name = (&mut self.addrs[n] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = namelen;
            h.msg_iov = &mut self.iovs[n];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[n].msg_len = 0;
            n += 1;
        }
        res.failed += items.len().saturating_sub(self.hdrs.len());
        let mut i = 0;
        while i < n {
            let hdrs = self.hdrs[i..].as_mut_ptr();
            let sent = eintr::retry(|| {
                // SAFETY: headers i..n point at live addresses/iovecs in `self` and at datagrams
                // borrowed from `from` for the duration of this call.
                let r = unsafe {
                    libc::sendmmsg(fd, hdrs, (n - i) as libc::c_uint, libc::MSG_DONTWAIT)
                };
                if r > 0 {
                    Ok(usize::try_from(r).unwrap_or(0))
                } else {
                    Err(io::Error::last_os_error())
                }
            });
            let e = match sent {
                Ok(r) => {
                    for h in &self.hdrs[i..i + r] {
                        res.bytes += h.msg_len as usize;
                    }
                    res.sent += r;
                    i += r;
                    continue;
                }
                Err(e) => e,
            };
            match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) => {
                    res.failed += n - i;
                    res.error = Some(e);
                    break;
                }
                _ => {
                    // a per-destination error (ECONNREFUSED from ICMP, EHOSTUNREACH, …):
                    // drop this datagram, go on with the rest
                    res.failed += 1;
                    res.error = Some(e);
                    i += 1;
                }
            }
        }
        res
    }
}

// ---------------------------------------------------------------------------------------------
// threads, signals, limits, poll

/// Spawns a thread with every signal blocked: the host's signal handlers never run on it.
/// The caller's mask is restored before returning.
pub fn spawn_blocked<F, T>(name: String, f: F) -> io::Result<std::thread::JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: sigset_t is plain data; sigfillset initialises it.
    let mut all: libc::sigset_t = unsafe { zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { zeroed() };
    // SAFETY: valid pointers to local sigsets.
    unsafe {
        libc::sigfillset(&mut all);
    }
    // SAFETY: valid pointers to local sigsets; affects only the calling thread.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    let spawned = std::thread::Builder::new().name(name).spawn(f);
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    spawned
}

/// Whether every blockable signal (SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGPIPE, SIGCHLD, SIGALRM)
/// is blocked in the calling thread.
pub fn signals_blocked() -> bool {
    // SAFETY: sigset_t is plain data.
    let mut cur: libc::sigset_t = unsafe { zeroed() };
    // SAFETY: a null new-set only reads the current mask into `cur`.
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut cur) } != 0 {
        return false;
    }
    [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGPIPE,
        libc::SIGCHLD,
        libc::SIGALRM,
    ]
    .iter()
    // SAFETY: `cur` is initialised by pthread_sigmask.
    .all(|&s| unsafe { libc::sigismember(&cur, s) } == 1)
}

/// Raises the soft `RLIMIT_NOFILE` to at least `want` (and the hard limit too when allowed).
/// Returns the soft limit in force afterwards.
pub fn raise_nofile(want: u64) -> io::Result<u64> {
    // SAFETY: plain data.
    let mut lim: libc::rlimit = unsafe { zeroed() };
    // SAFETY: valid pointer to a local rlimit.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    let cur = lim.rlim_cur as u64;
    if cur >= want {
        return Ok(cur);
    }
    let mut new = lim;
    new.rlim_cur = want as libc::rlim_t;
    if (lim.rlim_max as u64) < want {
        new.rlim_max = want as libc::rlim_t;
    }
    // SAFETY: valid pointer to a local rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
        return Ok(want);
    }
    // not allowed to raise the hard limit: go as far as it allows
    new.rlim_max = lim.rlim_max;
    new.rlim_cur = lim.rlim_max;
    // SAFETY: as above.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) })?;
    Ok(lim.rlim_max as u64)
}

/// Waits until one of `fds` is readable (or writable when its flag is set), or `timeout`.
/// Returns the number of ready descriptors (0 on timeout or `EINTR`).
pub fn poll_any(fds: &[(RawFd, bool)], timeout: Duration) -> io::Result<usize> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, w)| libc::pollfd {
            fd,
            events: libc::POLLIN | if w { libc::POLLOUT } else { 0 },
            revents: 0,
        })
        .collect();
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `p` is a live array of `p.len()` pollfds.
    let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
    eintr::as_timeout(cvt(r).map(|n| usize::try_from(n).unwrap_or(0)))
}

/// The local address the kernel would use towards `peer` (no packet is sent: a UDP
/// `connect` only selects the route).
pub fn local_ip_towards(peer: IpAddr) -> io::Result<IpAddr> {
    let bind: SocketAddr = match peer {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = std::net::UdpSocket::bind(bind)?;
    s.connect((peer, 9))?;
    Ok(s.local_addr()?.ip())
}

/// A second socket on `primary`'s local address and port, connected to `peer` (an IPv4 peer
/// of an IPv6 socket as its mapped address): the io_uring workers send a flow's packets through
/// it with no destination per packet, so the kernel neither copies an address in nor looks a
/// route up for each one.
///
/// Both sockets carry `SO_REUSEPORT` (the primary gets it here, after its own bind, so binding
/// the primary still failed if anything else held the port). The kernel then hands a packet
/// from `peer` to the connected socket, which matches it better, and every other source to the
/// primary: packets that could re-latch a side or that strict source drops still reach the
/// worker. Only sockets of the same user can join a port this way.
pub(crate) fn connected_twin(
    primary: &std::net::UdpSocket,
    peer: SocketAddr,
) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, SockRef, Socket, Type};
    let p = SockRef::from(primary);
    let local = primary.local_addr()?;
    let peer = for_socket(peer, local.is_ipv6());
    p.set_reuse_port(true)?;
    let s = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
    if local.is_ipv6() {
        s.set_only_v6(p.only_v6()?)?;
    }
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&local.into())?;
    s.connect(&peer.into())?;
    Ok(s.into())
}

/// Points a socket made by [`connected_twin`] at another peer.
pub(crate) fn reconnect_twin(twin: &std::net::UdpSocket, peer: SocketAddr) -> io::Result<()> {
    twin.connect(for_socket(peer, twin.local_addr()?.is_ipv6()))
}

/// SIGINT/SIGTERM as a readable descriptor (for the standalone binary): blocks them in the
/// calling thread and returns a signalfd.
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    pub fn termination() -> io::Result<SignalFd> {
        // SAFETY: plain data, initialised by sigemptyset.
        let mut set: libc::sigset_t = unsafe { zeroed() };
        // SAFETY: valid pointer to a local sigset.
        unsafe {
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
        }
        // SAFETY: valid pointer; affects the calling thread only.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        // SAFETY: valid pointer to the sigset; -1 creates a new descriptor.
        let fd =
            owned(unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) })?;
        Ok(SignalFd { fd })
    }

    /// The pending signal number, if any.
    pub fn read(&self) -> Option<i32> {
        // SAFETY: plain data.
        let mut info: libc::signalfd_siginfo = unsafe { zeroed() };
        let sz = size_of::<libc::signalfd_siginfo>();
        // SAFETY: reads at most `sz` bytes into the local struct.
        let r = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                sz,
            )
        };
        (r == sz as isize).then_some(info.ssi_signo as i32)
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Every address configured on a local interface (`getifaddrs`), IPv4 and IPv6: what a socket
/// bound to the wildcard address receives on. Empty on failure.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list it allocated, or fails and leaves it alone.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: a non-null ifa_addr points to a sockaddr whose family tells its real type;
            // the casts below only follow that family.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: family AF_INET: the sockaddr is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                out.push(IpAddr::V4(Ipv4Addr::from(
                    sin.sin_addr.s_addr.to_ne_bytes(),
                )));
            } else if family == libc::AF_INET6 {
                // SAFETY: family AF_INET6: the sockaddr is a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn local_addresses_include_loopback() {
        let a = local_addresses();
        assert!(a.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{a:?}");
    }

    #[test]
    fn sockaddr_roundtrip_and_v4_mapping() {
        // SAFETY: all-zero sockaddr_storage is valid.
        let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
        for a in ["192.0.2.1:4000", "[2001:db8::1]:5000"] {
            let a: SocketAddr = a.parse().unwrap();
            to_sockaddr(a, false, &mut ss);
            assert_eq!(from_sockaddr(&ss), Some(a));
        }
        let a: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let len = to_sockaddr(a, true, &mut ss);
        assert_eq!(len as usize, size_of::<libc::sockaddr_in6>());
        assert_eq!(i32::from(ss.ss_family), libc::AF_INET6);
        assert_eq!(from_sockaddr(&ss), Some(a), "v4-mapped comes back as v4");
    }

    #[test]
    fn batch_receive_and_forward_on_loopback() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let relay_in = UdpSocket::bind("127.0.0.1:0").unwrap();
        let relay_out = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        relay_in.set_nonblocking(true).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rb = RecvBatch::new(8);
        assert_eq!(
            rb.recv(relay_in.as_raw_fd()).unwrap(),
            0,
            "empty socket: nothing"
        );
        for i in 0..3u8 {
            a.send_to(&[i; 100], relay_in.local_addr().unwrap())
                .unwrap();
        }
        let ep = Epoll::new().unwrap();
        ep.add(relay_in.as_raw_fd(), 42).unwrap();
        let mut evs = EventBuf::new(4);
        assert_eq!(ep.wait(&mut evs, 5000).unwrap(), 1);
        assert_eq!(evs.token(0), 42);
        let mut got = 0;
        while got < 3 {
            got += rb.recv(relay_in.as_raw_fd()).unwrap();
            if got < 3 {
                ep.wait(&mut evs, 5000).unwrap();
            }
        }
        // forward everything received in the last batch to b
        let items: Vec<(usize, SocketAddr)> = (0..rb.len())
            .map(|i| (i, b.local_addr().unwrap()))
            .collect();
        let d = rb.get(0).unwrap();
        assert_eq!(d.src, a.local_addr().unwrap());
        assert!(!d.truncated);
        let mut sb = SendBatch::new(8);
        let res = sb.send(relay_out.as_raw_fd(), &rb, &items, false);
        assert_eq!(res.sent, items.len());
        assert_eq!(res.bytes, 100 * items.len());
        let mut buf = [0u8; 200];
        let (n, from) = b.recv_from(&mut buf).unwrap();
        assert_eq!((n, from), (100, relay_out.local_addr().unwrap()));
    }

    #[test]
    fn eventfd_wakes_epoll() {
        let e = EventFd::new().unwrap();
        assert!(!e.drain());
        let ep = Epoll::new().unwrap();
        ep.add(e.as_raw_fd(), 7).unwrap();
        let mut evs = EventBuf::new(2);
        assert_eq!(ep.wait(&mut evs, 0).unwrap(), 0);
        e.notify();
        e.notify();
        assert_eq!(ep.wait(&mut evs, 5000).unwrap(), 1);
        assert!(e.drain());
        assert_eq!(ep.wait(&mut evs, 0).unwrap(), 0);
    }

    #[test]
    fn spawned_threads_have_every_signal_blocked() {
        let h = spawn_blocked("t".into(), signals_blocked).unwrap();
        assert!(h.join().unwrap());
        // and the caller's mask is unchanged (the test harness thread blocks nothing)
        assert!(!signals_blocked());
    }

    #[test]
    fn nofile_can_be_raised_to_its_current_value() {
        // SAFETY: plain data.
        let mut lim: libc::rlimit = unsafe { zeroed() };
        // SAFETY: valid pointer.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        assert!(raise_nofile(lim.rlim_cur as u64).unwrap() >= lim.rlim_cur as u64);
        assert!(raise_nofile(4096).unwrap() >= 1024);
    }
}
