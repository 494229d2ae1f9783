//! The start-up probe: whether io_uring can run the relay on this kernel, tried for real.

use super::ring::{Ring, Target};
use super::{KIND_SHIFT, K_SEND};
use io_uring::cqueue;
use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

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
            let Some(d) = ring.datagram(bid, c.res) else {
                return Err("multishot recvmsg delivered no datagram".into());
            };
            let len = d.payload.len();
            if d.src != to || d.payload != b"probe" {
                return Err("multishot recvmsg delivered another datagram".into());
            }
            if sent {
                return Ok(());
            }
            if !cqueue::more(c.flags) || !ring.send(t, bid, len, Some(to), to.is_ipv6()) {
                return Err("multishot recvmsg stopped after one datagram".into());
            }
            sent = true;
        }
    }
    Err("multishot recvmsg or send did not complete".into())
}
