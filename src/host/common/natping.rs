//! `natping_interval`'s host-neutral part: one round of keep-alives, run by the host's timer.
//!
//! The host layer binds its usrloc module in `mod_init` and hands over a [`Usrloc`]: the
//! `get_all_ucontacts` function, the NAT flag usrloc was configured with and the layout of
//! the contacts it packs ([`crate::nat::ping`] walks them). Each round fetches the contacts
//! into a buffer that grows when usrloc says it was short, and sends the keep-alive to each
//! from the file descriptor of the socket the contact registered on (`struct socket_info`
//! starts with it in both hosts). Only datagram sockets are used; a failed send is counted and
//! reported once per round, never retried within it.

use std::ffi::{c_int, c_uint, c_void};
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::sync::Mutex;

use once_cell::sync::OnceCell;
use socket2::{SockAddr, SockRef, Type};

use super::log::{emit, guard, HostLogger, Level};
use crate::nat::ping::{destination, Field, Packed, KEEPALIVE};

/// usrloc's `get_all_ucontacts(buf, len, flags, part_idx, part_max, options)`.
pub type GetAllContacts =
    unsafe extern "C" fn(*mut c_void, c_int, c_uint, c_uint, c_uint, c_int) -> c_int;

/// What the host's usrloc gives natping.
#[derive(Clone, Copy)]
pub struct Usrloc {
    pub get_all: GetAllContacts,
    /// Contacts must carry all of these branch flags (usrloc's `nat_bflag`); 0 = every contact.
    pub nat_flag: u32,
    /// How this host's usrloc packs a contact.
    pub layout: &'static [Field],
}

static USRLOC: OnceCell<Usrloc> = OnceCell::new();
/// The contact buffer, kept between rounds (only the timer process uses it).
static BUF: Mutex<Vec<u8>> = Mutex::new(Vec::new());
const FIRST_BUF: usize = 64 * 1024;
/// Upper bound for the contact buffer (usrloc with more contacts than this holds gets pings
/// for as many as fit, and a warning).
const MAX_BUF: usize = 64 * 1024 * 1024;

/// `mod_init`'s natping part for every host: with `natping_interval` set, binds usrloc
/// (`bind`: None when it is not loaded), says once what will be pinged (or that nothing will)
/// and registers the host's timer (`register(interval)`: false when the core refused it,
/// which stops the start-up).
pub fn init<H: HostLogger>(
    log: &H,
    cfg: &crate::config::Config,
    bind: impl FnOnce() -> Option<Usrloc>,
    register: impl FnOnce(u32) -> bool,
) -> Result<(), String> {
    if cfg.disable || cfg.natping_interval == 0 {
        return Ok(());
    }
    let (start, line) = setup(cfg.natping_interval, bind());
    if let Some((level, line)) = line {
        emit(log, level, "mod_init", format_args!("{line}"));
    }
    if start && !register(cfg.natping_interval) {
        return Err("cannot register the natping_interval timer".into());
    }
    Ok(())
}

/// The start-up decision, for the log: the host's usrloc (None when usrloc is not loaded) and
/// `natping_interval`. Returns whether the host must register its timer, and the line to log
/// (once).
pub fn setup(interval: u32, usrloc: Option<Usrloc>) -> (bool, Option<(Level, String)>) {
    if interval == 0 {
        return (false, None);
    }
    let Some(ul) = usrloc else {
        return (
            false,
            Some((
                Level::Warn,
                format!(
                    "natping_interval is {interval} but usrloc is not loaded: no keep-alives are \
                     sent (load usrloc, or set natping_interval to 0)"
                ),
            )),
        );
    };
    let _ = USRLOC.set(ul);
    let which = if ul.nat_flag == 0 {
        "every registered UDP contact (usrloc has no nat_bflag)".to_string()
    } else {
        format!(
            "registered UDP contacts with usrloc's nat_bflag (mask {:#x})",
            ul.nat_flag
        )
    };
    (
        true,
        Some((
            Level::Info,
            format!("natping: keep-alives every {interval} s to {which}"),
        )),
    )
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: u32,
    pub skipped: u32,
    pub failed: u32,
}

/// Reads the file descriptor at the start of a host `struct socket_info`.
fn socket_fd(socket: usize) -> c_int {
    // SAFETY: `socket` is a `struct socket_info *` that usrloc copied from a registered
    // contact; the host's listening sockets live (in memory inherited by every process) for
    // the whole run, and both hosts put the descriptor first.
    unsafe { *(socket as *const c_int) }
}

/// What a round learnt about one host socket: a datagram socket, and whether IPv6.
type SocketKind = Result<bool, String>;

fn socket_kind(sock: &SockRef<'_>) -> SocketKind {
    let e = |e: std::io::Error| e.to_string();
    if sock.r#type().map_err(e)? != Type::DGRAM {
        return Err("not a datagram socket".into());
    }
    Ok(sock.local_addr().map_err(e)?.is_ipv6())
}

/// Sends the keep-alive from `fd`; `kinds` keeps each socket's kind for the round (a round
/// has many contacts but few sockets, so each is asked about once).
fn send(fd: c_int, dest: SocketAddr, kinds: &mut Vec<(c_int, SocketKind)>) -> std::io::Result<()> {
    // SAFETY: fd is one of the host's listening sockets, open for the whole run; it is only
    // borrowed for this call and never closed here.
    let fd_ref = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = SockRef::from(&fd_ref);
    let kind = match kinds.iter().find(|(f, _)| *f == fd) {
        Some((_, k)) => k.clone(),
        None => {
            let k = socket_kind(&sock);
            kinds.push((fd, k.clone()));
            k
        }
    };
    let v6 = kind.map_err(std::io::Error::other)?;
    let dest = match (v6, dest) {
        (true, SocketAddr::V4(v4)) => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
        (false, SocketAddr::V6(_)) => {
            return Err(std::io::Error::other(
                "an IPv6 destination on an IPv4 socket",
            ))
        }
        (_, d) => d,
    };
    sock.send_to(&KEEPALIVE, &SockAddr::from(dest)).map(|_| ())
}

/// One round: fetch the contacts, send each its keep-alive.
pub fn round<H: HostLogger>(log: &H) -> Round {
    let mut r = Round::default();
    let Some(ul) = USRLOC.get() else {
        return r;
    };
    let Ok(mut buf) = BUF.lock() else {
        return r;
    };
    if buf.is_empty() {
        buf.resize(FIRST_BUF, 0);
    }
    // usrloc returns how many bytes it lacked; grow (bounded) and ask again
    let mut filled = false;
    for _ in 0..4 {
        let len = c_int::try_from(buf.len()).unwrap_or(c_int::MAX);
        // SAFETY: buf is `len` writable bytes; usrloc writes at most that many.
        let short = unsafe { (ul.get_all)(buf.as_mut_ptr().cast(), len, ul.nat_flag, 0, 1, 0) };
        if short < 0 {
            emit(
                log,
                Level::Err,
                "natping",
                format_args!("usrloc could not list the registered contacts"),
            );
            return r;
        }
        filled = true;
        if short == 0 {
            break;
        }
        let want = buf.len() + short as usize + short as usize / 2 + 1024;
        if want > MAX_BUF {
            emit(
                log,
                Level::Warn,
                "natping",
                format_args!("the contact list exceeds {MAX_BUF} bytes: pinging those that fit"),
            );
            break;
        }
        buf.resize(want, 0);
    }
    if !filled {
        return r;
    }
    let mut first_error: Option<String> = None;
    let mut kinds = Vec::new();
    for c in Packed::new(&buf, ul.layout) {
        match destination(&c) {
            Ok(dest) => match send(socket_fd(c.socket), dest, &mut kinds) {
                Ok(()) => r.sent += 1,
                Err(e) => {
                    r.failed += 1;
                    first_error.get_or_insert_with(|| format!("{dest}: {e}"));
                }
            },
            Err(why) => {
                r.skipped += 1;
                emit(
                    log,
                    Level::Dbg,
                    "natping",
                    format_args!(
                        "no keep-alive for {}: {why}",
                        String::from_utf8_lossy(c.contact)
                    ),
                );
            }
        }
    }
    if let Some(e) = first_error {
        emit(
            log,
            Level::Warn,
            "natping",
            format_args!(
                "{} of {} keep-alives could not be sent (first: {e})",
                r.failed,
                r.failed + r.sent
            ),
        );
    }
    emit(
        log,
        Level::Dbg,
        "natping",
        format_args!(
            "keep-alives sent: {}, skipped: {}, failed: {}",
            r.sent, r.skipped, r.failed
        ),
    );
    r
}

/// The timer's body for every host: one guarded round.
pub fn tick<H: HostLogger>(log: &H) {
    guard(log, "natping", (), || {
        let r = round(log);
        super::relay::count_natpings(r.sent);
    })
}

/// Writes a host layer's natping part: `bind_usrloc` (through the shim's `mpx_bind_usrloc`
/// into the host's `mpx_usrloc_api`), the timer callback, and `init` for `mod_init`, given
/// the host's bindings (`$sys`), logger, contact layout and how it registers a timer
/// (`|interval, callback| -> registered`).
macro_rules! natping_host {
    ($sys:ident, $log:expr, $layout:expr, |$interval:ident, $cb:ident| $register:expr) => {
        fn bind_usrloc() -> Option<$crate::host::common::natping::Usrloc> {
            let mut api = std::mem::MaybeUninit::<$sys::mpx_usrloc_api>::zeroed();
            // SAFETY: the shim zeroes and fills the struct through usrloc's own
            // ul_bind_usrloc(), when usrloc is loaded; the layout is checked against the
            // supported versions in the host's mpx_types.h.
            let api = unsafe {
                if $sys::mpx_bind_usrloc(api.as_mut_ptr()) != 0 {
                    return None;
                }
                api.assume_init()
            };
            Some($crate::host::common::natping::Usrloc {
                get_all: api.get_all_ucontacts?,
                nat_flag: api.nat_flag,
                layout: $layout,
            })
        }

        unsafe extern "C" fn timer(_ticks: std::ffi::c_uint, _param: *mut std::ffi::c_void) {
            $crate::host::common::natping::tick($log);
        }

        /// From `mod_init`, after usrloc was initialised: binds usrloc and registers the
        /// timer when `natping_interval` is set.
        pub fn init(cfg: &$crate::config::Config) -> Result<(), String> {
            $crate::host::common::natping::init($log, cfg, bind_usrloc, |$interval| {
                let $cb: $sys::mpx_timer_cb = Some(timer);
                $register
            })
        }
    };
}
pub(crate) use natping_host;
