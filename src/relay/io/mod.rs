//! The relay workers' I/O back ends, one sibling each: [`epoll`] (readiness, `recvmmsg` /
//! `sendmmsg`) and [`uring`] (multishot receives into provided buffers, batched sends).
//!
//! A back end moves datagrams between the kernel and the worker core ([`crate::relay::worker`]):
//! it follows the core's flow table ([`FlowIo`]), hands every datagram it receives to the core's
//! forwarding decision ([`judge`](fn@crate::relay::worker::judge)) and sends what that returns. It
//! depends on the core's types; the core never names a back end. The choice is made here, once
//! for every worker ([`IoBackend::choose`]), and a worker thread runs the one chosen
//! ([`IoBackend::run`]).
//!
//! A third back end is one more sibling: a type implementing [`Driver`] (one turn of the event
//! loop) and [`FlowIo`], one variant of [`IoBackend`], one arm in [`IoBackend::run`].

pub(crate) mod epoll;
pub(crate) mod uring;

use crate::relay::worker::{Core, FlowIo};
use crossbeam_channel::Sender;
use std::io;

pub use crate::settings::RelayIo;

/// Settings of the io_uring back end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UringSettings {
    /// Provided receive buffers per worker (a power of two).
    pub buffers: u16,
    /// Size of the registered-file table (sockets addressed by index, not descriptor).
    pub files: u32,
    /// How long a worker may wait to gather completions (`relay_batch_wait`).
    pub batch_us: u32,
    /// Send through sockets connected to the peers (`relay_connected_sockets`).
    pub twins: bool,
}

/// The I/O back end a worker runs, as resolved at start (never `Auto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoBackend {
    Epoll,
    IoUring(UringSettings),
}

/// One back end as a worker thread runs it. The back end owns the waiting: each turn it waits
/// for I/O or a wake-up, applies the queued commands through [`Core::commands`] *before* judging
/// any packet (a command is always queued before the control reply that lets an endpoint send,
/// so no packet is judged by stale latching state), forwards what it received and publishes the
/// batch's counters ([`Core::flush_counters`]).
pub(crate) trait Driver: FlowIo + Sized {
    /// One turn of the event loop. `false`: the worker is to stop.
    fn turn(&mut self, core: &mut Core) -> bool;
    /// After the loop, before the flows' sockets close with the core.
    fn finish(self, _core: &mut Core) {}
}

impl IoBackend {
    /// Resolves `want` to a back end, probing io_uring unless epoll is asked for (`uring`: its
    /// settings if it is chosen). Returns the back end and, for `auto` falling back to epoll,
    /// why.
    pub fn choose(want: RelayIo, uring: UringSettings) -> io::Result<(IoBackend, Option<String>)> {
        match want {
            RelayIo::Epoll => Ok((IoBackend::Epoll, None)),
            RelayIo::IoUring => match uring::probe() {
                Ok(()) => Ok((IoBackend::IoUring(uring), None)),
                Err(why) => Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("relay_io is io_uring but io_uring is not available: {why}"),
                )),
            },
            RelayIo::Auto => match uring::probe() {
                Ok(()) => Ok((IoBackend::IoUring(uring), None)),
                Err(why) => Ok((IoBackend::Epoll, Some(why))),
            },
        }
    }

    pub fn io(self) -> RelayIo {
        match self {
            IoBackend::Epoll => RelayIo::Epoll,
            IoBackend::IoUring(_) => RelayIo::IoUring,
        }
    }

    /// The worker thread's body: sets up the back end's I/O on this thread (an io_uring belongs
    /// to the thread that created it), reports the outcome on `ready`, then runs until a `Stop`
    /// command (or the command channel closes).
    pub fn run(self, core: Core, ready: Sender<Result<(), String>>) {
        match self {
            IoBackend::Epoll => {
                let made = epoll::EpollIo::new(&core).map_err(|e| format!("epoll: {e}"));
                serve(core, made, ready);
            }
            IoBackend::IoUring(s) => {
                let made = uring::UringIo::new(&core, s);
                serve(core, made, ready);
            }
        }
    }
}

fn serve<D: Driver>(mut core: Core, made: Result<D, String>, ready: Sender<Result<(), String>>) {
    let mut io = match made {
        Ok(io) => io,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    drop(ready);
    core.run_loop(|core| io.turn(core));
    io.finish(&mut core);
    // the flows (and their sockets) close with `core`
}

#[cfg(test)]
mod tests;
