//! Relay-wide counters: plain atomics in a `#[repr(C)]` struct so the host can place it in
//! memory shared between processes (`MAP_SHARED`) and read it from any process (statistics,
//! MI). Every field is an `AtomicU64` updated with `Relaxed` ordering: they are statistics, not
//! synchronisation. Workers add their per-packet numbers in batches, not per packet.

use std::sync::atomic::{AtomicU64, Ordering};

#[repr(C)]
#[derive(Debug, Default)]
pub struct Counters {
    pub sessions_active: AtomicU64,
    pub sessions_created: AtomicU64,
    pub sessions_ended: AtomicU64,
    pub sessions_timed_out: AtomicU64,
    /// Sessions ended because every stream was an unselected ICE candidate (not timeouts).
    pub sessions_ice_unselected: AtomicU64,
    pub streams_active: AtomicU64,
    pub packets_relayed: AtomicU64,
    pub bytes_relayed: AtomicU64,
    /// Packets from a source other than the latched one (strict source).
    pub packets_dropped_strict: AtomicU64,
    /// Packets that had nowhere to go (the other side has no address yet) or could not be sent.
    pub packets_dropped_no_session: AtomicU64,
    pub ports_in_use: AtomicU64,
    pub ports_free: AtomicU64,
    /// `update`s refused because the port range was exhausted.
    pub port_exhaustion: AtomicU64,
    /// Malformed control requests and failed control operations.
    pub control_errors: AtomicU64,
    /// io_uring back end: multishot receives started again after the kernel ended them (no free
    /// buffer, an error, a full completion queue).
    pub rx_rearms: AtomicU64,
    /// io_uring back end: receives that found every provided buffer in use (`ENOBUFS`); their
    /// packets waited in the socket until buffers came back.
    pub rx_no_buffers: AtomicU64,
    /// io_uring back end: connected twins of relay sockets open now
    /// (`relay_connected_sockets`); each is one more descriptor.
    pub connected_sockets: AtomicU64,
    /// Packets to a side that has not latched, from a source the latch policy does not (yet)
    /// accept: a stranger, or a symmetric-NAT source still proving its RTP continuity.
    pub packets_dropped_unlearned: AtomicU64,
    /// Packets that would have latched a side to an address another side owns.
    pub packets_dropped_owned: AtomicU64,
    /// Packets from or towards one of the relay's own ports, the wildcard address, a multicast
    /// or broadcast address, or port 0 (a forwarding loop or a reflection).
    pub packets_dropped_loop: AtomicU64,
    /// Packets over a stream's packet-rate ceiling (`relay_max_packet_rate`).
    pub packets_dropped_rate: AtomicU64,
    /// `update`s refused by a limit (`relay_max_streams`, `relay_max_sessions`).
    pub updates_refused_limit: AtomicU64,
    /// `update`s refused for a forbidden media address (the relay's own ports, multicast,
    /// broadcast).
    pub updates_refused_address: AtomicU64,
    /// Packets longer than the relay relays (2048 bytes), cut by the receive.
    pub packets_dropped_truncated: AtomicU64,
    /// Packets sent to a media copy's destination (recording, `relay/mirror.rs`).
    pub packets_copied: AtomicU64,
    /// Media copies the kernel refused to send (the forwarded packet went on regardless).
    pub packets_copy_failed: AtomicU64,
    /// Packets the kernel fast path forwarded (`relay_kernel`); also in `packets_relayed`.
    pub packets_kernel: AtomicU64,
    /// Calls recorded (pcap files created, `recording_dir`).
    pub recorded_calls: AtomicU64,
    /// Packets written to recordings.
    pub recorded_packets: AtomicU64,
    /// Bytes written to recordings (pcap headers included).
    pub recorded_bytes: AtomicU64,
    /// Packets not recorded: the writer's queue was full or the call's recording had failed.
    pub recording_dropped: AtomicU64,
}

impl Counters {
    pub const fn new() -> Counters {
        Counters {
            sessions_active: AtomicU64::new(0),
            sessions_created: AtomicU64::new(0),
            sessions_ended: AtomicU64::new(0),
            sessions_timed_out: AtomicU64::new(0),
            sessions_ice_unselected: AtomicU64::new(0),
            streams_active: AtomicU64::new(0),
            packets_relayed: AtomicU64::new(0),
            bytes_relayed: AtomicU64::new(0),
            packets_dropped_strict: AtomicU64::new(0),
            packets_dropped_no_session: AtomicU64::new(0),
            ports_in_use: AtomicU64::new(0),
            ports_free: AtomicU64::new(0),
            port_exhaustion: AtomicU64::new(0),
            control_errors: AtomicU64::new(0),
            rx_rearms: AtomicU64::new(0),
            rx_no_buffers: AtomicU64::new(0),
            connected_sockets: AtomicU64::new(0),
            packets_dropped_unlearned: AtomicU64::new(0),
            packets_dropped_owned: AtomicU64::new(0),
            packets_dropped_loop: AtomicU64::new(0),
            packets_dropped_rate: AtomicU64::new(0),
            updates_refused_limit: AtomicU64::new(0),
            updates_refused_address: AtomicU64::new(0),
            packets_dropped_truncated: AtomicU64::new(0),
            packets_copied: AtomicU64::new(0),
            packets_copy_failed: AtomicU64::new(0),
            packets_kernel: AtomicU64::new(0),
            recorded_calls: AtomicU64::new(0),
            recorded_packets: AtomicU64::new(0),
            recorded_bytes: AtomicU64::new(0),
            recording_dropped: AtomicU64::new(0),
        }
    }

    /// A leaked, zeroed instance (tests and the standalone binary).
    pub fn leak() -> &'static Counters {
        Box::leak(Box::new(Counters::new()))
    }

    pub(crate) fn add(c: &AtomicU64, n: u64) {
        if n != 0 {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn sub(c: &AtomicU64, n: u64) {
        if n != 0 {
            // saturating: never wrap below zero even if a caller miscounts
            let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
        }
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
