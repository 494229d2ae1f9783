//! The control thread's loop: serves the control socket with the [`Engine`], ticks its timers,
//! ends on `stop` (then ends every session and stops the workers).

use super::engine::Engine;
use super::sys::{self, EventFd};
use super::LogLevel;
use crate::control::server::Server;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The control thread: serves the socket, ticks timers, ends on `stop`.
pub(crate) fn control_loop(
    mut server: Server,
    mut engine: Engine,
    stop: Arc<EventFd>,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
) {
    loop {
        let mut fds = server.poll_fds();
        fds.push((stop.as_raw_fd(), false));
        let wait = engine
            .next_deadline()
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(250));
        let _ = sys::poll_any(&fds, wait);
        if stopping.load(Ordering::Acquire) {
            break;
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            server.service(&mut engine);
            let now = Instant::now();
            if now >= engine.next_deadline() {
                engine.tick(now);
            }
        }));
        if r.is_err() {
            engine.events.send_log(
                LogLevel::Error,
                "relay control thread: panic while serving a request, continuing".into(),
            );
        }
    }
    drop(server); // removes the socket file
    engine.table.clear(Instant::now());
    engine.table.backend_mut().stop_workers();
    for w in workers {
        let _ = w.join();
    }
}
