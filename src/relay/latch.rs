//! Symmetric latching for one side of one relayed flow (RTP or RTCP sub-stream). Pure: the
//! worker hands it the source address, the classified packet and the time, it answers accept or
//! drop (and why).
//!
//! # The latch policy (`latch_policy`)
//!
//! How well a source matches what signalling says about the side, best first ([`Match`]):
//! `exact` (the SDP address and port), `ip` (the side's signalling IP or SDP IP, any port: a
//! masquerading NAT), `continuity` (neither, but the source sent [`CONTINUITY_RUN`] RTP packets
//! in a row, each continuing the one before in sequence number and timestamp, of one SSRC: a
//! symmetric NAT whose public address is not the one signalling came from).
//!
//! `heuristic` (the default):
//! * a side that has not latched latches to the first `exact` or `ip` source, at once, with any
//!   packet;
//! * a `continuity` source may latch only within the learning window (`learn_window`, 5 s)
//!   after the flow's last signalling, and only where signalling leaves room for a NAT: when the
//!   side's signalling IP and SDP IP are both known and equal, the party said twice where its
//!   media comes from and nothing else latches. STUN, RTCP and non-RTP packets never latch by
//!   continuity (there is nothing to judge);
//! * during the window a better match takes over a weaker latch (an `ip` source replaces a
//!   `continuity` one, the `exact` address an `ip` one); a `continuity` latch gives way to an
//!   `ip` or `exact` source at any time;
//! * otherwise a latched side moves only on evidence: new signalling that changes the SDP
//!   address (the latch resets; the old source is obsolete and never latches again), or an RTP
//!   packet from a new source whose SSRC is the tracked stream's **and** whose sequence number
//!   continues it (1..=`rebind_window` ahead): a NAT rebinding. The new source must pass the
//!   address rule of a first latch. RTCP never moves a latch.
//!
//! `signalling` (`learn_from_signaling_ip 1`): as `heuristic`, but `continuity` never latches:
//! only sources from the signalling or SDP IP.
//!
//! Under either policy, a side that signalling gave neither a signalling IP nor an SDP address
//! (there is nothing to check a source against) latches to its first packet. The proxy modules
//! always send the signalling IP; only a bare control-protocol client can leave it out.
//!
//! Whatever the policy:
//! * an RTCP flow ([`FlowRole::Rtcp`]) follows its RTP flow: once the party's RTP side latched
//!   to an IP, the RTCP side latches only to a source of that IP (and moves when the RTP side
//!   moves to another IP); before that only to an `ip` or `exact` source;
//! * no side latches to an address another side owns (the `owned` check of [`Side::on_packet`]);
//! * asymmetric sides never latch: media towards them goes to their SDP address; their packets
//!   are accepted from their signalling or SDP IP (any port), or from anywhere if neither is
//!   known;
//! * before a side latches, media towards it goes to its SDP address (if it has a usable one).

use super::packet::PacketKind;
use std::net::{IpAddr, SocketAddr};

pub use crate::settings::LatchMode;

/// RTP packets in a row a `continuity` source sends before it latches (the last one latches).
pub const CONTINUITY_RUN: u8 = 3;
/// Largest sequence step between two packets of a `continuity` run.
const RUN_GAP: u16 = 4;
/// Largest RTP timestamp step per sequence step in a run (one second at 90 kHz).
const RUN_TS_STEP: u64 = 90_000;
/// A pending `continuity` source silent this long gives its place to another one.
const CANDIDATE_IDLE_MS: u64 = 250;

/// Policy knobs shared by every side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatchPolicy {
    pub mode: LatchMode,
    /// Largest forward sequence jump that still counts as "the same stream" after a rebinding.
    pub rebind_window: u16,
    /// How long after signalling a `continuity` source may latch (milliseconds).
    pub learn_window_ms: u64,
}

impl From<&crate::settings::RelayConfig> for LatchPolicy {
    fn from(c: &crate::settings::RelayConfig) -> Self {
        LatchPolicy {
            mode: c.latch_mode,
            rebind_window: c.rebind_window,
            learn_window_ms: u64::try_from(c.learn_window.as_millis()).unwrap_or(u64::MAX / 2),
        }
    }
}

impl Default for LatchPolicy {
    /// The policy of the default settings.
    fn default() -> Self {
        LatchPolicy::from(&crate::settings::RelayConfig::default())
    }
}

/// What signalling says about one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SideConfig {
    /// SDP address (for RTCP flows: SDP port + 1). `None`: unknown, hold (`0.0.0.0`), port 0.
    pub sdp: Option<SocketAddr>,
    pub signaling_ip: Option<IpAddr>,
    pub asymmetric: bool,
}

/// How well a source matches the side's signalling, worst first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Match {
    #[default]
    None,
    Continuity,
    Ip,
    Exact,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Relay it. `learned` is the newly latched source when this packet latched or re-latched.
    Accept { learned: Option<SocketAddr> },
    /// The side latched elsewhere, and this is no evidence to move.
    DropStrict,
    /// The side has not latched and this source may not (yet) latch it.
    DropUnlearned,
    /// The source would latch, but another side owns that address.
    DropOwned,
}

/// Which sub-stream the side belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowRole {
    Rtp,
    /// `rtp_ip`: the IP the same party's RTP side latched to, if it did.
    Rtcp {
        rtp_ip: Option<IpAddr>,
    },
}

/// A source on its way to a `continuity` latch.
#[derive(Clone, Copy, Debug, Default)]
struct Candidate {
    addr: Option<SocketAddr>,
    ssrc: u32,
    seq: u16,
    ts: u32,
    run: u8,
    last_ms: u64,
}

const OBSOLETE: usize = 4;

#[derive(Clone, Debug, Default)]
pub struct Side {
    cfg: SideConfig,
    latched: Option<SocketAddr>,
    level: Match,
    obsolete: [Option<SocketAddr>; OBSOLETE],
    obsolete_next: usize,
    ssrc: Option<u32>,
    seq: Option<u16>,
    learn_until_ms: u64,
    cand: Candidate,
}

impl Side {
    pub fn new(cfg: SideConfig) -> Side {
        Side {
            cfg,
            ..Side::default()
        }
    }

    pub fn config(&self) -> &SideConfig {
        &self.cfg
    }

    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// Applies new signalling. A changed SDP address/port (from one known value to another)
    /// resets the latch; an unknown/hold address (`None`) keeps the last known one.
    pub fn configure(&mut self, cfg: SideConfig) {
        let sdp = cfg.sdp.or(self.cfg.sdp);
        if let (Some(old), Some(new)) = (self.cfg.sdp, cfg.sdp) {
            if old != new {
                self.reset();
            }
        }
        self.cfg = SideConfig { sdp, ..cfg };
        if cfg.asymmetric {
            self.latched = None;
        }
    }

    /// Opens the learning window until `until_ms` (signalling just touched the flow).
    pub fn open_window(&mut self, until_ms: u64) {
        self.learn_until_ms = until_ms;
        self.cand = Candidate::default();
    }

    /// Forgets the latched source (it becomes obsolete).
    pub fn reset(&mut self) {
        if let Some(old) = self.latched.take() {
            self.obsolete[self.obsolete_next] = Some(old);
            self.obsolete_next = (self.obsolete_next + 1) % OBSOLETE;
        }
        self.level = Match::None;
        self.ssrc = None;
        self.seq = None;
    }

    /// Where media towards this side goes: the latched source, else the SDP address.
    pub fn destination(&self) -> Option<SocketAddr> {
        if self.cfg.asymmetric {
            return self.cfg.sdp;
        }
        self.latched.or(self.cfg.sdp)
    }

    /// The latched source's RTP went on elsewhere (the kernel fast path forwarded it): its last
    /// packet had `ssrc` and `seq`, which a NAT rebinding must continue.
    pub fn resume(&mut self, ssrc: u32, seq: u16) {
        if self.latched.is_some() {
            self.ssrc = Some(ssrc);
            self.seq = Some(seq);
        }
    }

    fn track(&mut self, kind: PacketKind) {
        if let PacketKind::Rtp { seq, ssrc, .. } = kind {
            self.ssrc = Some(ssrc);
            self.seq = Some(seq);
        }
    }

    /// An RTP packet of the tracked stream, 1..=`window` ahead of the last one.
    fn continues_stream(&self, kind: PacketKind, window: u16) -> bool {
        match (kind, self.ssrc, self.seq) {
            (PacketKind::Rtp { seq, ssrc, .. }, Some(s), Some(last)) if ssrc == s => {
                let d = seq.wrapping_sub(last);
                d >= 1 && d <= window
            }
            _ => false,
        }
    }

    fn source_match(&self, src: SocketAddr) -> Match {
        if self.cfg.sdp == Some(src) {
            Match::Exact
        } else if Some(src.ip()) == self.cfg.signaling_ip
            || Some(src.ip()) == self.cfg.sdp.map(|a| a.ip())
        {
            Match::Ip
        } else {
            Match::None
        }
    }

    /// Whether a source matching neither signalling IP may latch this side at all.
    fn anywhere_allowed(&self, policy: &LatchPolicy) -> bool {
        let sig = self.cfg.signaling_ip;
        let sdp_ip = self.cfg.sdp.map(|a| a.ip());
        match policy.mode {
            LatchMode::Heuristic => !(sig.is_some() && sig == sdp_ip),
            LatchMode::Signalling => self.nothing_known(),
        }
    }

    /// Signalling gave neither an IP nor an SDP address: there is nothing to check a source
    /// against, and the first packet latches (the proxy modules always send the signalling IP).
    fn nothing_known(&self) -> bool {
        self.cfg.signaling_ip.is_none() && self.cfg.sdp.is_none()
    }

    /// Feeds `src`'s RTP packet to the pending `continuity` source; `true` when its run is
    /// complete.
    fn candidate(&mut self, src: SocketAddr, kind: PacketKind, now_ms: u64) -> bool {
        let PacketKind::Rtp { seq, ts, ssrc, .. } = kind else {
            return false;
        };
        let c = &mut self.cand;
        if c.addr == Some(src) && c.ssrc == ssrc {
            let d = seq.wrapping_sub(c.seq);
            let dt = u64::from(ts.wrapping_sub(c.ts));
            c.run = if (1..=RUN_GAP).contains(&d) && dt <= RUN_TS_STEP * u64::from(d) {
                c.run.saturating_add(1)
            } else {
                1
            };
        } else if c.addr.is_none()
            || c.addr == Some(src)
            || now_ms.saturating_sub(c.last_ms) > CANDIDATE_IDLE_MS
        {
            c.addr = Some(src);
            c.ssrc = ssrc;
            c.run = 1;
        } else {
            return false; // another source holds the place
        }
        c.seq = seq;
        c.ts = ts;
        c.last_ms = now_ms;
        c.run >= CONTINUITY_RUN
    }

    fn latch(&mut self, src: SocketAddr, level: Match, kind: PacketKind) -> Verdict {
        if self.latched.is_none() || !self.continues_stream(kind, u16::MAX) {
            self.ssrc = None;
            self.seq = None;
        }
        self.latched = Some(src);
        self.level = level;
        self.cand = Candidate::default();
        self.track(kind);
        Verdict::Accept { learned: Some(src) }
    }

    /// Decides about one packet received from `src` on this side's relay socket at `now_ms`.
    /// `owned(a)`: another side owns address `a` (it may not latch here).
    pub fn on_packet(
        &mut self,
        src: SocketAddr,
        kind: PacketKind,
        role: FlowRole,
        now_ms: u64,
        policy: &LatchPolicy,
        owned: impl Fn(SocketAddr) -> bool,
    ) -> Verdict {
        if self.cfg.asymmetric {
            let m = self.source_match(src);
            let known = self.cfg.signaling_ip.is_some() || self.cfg.sdp.is_some();
            return if m >= Match::Ip || !known {
                Verdict::Accept { learned: None }
            } else {
                Verdict::DropUnlearned
            };
        }
        if self.latched == Some(src) {
            self.track(kind);
            return Verdict::Accept { learned: None };
        }
        let m = self.source_match(src);
        let may = match role {
            FlowRole::Rtcp { rtp_ip } => self.rtcp_may_latch(src, m, rtp_ip),
            FlowRole::Rtp => self.rtp_may_latch(src, m, kind, now_ms, policy),
        };
        let Some(level) = may else {
            return if self.latched.is_some() {
                Verdict::DropStrict
            } else {
                Verdict::DropUnlearned
            };
        };
        if owned(src) {
            return Verdict::DropOwned;
        }
        self.latch(src, level, kind)
    }

    /// The level an RTP-flow packet from a new source would latch at, or `None`.
    fn rtp_may_latch(
        &mut self,
        src: SocketAddr,
        m: Match,
        kind: PacketKind,
        now_ms: u64,
        policy: &LatchPolicy,
    ) -> Option<Match> {
        let in_window = now_ms <= self.learn_until_ms;
        let address_ok = m >= Match::Ip || self.anywhere_allowed(policy);
        if self.latched.is_some() {
            let better = m >= Match::Ip && m > self.level;
            if better && (in_window || self.level == Match::Continuity) {
                return Some(m);
            }
            if address_ok && self.continues_stream(kind, policy.rebind_window) {
                return Some(m.max(Match::Continuity));
            }
            return None;
        }
        if self.obsolete.contains(&Some(src)) {
            return None;
        }
        if m >= Match::Ip {
            return Some(m);
        }
        if self.nothing_known() {
            return Some(Match::Continuity);
        }
        if address_ok && in_window && self.candidate(src, kind, now_ms) {
            return Some(Match::Continuity);
        }
        None
    }

    /// The level an RTCP-flow packet from a new source would latch at, or `None`.
    fn rtcp_may_latch(&self, src: SocketAddr, m: Match, rtp_ip: Option<IpAddr>) -> Option<Match> {
        match rtp_ip {
            // follow the RTP side's address; once there, stay on one port
            Some(ip) => (src.ip() == ip && !matches!(self.latched, Some(l) if l.ip() == ip))
                .then_some(m.max(Match::Ip)),
            None => {
                (self.latched.is_none() && m >= Match::Ip && !self.obsolete.contains(&Some(src)))
                    .then_some(m)
            }
        }
    }
}

#[cfg(test)]
#[path = "latch_tests.rs"]
mod tests;
