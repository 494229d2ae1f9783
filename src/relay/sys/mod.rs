//! System calls of the relay (the io_uring back end has its own room, `io/uring/`): epoll,
//! eventfd, signal masks, `RLIMIT_NOFILE`, `poll`, `signalfd`, and in [`udp`] batched UDP
//! receive/send (`recvmmsg`/`sendmmsg`) and socket addresses. With the io_uring memory and ring,
//! the only place of the crate besides `host` that contains `unsafe`; every block states why it
//! is sound.
//!
//! Conventions (quinn-udp style): `EINTR` is retried inside each helper ([`crate::eintr`]),
//! `EAGAIN` means "nothing now" and is not an error, buffers are allocated once per worker and
//! reused for every packet.

mod udp;

pub(crate) use udp::{connected_twin, reconnect_twin, sockaddr_from_bytes, to_sockaddr};
pub use udp::{RecvBatch, SendBatch, SendResult, MAX_DGRAM};

use crate::eintr;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub(super) fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub(super) fn cvt_size(r: libc::ssize_t) -> io::Result<libc::ssize_t> {
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
    interface_addresses().into_iter().map(|(_, a)| a).collect()
}

/// Every address configured on a local interface, with the interface's name. Empty on failure.
pub fn interface_addresses() -> Vec<(String, IpAddr)> {
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
        let name = if ifa.ifa_name.is_null() {
            String::new()
        } else {
            // SAFETY: a non-null ifa_name is a NUL-terminated string of the list.
            unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
                .to_string_lossy()
                .into_owned()
        };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: a non-null ifa_addr points to a sockaddr whose family tells its real type;
            // the casts below only follow that family.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: family AF_INET: the sockaddr is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                let a = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                out.push((name, IpAddr::V4(a)));
            } else if family == libc::AF_INET6 {
                // SAFETY: family AF_INET6: the sockaddr is a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                out.push((name, IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))));
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

    #[test]
    fn local_addresses_include_loopback() {
        let a = local_addresses();
        assert!(a.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{a:?}");
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
