//! Batched UDP for the epoll back end (`recvmmsg` of a batch into buffers allocated once,
//! `sendmmsg` of what the worker made of them), socket-address conversion shared with the
//! io_uring back end, and the connected twins of relay sockets.

use super::cvt;
use crate::eintr;
use crate::relay::packet::Datagram;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::sys::{Epoll, EventBuf};
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

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
}
