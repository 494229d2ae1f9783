//! The relay's protections that are not latching itself (that is [`super::latch`]): where it
//! must never send, which addresses a side may not take because another side holds them, how
//! fast one stream may go, and the link that lets an RTCP flow follow its RTP flow's address.
//! Everything here is read or written on the per-packet path without allocation or lock, but
//! for the owner table, which a packet only touches when it would latch a side.
//!
//! * [`Guard`] (relay-wide, shared read-only by the control thread and every worker, except the
//!   bitmap of held ports, which the control thread keeps with relaxed atomics): the relay's own
//!   addresses and the ports it holds. A destination that is one of them (a forwarding loop
//!   through the relay itself), or the wildcard address, a multicast or broadcast address, or
//!   port 0, is refused at `update` and, should one still be reached, dropped per packet. A
//!   packet *from* one of the relay's own ports is dropped the same way (it can only be a loop).
//! * [`Owners`] (relay-wide, in the [`Guard`]): which latched address belongs to which side of
//!   which session, whichever worker relays it, so that no side latches to an address another
//!   side already owns (a spoofed source cannot point a second stream at a victim). A
//!   read-write lock: read only by a packet that would latch a side (a first latch or a
//!   re-latch, never a packet of a latched flow), written when a side latches, moves or ends.
//! * [`RateGate`] (one per stream, in its [`super::worker::StreamShared`]): a packet-rate
//!   ceiling over RTP and RTCP, both directions; a flow that exceeds it in a one-second window
//!   loses the excess, which ends any loop that got past the checks above.
//! * [`LatchedIp`] (two per stream, one per party): the IP address the RTP flow latched to,
//!   which the stream's RTCP flow (on the same worker) accepts as the only source to latch to.

use crate::control::codec::UpdateRequest;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Relay-wide protections: see the module notes.
#[derive(Debug)]
pub struct Guard {
    /// Addresses the relay's sockets receive on (its listen address, every local address when
    /// that is the wildcard, its advertised address).
    own_ips: Vec<IpAddr>,
    /// The relay listens on the wildcard address: every loopback address is its own too.
    wildcard: bool,
    /// One bit per UDP port the relay holds now (relay sockets bound).
    held: Box<[AtomicU64]>,
    /// Packets per second and stream before the excess is dropped (0: no ceiling).
    pub max_packet_rate: u32,
    /// Every worker's latched addresses.
    pub owners: Owners,
}

impl Guard {
    pub fn new(listen: IpAddr, advertised: Option<IpAddr>, max_packet_rate: u32) -> Guard {
        Guard::for_addresses(&[(listen, advertised)], max_packet_rate)
    }

    /// A guard for several relay interfaces, each `(listen, advertised)`.
    pub fn for_addresses(addrs: &[(IpAddr, Option<IpAddr>)], max_packet_rate: u32) -> Guard {
        let wildcard = addrs.iter().any(|(l, _)| l.is_unspecified());
        let mut own_ips = if wildcard {
            super::sys::local_addresses()
        } else {
            Vec::new()
        };
        for (l, a) in addrs {
            own_ips.extend((!l.is_unspecified()).then_some(*l));
            own_ips.extend(*a);
        }
        own_ips.sort();
        own_ips.dedup();
        Guard {
            own_ips,
            wildcard,
            held: (0..1024).map(|_| AtomicU64::new(0)).collect(),
            max_packet_rate,
            owners: Owners::default(),
        }
    }

    /// Records that the relay holds (`true`) or gave back `port`.
    pub fn hold(&self, port: u16, held: bool) {
        let (w, b) = (usize::from(port / 64), port % 64);
        if let Some(word) = self.held.get(w) {
            if held {
                word.fetch_or(1 << b, Ordering::Relaxed);
            } else {
                word.fetch_and(!(1 << b), Ordering::Relaxed);
            }
        }
    }

    fn holds(&self, port: u16) -> bool {
        self.held
            .get(usize::from(port / 64))
            .is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (port % 64)) != 0)
    }

    fn own_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        (self.wildcard && ip.is_loopback()) || self.own_ips.contains(&ip)
    }

    /// Whether `a` is one of the relay's own sockets.
    pub fn is_own(&self, a: SocketAddr) -> bool {
        self.holds(a.port()) && self.own_ip(a.ip())
    }

    /// Whether the relay must never send to `a`: port 0, the wildcard address, a multicast or
    /// (IPv4) limited-broadcast address, or one of its own sockets.
    pub fn forbidden(&self, a: SocketAddr) -> bool {
        let ip = canonical(a.ip());
        a.port() == 0
            || ip.is_unspecified()
            || ip.is_multicast()
            || ip == IpAddr::V4(Ipv4Addr::BROADCAST)
            || self.is_own(a)
    }

    /// Why an SDP address (RTP port; its RTCP is the next port) may not be a destination, or
    /// `None`. The wildcard address and port 0 are not refused here: they are how SDP says
    /// "hold" or "no stream".
    pub fn refuse_sdp(&self, ip: IpAddr, port: u16) -> Option<&'static str> {
        let ip = canonical(ip);
        if ip.is_unspecified() || port == 0 {
            return None;
        }
        if ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return Some("a multicast or broadcast address");
        }
        let rtcp = port.checked_add(1);
        if self.own_ip(ip) && (self.holds(port) || rtcp.is_some_and(|p| self.holds(p))) {
            return Some(OWN_PORTS);
        }
        None
    }
}

const OWN_PORTS: &str = "one of the relay's own ports";

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What one `update` may ask for (`relay_max_streams`, `relay_max_sessions`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_streams: usize,
    /// 0: no limit.
    pub max_sessions: usize,
}

/// Why an `update` is refused before anything is allocated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    Limit(String),
    Address(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Limit(s) | Refusal::Address(s) => f.write_str(s),
        }
    }
}

impl Limits {
    /// Checks `u` (the relay holds `sessions`; `own`: the relay ports of the session `u` is
    /// for, if it exists) against the limits and its media addresses against `guard`. A media
    /// address on one of the session's own relay ports is let through: an ICE agent names the
    /// relay candidate that won (its peer-reflexive address) in its next offer or answer, and
    /// that address is ignored, not followed ([`super::ice::is_own_port`]).
    pub fn refuse(
        &self,
        u: &UpdateRequest,
        sessions: usize,
        own: Option<&[u16]>,
        guard: &Guard,
    ) -> Option<Refusal> {
        let exists = own.is_some();
        let own_port = |p: u16| own.is_some_and(|o| o.iter().any(|&b| p == b || p == b + 1));
        if u.media.len() > self.max_streams {
            return Some(Refusal::Limit(format!(
                "{} streams, more than relay_max_streams {}",
                u.media.len(),
                self.max_streams
            )));
        }
        if self.max_sessions > 0 && sessions >= self.max_sessions && !exists && !u.media.is_empty()
        {
            return Some(Refusal::Limit(format!(
                "a new session beyond relay_max_sessions {}",
                self.max_sessions
            )));
        }
        for d in &u.media {
            let Some(ip) = d.ip() else {
                continue;
            };
            if let Some(what) = guard.refuse_sdp(ip, d.port) {
                if what == OWN_PORTS && own_port(d.port) {
                    continue;
                }
                return Some(Refusal::Address(format!(
                    "media address {ip} port {} is {what}",
                    d.port
                )));
            }
        }
        None
    }
}

/// Which side of which flow: `stream_id`, RTP or RTCP, party.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SideKey {
    pub stream_id: u64,
    pub rtcp: bool,
    pub party: usize,
}

/// Latched addresses of every side the relay holds, whichever worker relays it (stream ids are
/// relay-wide). The map's capacity is reserved when flows are added (control commands), so
/// latching does not allocate. A poisoned lock is used as it is: the map stays consistent
/// (every change is one insert or remove).
#[derive(Debug, Default)]
pub struct Owners {
    map: RwLock<HashMap<SocketAddr, SideKey>>,
}

impl Owners {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<SocketAddr, SideKey>> {
        self.map.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<SocketAddr, SideKey>> {
        self.map.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Room for the sides of `flows` more flows.
    pub fn reserve(&self, flows: usize) {
        self.write().reserve(2 * flows);
    }

    /// Whether another party's side (of any stream the relay relays) owns `a`. The RTP and
    /// RTCP flows of one party share: a party may send RTCP from its RTP address.
    pub fn owned_by_other(&self, a: SocketAddr, me: SideKey) -> bool {
        self.read()
            .get(&a)
            .is_some_and(|o| !(o.stream_id == me.stream_id && o.party == me.party))
    }

    /// Side `me` latched to `new` (was at `old`).
    pub fn moved(&self, me: SideKey, old: Option<SocketAddr>, new: SocketAddr) {
        let mut map = self.write();
        if let Some(o) = old {
            if map.get(&o) == Some(&me) {
                map.remove(&o);
            }
        }
        map.insert(new, me);
    }

    /// Side `me` no longer owns `a` (reset, or the flow is gone).
    pub fn release(&self, me: SideKey, a: SocketAddr) {
        let mut map = self.write();
        if map.get(&a) == Some(&me) {
            map.remove(&a);
        }
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }
}

/// A per-stream packet-rate ceiling in fixed one-second windows. Written only by the worker
/// that owns the stream's flows (plain loads and stores on relaxed atomics).
#[derive(Debug, Default)]
pub struct RateGate {
    window_ms: AtomicU64,
    count: AtomicU64,
}

impl RateGate {
    /// Counts one packet at `now_ms`; `false` when it is over `limit` in this window (0: no
    /// ceiling).
    pub fn admit(&self, now_ms: u64, limit: u32) -> bool {
        if limit == 0 {
            return true;
        }
        let start = self.window_ms.load(Ordering::Relaxed);
        let mut n = self.count.load(Ordering::Relaxed);
        if now_ms.saturating_sub(start) >= 1000 || start == 0 {
            self.window_ms.store(now_ms.max(1), Ordering::Relaxed);
            n = 0;
        }
        n += 1;
        self.count.store(n, Ordering::Relaxed);
        n <= u64::from(limit)
    }
}

/// The IP address an RTP side latched to, for its RTCP flow. Written and read by the one worker
/// that owns both flows.
#[derive(Debug, Default)]
pub struct LatchedIp {
    /// 0: none, 4: IPv4 in `lo`, 6: IPv6 in `hi`:`lo`.
    tag: AtomicU64,
    hi: AtomicU64,
    lo: AtomicU64,
}

impl LatchedIp {
    pub fn set(&self, ip: Option<IpAddr>) {
        let (tag, v) = match ip.map(canonical) {
            None => (0, 0),
            Some(IpAddr::V4(v4)) => (4, u128::from(u32::from(v4))),
            Some(IpAddr::V6(v6)) => (6, u128::from(v6)),
        };
        self.hi.store((v >> 64) as u64, Ordering::Relaxed);
        self.lo.store(v as u64, Ordering::Relaxed);
        self.tag.store(tag, Ordering::Relaxed);
    }

    pub fn get(&self) -> Option<IpAddr> {
        let v = (u128::from(self.hi.load(Ordering::Relaxed)) << 64)
            | u128::from(self.lo.load(Ordering::Relaxed));
        match self.tag.load(Ordering::Relaxed) {
            4 => Some(IpAddr::V4(Ipv4Addr::from(v as u32))),
            6 => Some(IpAddr::V6(Ipv6Addr::from(v))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forbidden_destinations() {
        let g = Guard::new(
            "192.0.2.1".parse().unwrap(),
            Some("203.0.113.1".parse().unwrap()),
            0,
        );
        g.hold(40000, true);
        g.hold(40001, true);
        assert!(g.forbidden(a("192.0.2.1:40000")));
        assert!(g.forbidden(a("203.0.113.1:40001")), "advertised address");
        assert!(g.forbidden(a("[::ffff:192.0.2.1]:40000")), "mapped");
        assert!(
            !g.forbidden(a("192.0.2.1:40002")),
            "a port it does not hold"
        );
        assert!(!g.forbidden(a("192.0.2.9:40000")), "another host");
        assert!(
            !g.forbidden(a("127.0.0.1:40000")),
            "not listening on loopback"
        );
        for bad in [
            "0.0.0.0:4000",
            "[::]:4000",
            "224.0.0.1:4000",
            "[ff02::1]:4000",
        ] {
            assert!(g.forbidden(a(bad)), "{bad}");
        }
        assert!(g.forbidden(a("255.255.255.255:4000")));
        assert!(g.forbidden(a("198.51.100.7:0")));
        assert!(!g.forbidden(a("198.51.100.7:4000")));
        g.hold(40000, false);
        assert!(!g.forbidden(a("192.0.2.1:40000")));
        // SDP: hold and port 0 are fine, the RTCP port counts
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(g.refuse_sdp(ip("0.0.0.0"), 4000), None);
        assert_eq!(g.refuse_sdp(ip("192.0.2.1"), 0), None);
        assert!(
            g.refuse_sdp(ip("192.0.2.1"), 40000).is_some(),
            "RTCP port held"
        );
        assert!(g.refuse_sdp(ip("239.1.1.1"), 4000).is_some());
        assert_eq!(g.refuse_sdp(ip("198.51.100.7"), 40000), None);

        let w = Guard::new("0.0.0.0".parse().unwrap(), None, 0);
        w.hold(50000, true);
        assert!(
            w.forbidden(a("127.0.0.5:50000")),
            "wildcard: loopback is ours"
        );
    }

    #[test]
    fn owners() {
        let o = Owners::default();
        let k = |stream_id, rtcp, party| SideKey {
            stream_id,
            rtcp,
            party,
        };
        let x = a("198.51.100.7:4000");
        o.moved(k(1, false, 0), None, x);
        assert!(!o.owned_by_other(x, k(1, false, 0)));
        assert!(!o.owned_by_other(x, k(1, true, 0)), "its own RTCP");
        assert!(o.owned_by_other(x, k(1, false, 1)), "the other party");
        assert!(o.owned_by_other(x, k(2, false, 0)), "another stream");
        let y = a("198.51.100.7:4002");
        o.moved(k(1, false, 0), Some(x), y);
        assert!(!o.owned_by_other(x, k(2, false, 0)));
        o.release(k(2, false, 0), y);
        assert_eq!(o.len(), 1, "only the owner releases");
        o.release(k(1, false, 0), y);
        assert!(o.is_empty());
    }

    #[test]
    fn rate_gate() {
        let g = RateGate::default();
        assert!((0..5).all(|_| g.admit(10, 5)));
        assert!(!g.admit(500, 5));
        assert!(g.admit(1010, 5), "next window");
        assert!((0..1000).all(|_| g.admit(2000, 0)), "no ceiling");
    }

    #[test]
    fn latched_ip() {
        let l = LatchedIp::default();
        assert_eq!(l.get(), None);
        for s in ["192.0.2.1", "2001:db8::7"] {
            let ip: IpAddr = s.parse().unwrap();
            l.set(Some(ip));
            assert_eq!(l.get(), Some(ip));
        }
        l.set(None);
        assert_eq!(l.get(), None);
    }
}
