//! A worker's side of the fast path: the [`FlowObserver`] that hands a flow to the kernel once
//! both its sides are latched (and, for RTP, both parties' codecs are known: their first RTP
//! packets went through the worker), replaces it when a side re-latches or new signalling
//! (re-INVITE, update, hold) leaves it latched, takes it back when a side unlatches (new
//! signalling that changed the address) or the flow is removed (session end, timeout); and [`StreamKernel`], through which
//! what the kernel forwarded reaches the stream's statistics, so that session statistics, MI,
//! events and the media and hold timeouts count those packets as if the worker had relayed
//! them.
//!
//! A flow's two directions are two kernel flows: packets from the caller's latched source to
//! the caller-facing port leave from the callee-facing socket's address to the callee's
//! latched source, and the other way round. The first packet of each direction after the
//! hand-over still comes to the worker (the program learns the path to each party from that
//! party's own packets), and so does everything the program does not take (strangers, a new
//! source, STUN): the worker judges those exactly as without the fast path.

use super::{Flow as KernelFlow, FlowCounters, FlowKey, KernelPath};
use crate::relay::events::{EventSink, LogLevel};
use crate::relay::sys;
use crate::relay::worker::{Flow, FlowObserver, Local, StreamShared};
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

/// How often the worker adds installed flows' counters to the statistics (one `bpf(2)` call
/// per direction). Readers of the statistics add what came since themselves.
const FOLD_EVERY_MS: u64 = 500;
/// Flow slots a worker folds per turn of its loop (a sweep spreads over turns, so a worker
/// with thousands of flows in the kernel does not hold its other packets for the whole sweep;
/// an idle worker turns at least once a second). Only the relay-wide counters wait for the
/// sweep: statistics readers add what was not folded yet themselves.
const FOLD_PER_TURN: usize = 4096;

/// One direction of a flow in the kernel.
#[derive(Debug)]
struct Entry {
    key: FlowKey,
    /// The sending party.
    party: usize,
    rtcp: bool,
    /// Packets and bytes already added to the stream's statistics.
    folded: (u64, u64),
}

/// The kernel flows of one stream (RTP and RTCP, both directions): installed by its worker,
/// read by the control thread. The lock is taken on hand-over, take-back, fold and statistics
/// reads, never on the packet path; it makes a reader see each kernel packet exactly once,
/// either in the statistics or as not yet added.
#[derive(Debug, Default)]
pub struct StreamKernel {
    entries: Mutex<Vec<Entry>>,
    /// Set by the worker at the first hand-over.
    path: OnceLock<Arc<KernelPath>>,
}

/// What the kernel forwarded for one party beyond the stream's statistics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unfolded {
    pub packets: u64,
    pub bytes: u64,
    /// The last RTP packet's time (RTCP does not count as media time, as in the worker).
    pub last_media: Option<Instant>,
}

fn ms_since(epoch: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX - 1) + 1
}

impl StreamKernel {
    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `read` (which loads the stream's statistics) with what the kernel forwarded beyond
    /// them, per party, and no fold in between.
    pub(crate) fn read<R>(&self, read: impl FnOnce([Unfolded; 2]) -> R) -> R {
        let entries = self.lock();
        let mut extra = [Unfolded::default(); 2];
        if let Some(path) = self.path.get() {
            for e in entries.iter() {
                let Ok(Some(c)) = path.counters(&e.key) else {
                    continue;
                };
                let x = &mut extra[e.party & 1];
                x.packets += c.packets.saturating_sub(e.folded.0);
                x.bytes += c.bytes.saturating_sub(e.folded.1);
                if !e.rtcp && c.packets > e.folded.0 {
                    x.last_media = x.last_media.max(c.last_seen);
                }
            }
        }
        read(extra)
    }

    /// Adds `c` (the current counters of `e`) to `sh` beyond what was added before.
    fn fold_one(
        e: &mut Entry,
        c: FlowCounters,
        sh: &StreamShared,
        epoch: Instant,
        local: &mut Local,
    ) {
        let (dp, db) = (
            c.packets.saturating_sub(e.folded.0),
            c.bytes.saturating_sub(e.folded.1),
        );
        if dp == 0 {
            return;
        }
        e.folded = (c.packets, c.bytes);
        let i = e.party & 1;
        sh.packets[i].fetch_add(dp, Ordering::Relaxed);
        sh.bytes[i].fetch_add(db, Ordering::Relaxed);
        local.relayed += dp;
        local.kernel += dp;
        local.bytes += db;
        if let (false, Some(seen)) = (e.rtcp, c.last_seen) {
            let ms = ms_since(epoch, seen);
            if sh.first_ms[i].load(Ordering::Relaxed) == 0 {
                sh.first_ms[i].store(ms, Ordering::Relaxed);
            }
            sh.last_ms[i].fetch_max(ms, Ordering::Relaxed);
        }
    }
}

/// A flow this worker handed to the kernel.
struct Installed {
    keys: [FlowKey; 2],
    shared: Arc<StreamShared>,
}

pub(crate) struct Handoff {
    path: Arc<KernelPath>,
    epoch: Instant,
    log: EventSink,
    worker: usize,
    /// By the worker's flow slot.
    installed: Vec<Option<Installed>>,
    /// Latched flows waiting for both parties' codecs (slot, the latched pair).
    waiting: Vec<(usize, [SocketAddr; 2])>,
    last_fold_ms: u64,
    /// Where the current sweep goes on (a flow slot; 0: no sweep under way).
    cursor: usize,
    /// Failed installs not logged (one line per worker until one succeeds).
    quiet: bool,
    /// Relay-wide counts of flows taken back, added to the worker's at the next tick.
    pending: Local,
}

impl Handoff {
    pub(crate) fn new(
        path: Arc<KernelPath>,
        epoch: Instant,
        log: EventSink,
        worker: usize,
    ) -> Self {
        Handoff {
            path,
            epoch,
            log,
            worker,
            installed: Vec::new(),
            waiting: Vec::new(),
            last_fold_ms: 0,
            cursor: 0,
            quiet: false,
            pending: Local::default(),
        }
    }

    /// The two kernel flows of `flow` latched to `sources`, or `None` where the fast path does
    /// not apply (IPv6, or an address it cannot tell).
    fn flows_of(flow: &Flow, sources: [SocketAddr; 2]) -> Option<[KernelFlow; 2]> {
        let v4 = |a: SocketAddr| match a {
            SocketAddr::V4(a) => Some(a),
            SocketAddr::V6(_) => None,
        };
        let src = [v4(sources[0])?, v4(sources[1])?];
        let mut local = [
            v4(flow.socks[0].local_addr().ok()?)?,
            v4(flow.socks[1].local_addr().ok()?)?,
        ];
        for (i, l) in local.iter_mut().enumerate() {
            if l.ip().is_unspecified() {
                // a wildcard socket sends from the address the kernel routes towards the party
                match sys::local_ip_towards(IpAddr::V4(*src[i].ip())).ok()? {
                    IpAddr::V4(ip) => *l = SocketAddrV4::new(ip, l.port()),
                    IpAddr::V6(_) => return None,
                }
            }
        }
        let dir = |i: usize| KernelFlow {
            key: FlowKey {
                source: src[i],
                relay_port: local[i].port(),
            },
            new_source: local[1 - i],
            destination: src[1 - i],
        };
        Some([dir(0), dir(1)])
    }

    /// A flow goes to the kernel when it has no media copies (the worker sends those), and an
    /// RTP flow once the worker has seen both parties' first RTP packet (the codec in the
    /// statistics is the first packet's payload type).
    fn ready(flow: &Flow) -> bool {
        flow.mirrors.is_empty()
            && (flow.rtcp
                || flow
                    .shared
                    .codec
                    .iter()
                    .all(|c| c.load(Ordering::Relaxed) != 0))
    }

    fn hand_over(&mut self, flow: &Flow, sources: [SocketAddr; 2]) {
        self.waiting.retain(|(s, _)| *s != flow.slot);
        if !Self::ready(flow) {
            self.waiting.push((flow.slot, sources));
            return;
        }
        let Some(dirs) = Self::flows_of(flow, sources) else {
            return;
        };
        for (n, d) in dirs.iter().enumerate() {
            if let Err(e) = self.path.install(d) {
                for undo in &dirs[..n] {
                    let _ = self.path.remove(&undo.key);
                }
                if !self.quiet {
                    self.quiet = true;
                    self.log.send_log(
                        LogLevel::Warn,
                        format!(
                            "relay worker {}: cannot hand a stream to the kernel fast path ({e}); \
                             it stays in user space (further failures not logged)",
                            self.worker
                        ),
                    );
                }
                return;
            }
        }
        self.quiet = false;
        let keys = [dirs[0].key, dirs[1].key];
        let _ = flow.shared.kernel.path.set(self.path.clone());
        flow.shared.kernel.lock().extend((0..2).map(|party| Entry {
            key: keys[party],
            party,
            rtcp: flow.rtcp,
            folded: (0, 0),
        }));
        if self.installed.len() <= flow.slot {
            self.installed.resize_with(flow.slot + 1, || None);
        }
        self.installed[flow.slot] = Some(Installed {
            keys,
            shared: flow.shared.clone(),
        });
    }

    /// Takes the flow in `slot` back from the kernel; what it forwarded since the last fold
    /// goes to the statistics.
    fn take_back(&mut self, slot: usize) {
        self.waiting.retain(|(s, _)| *s != slot);
        let Some(inst) = self.installed.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let mut entries = inst.shared.kernel.lock();
        for key in inst.keys {
            let last = self.path.remove(&key).ok().flatten();
            if let Some(at) = entries.iter().position(|e| e.key == key) {
                let mut e = entries.swap_remove(at);
                if let Some(c) = last {
                    StreamKernel::fold_one(&mut e, c, &inst.shared, self.epoch, &mut self.pending);
                }
            }
        }
    }
}

impl FlowObserver for Handoff {
    fn latched(&mut self, flow: &Flow, sources: [SocketAddr; 2]) {
        self.hand_over(flow, sources);
    }

    fn relatched(&mut self, flow: &Flow, sources: [SocketAddr; 2]) {
        self.take_back(flow.slot);
        self.hand_over(flow, sources);
    }

    fn unlatched(&mut self, flow: &Flow) {
        self.take_back(flow.slot);
    }

    fn removed(&mut self, flow: &Flow) {
        self.take_back(flow.slot);
    }

    fn resignalled(&mut self, flow: &Flow) {
        // replaced: taken back first, handed over again (the kernel learns the way anew)
        if let Some(sources) = flow.latched() {
            self.take_back(flow.slot);
            self.hand_over(flow, sources);
        }
    }

    fn last_rtp(&mut self, flow: &Flow, party: usize) -> Option<(u32, u16)> {
        let inst = self.installed.get(flow.slot)?.as_ref()?;
        self.path.counters(&inst.keys[party & 1]).ok()??.last_rtp
    }

    fn tick(&mut self, flows: &[Option<Flow>], now_ms: u64, local: &mut Local) {
        if self.cursor == 0 {
            // a new sweep, at most every FOLD_EVERY_MS
            if now_ms.saturating_sub(self.last_fold_ms) < FOLD_EVERY_MS {
                return;
            }
            self.last_fold_ms = now_ms;
            let taken = std::mem::take(&mut self.pending);
            local.relayed += taken.relayed;
            local.kernel += taken.kernel;
            local.bytes += taken.bytes;
            // latched flows whose codecs have become known since
            for (slot, sources) in std::mem::take(&mut self.waiting) {
                match flows.get(slot) {
                    Some(Some(f)) if f.latched() == Some(sources) => self.hand_over(f, sources),
                    _ => {}
                }
            }
        }
        // a bounded share of the sweep per turn: the worker's other flows wait for no more
        let end = (self.cursor + FOLD_PER_TURN).min(self.installed.len());
        for inst in self.installed[self.cursor..end].iter().flatten() {
            let mut entries = inst.shared.kernel.lock();
            for e in entries.iter_mut().filter(|e| inst.keys.contains(&e.key)) {
                if let Ok(Some(c)) = self.path.counters(&e.key) {
                    StreamKernel::fold_one(e, c, &inst.shared, self.epoch, local);
                }
            }
        }
        self.cursor = if end >= self.installed.len() { 0 } else { end };
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        for slot in 0..self.installed.len() {
            self.take_back(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(party: usize, rtcp: bool) -> Entry {
        Entry {
            key: FlowKey {
                source: "192.0.2.1:4000".parse().unwrap(),
                relay_port: 40000,
            },
            party,
            rtcp,
            folded: (0, 0),
        }
    }

    fn counts(packets: u64, bytes: u64, seen: Option<Instant>) -> FlowCounters {
        FlowCounters {
            packets,
            bytes,
            last_seen: seen,
            last_rtp: None,
        }
    }

    #[test]
    fn folding_adds_each_kernel_packet_once() {
        let epoch = Instant::now();
        let sh = StreamShared::default();
        let mut local = Local::default();
        let mut e = entry(1, false);
        let t1 = epoch + Duration::from_millis(1500);
        StreamKernel::fold_one(&mut e, counts(10, 1720, Some(t1)), &sh, epoch, &mut local);
        StreamKernel::fold_one(&mut e, counts(10, 1720, Some(t1)), &sh, epoch, &mut local);
        let t2 = epoch + Duration::from_millis(2500);
        StreamKernel::fold_one(&mut e, counts(15, 2580, Some(t2)), &sh, epoch, &mut local);
        assert_eq!(sh.packets[1].load(Ordering::Relaxed), 15);
        assert_eq!(sh.bytes[1].load(Ordering::Relaxed), 2580);
        assert_eq!(
            sh.packets[0].load(Ordering::Relaxed),
            0,
            "the other party's"
        );
        assert_eq!((local.relayed, local.kernel, local.bytes), (15, 15, 2580));
        // media times: milliseconds since the epoch plus one, as the worker writes them
        assert_eq!(sh.first_ms[1].load(Ordering::Relaxed), 1501);
        assert_eq!(sh.last_ms[1].load(Ordering::Relaxed), 2501);
    }

    #[test]
    fn folding_never_moves_media_time_back_and_rtcp_is_not_media_time() {
        let epoch = Instant::now();
        let sh = StreamShared::default();
        sh.first_ms[0].store(100, Ordering::Relaxed);
        sh.last_ms[0].store(9000, Ordering::Relaxed);
        let mut local = Local::default();
        let mut e = entry(0, false);
        let old = epoch + Duration::from_millis(5000);
        StreamKernel::fold_one(&mut e, counts(1, 172, Some(old)), &sh, epoch, &mut local);
        assert_eq!(sh.first_ms[0].load(Ordering::Relaxed), 100);
        assert_eq!(sh.last_ms[0].load(Ordering::Relaxed), 9000);
        let mut r = entry(0, true);
        let late = epoch + Duration::from_millis(20000);
        StreamKernel::fold_one(&mut r, counts(3, 84, Some(late)), &sh, epoch, &mut local);
        assert_eq!(sh.last_ms[0].load(Ordering::Relaxed), 9000, "RTCP");
        assert_eq!(
            sh.packets[0].load(Ordering::Relaxed),
            4,
            "RTCP packets count"
        );
    }
}
