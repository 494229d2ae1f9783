//! Statistics (`get_statistics mediaproxy:`): functions over the counters in shared memory
//! (`STAT_IS_FUNC`), so every process reads the same figures and nothing is copied.

use std::ffi::{c_ulong, c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};

use super::relay_proc::{shared, Shared};

/// `stat_export_t` (24 B, identical in 3.6 and 4.0); with `STAT_IS_FUNC` the pointer field
/// holds an `unsigned long (*)(void *)`.
#[repr(C)]
pub struct StatExport {
    name: *const std::ffi::c_char,
    flags: u16,
    func: Option<unsafe extern "C" fn(*mut c_void) -> c_ulong>,
}
const _: () = assert!(std::mem::size_of::<StatExport>() == 24);

const STAT_NO_RESET: u16 = 1;
const STAT_IS_FUNC: u16 = 8;

#[repr(transparent)]
pub struct StatTable(pub [StatExport; 28]);
// SAFETY: read-only; string literals and functions only.
unsafe impl Sync for StatTable {}

fn read(f: fn(&Shared) -> &AtomicU64) -> c_ulong {
    shared().map(|s| f(s).load(Ordering::Relaxed)).unwrap_or(0) as c_ulong
}

macro_rules! stats {
    ($( $name:ident => |$s:ident| $field:expr ),* $(,)?) => {
        $(
            unsafe extern "C" fn $name(_: *mut c_void) -> c_ulong {
                // reading atomics cannot panic; no guard needed
                read(|$s| &$field)
            }
        )*
        pub static STATS: StatTable = StatTable([
            $( StatExport {
                name: {
                    const N: &CStr = match CStr::from_bytes_with_nul(
                        concat!(stringify!($name), "\0").as_bytes()) {
                        Ok(c) => c,
                        Err(_) => panic!("stat name"),
                    };
                    N.as_ptr()
                },
                flags: STAT_IS_FUNC | STAT_NO_RESET,
                func: Some($name),
            }, )*
            StatExport { name: std::ptr::null(), flags: 0, func: None },
        ]);
    };
}

stats! {
    active_sessions => |s| s.relay.sessions_active,
    active_streams => |s| s.relay.streams_active,
    created_sessions => |s| s.relay.sessions_created,
    ended_sessions => |s| s.relay.sessions_ended,
    timed_out_sessions => |s| s.relay.sessions_timed_out,
    ice_unselected_sessions => |s| s.relay.sessions_ice_unselected,
    relayed_packets => |s| s.relay.packets_relayed,
    relayed_bytes => |s| s.relay.bytes_relayed,
    dropped_packets_strict_source => |s| s.relay.packets_dropped_strict,
    dropped_packets_no_session => |s| s.relay.packets_dropped_no_session,
    ports_in_use => |s| s.relay.ports_in_use,
    ports_free => |s| s.relay.ports_free,
    port_exhaustions => |s| s.relay.port_exhaustion,
    relay_control_errors => |s| s.relay.control_errors,
    control_requests => |s| s.client.requests,
    control_failures => |s| s.client.failures,
    control_timeouts => |s| s.client.timeouts,
    natpings_sent => |s| s.client.natpings,
    io_uring_rearms => |s| s.relay.rx_rearms,
    io_uring_no_buffers => |s| s.relay.rx_no_buffers,
    connected_sockets => |s| s.relay.connected_sockets,
    dropped_packets_unlearned => |s| s.relay.packets_dropped_unlearned,
    dropped_packets_owned => |s| s.relay.packets_dropped_owned,
    dropped_packets_loop => |s| s.relay.packets_dropped_loop,
    dropped_packets_rate => |s| s.relay.packets_dropped_rate,
    refused_updates_limit => |s| s.relay.updates_refused_limit,
    refused_updates_address => |s| s.relay.updates_refused_address,
}
