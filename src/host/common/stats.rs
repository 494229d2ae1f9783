//! The module's statistics, one list for every host: each is a name and the shared counter it
//! reads ([`super::relay::Shared`], in memory every process sees). A host layer turns the list
//! into its own table with a macro of its own (OpenSIPS: `get_statistics mediaproxy:`,
//! Kamailio: counters of the group `mediaproxy`): `stat_list!(my_macro)` expands to
//! `my_macro! { name => |s| s.field, ... }`.

/// Calls `$m! { name => |s| s.field, ... }` with every statistic.
macro_rules! stat_list {
    ($m:ident) => {
        $m! {
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
            dropped_packets_truncated => |s| s.relay.packets_dropped_truncated,
            copied_packets => |s| s.relay.packets_copied,
            copy_failed_packets => |s| s.relay.packets_copy_failed,
            kernel_relayed_packets => |s| s.relay.packets_kernel,
            recorded_calls => |s| s.relay.recorded_calls,
            recorded_packets => |s| s.relay.recorded_packets,
            recorded_bytes => |s| s.relay.recorded_bytes,
            recording_dropped => |s| s.relay.recording_dropped,
        }
    };
}
#[cfg_attr(feature = "kamailio", allow(unused_imports))]
pub(crate) use stat_list;

use std::sync::atomic::{AtomicU64, Ordering};

use super::relay::{shared, Shared};

/// A statistic's value now (0 before the counters exist).
pub fn read(f: fn(&Shared) -> &AtomicU64) -> u64 {
    shared().map(|s| f(s).load(Ordering::Relaxed)).unwrap_or(0)
}

macro_rules! names {
    ($( $name:ident => |$s:ident| $field:expr ),* $(,)?) => {
        /// Every statistic: its name and the counter it reads.
        pub static STATS: &[(&str, fn(&Shared) -> &AtomicU64)] = &[
            $( (stringify!($name), |$s| &$field), )*
        ];
    };
}
stat_list!(names);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_read_their_counters() {
        let mut names: Vec<&str> = STATS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STATS.len());
        let s = Shared {
            relay: crate::relay::Counters::new(),
            client: Default::default(),
            reoffers: crate::ice_reoffer::IceReoffers::new(),
        };
        s.relay.packets_relayed.store(7, Ordering::Relaxed);
        s.client.natpings.store(3, Ordering::Relaxed);
        let get = |name: &str| {
            let (_, f) = STATS.iter().find(|(n, _)| *n == name).expect(name);
            f(&s).load(Ordering::Relaxed)
        };
        assert_eq!(get("relayed_packets"), 7);
        assert_eq!(get("natpings_sent"), 3);
        assert_eq!(get("active_sessions"), 0);
    }
}
