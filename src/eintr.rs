//! The one place that handles system calls a signal interrupted (`EINTR`). Relay threads run
//! with every signal blocked, but the same code runs in host processes that take signals.
//!
//! * [`retry`]: call again at once (reads, writes, accepts, batched socket I/O);
//! * [`as_timeout`]: a wait with a timeout ends early as if nothing were ready (the caller's
//!   loop waits again with a fresh timeout).
//!
//! Loops that recompute a deadline before each try (the control client) retry by going round
//! their loop instead.

use std::io;

/// Calls `f` until it does not fail with `EINTR`.
pub fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// The result of a wait for ready descriptors, `EINTR` read as "none ready".
pub fn as_timeout(r: io::Result<usize>) -> io::Result<usize> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_calls_are_retried_and_other_errors_returned() {
        let mut calls = 0;
        let r = retry(|| {
            calls += 1;
            if calls < 3 {
                Err(io::Error::from_raw_os_error(libc::EINTR))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 3);
        let mut calls = 0;
        let r: io::Result<()> = retry(|| {
            calls += 1;
            Err(io::Error::from_raw_os_error(libc::EAGAIN))
        });
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EAGAIN));
        assert_eq!(calls, 1);
    }

    #[test]
    fn an_interrupted_wait_is_a_timeout() {
        let eintr = io::Error::from_raw_os_error(libc::EINTR);
        assert_eq!(as_timeout(Err(eintr)).unwrap(), 0);
        assert_eq!(as_timeout(Ok(2)).unwrap(), 2);
        let ebadf = io::Error::from_raw_os_error(libc::EBADF);
        assert_eq!(
            as_timeout(Err(ebadf)).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
    }
}
