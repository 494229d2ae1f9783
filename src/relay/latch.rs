//! Symmetric latching for one side of one relayed flow (RTP or RTCP sub-stream). Pure: the
//! worker hands it the source address and the classified packet, it answers accept or drop.
//!
//! Rules (`prior-art.md` §3, §6 items 7, 8, 9, 20):
//! * the first packet from the side latches its source; afterwards only that source is accepted
//!   (strict);
//! * signalling that changes the side's SDP address or port resets the latch; the old latched
//!   address is remembered as obsolete and never latches again (late packets of an old stream,
//!   or of a losing forked branch, cannot steal the new latch);
//! * NAT rebinding: a packet from a new source re-latches when it continues the latched sender's
//!   RTP stream (same SSRC, sequence number 1..=`rebind_window` ahead of the last one) or is RTCP
//!   from the same SSRC; a different SSRC is dropped (RTP bleed / injection);
//! * `signaling_source_only`: before latching, accept only a source whose IP is the side's
//!   signalling IP or SDP IP;
//! * asymmetric sides never latch: media towards them goes to their SDP address; their packets
//!   are accepted from their signalling or SDP IP (any port), or from anywhere if neither is
//!   known;
//! * before a side latches, media towards it goes to its SDP address (if it has a usable one).

use super::packet::PacketKind;
use std::net::{IpAddr, SocketAddr};

/// Policy knobs shared by every side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatchPolicy {
    pub signaling_source_only: bool,
    /// Largest forward sequence jump that still counts as "the same stream" after a rebinding.
    pub rebind_window: u16,
}

impl Default for LatchPolicy {
    fn default() -> Self {
        LatchPolicy {
            signaling_source_only: false,
            rebind_window: 64,
        }
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Relay it. `learned` is the newly latched source when this packet latched or re-latched.
    Accept { learned: Option<SocketAddr> },
    /// Source is not the latched one (and not a rebinding of it).
    DropStrict,
}

const OBSOLETE: usize = 4;

#[derive(Clone, Debug, Default)]
pub struct Side {
    cfg: SideConfig,
    latched: Option<SocketAddr>,
    obsolete: [Option<SocketAddr>; OBSOLETE],
    obsolete_next: usize,
    ssrc: Option<u32>,
    seq: Option<u16>,
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

    /// Forgets the latched source (it becomes obsolete).
    pub fn reset(&mut self) {
        if let Some(old) = self.latched.take() {
            self.obsolete[self.obsolete_next] = Some(old);
            self.obsolete_next = (self.obsolete_next + 1) % OBSOLETE;
        }
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

    fn track(&mut self, kind: PacketKind) {
        match kind {
            PacketKind::Rtp { seq, ssrc, .. } => {
                if self.ssrc != Some(ssrc) {
                    self.ssrc = Some(ssrc);
                    self.seq = None;
                }
                self.seq = Some(seq);
            }
            PacketKind::Rtcp { ssrc } if self.ssrc.is_none() => self.ssrc = Some(ssrc),
            _ => {}
        }
    }

    fn continues_stream(&self, kind: PacketKind, window: u16) -> bool {
        match (kind, self.ssrc) {
            (PacketKind::Rtp { seq, ssrc, .. }, Some(s)) if ssrc == s => match self.seq {
                Some(last) => {
                    let d = seq.wrapping_sub(last);
                    d >= 1 && d <= window
                }
                None => false,
            },
            (PacketKind::Rtcp { ssrc }, Some(s)) => ssrc == s,
            _ => false,
        }
    }

    fn source_allowed(&self, src: SocketAddr, policy: &LatchPolicy) -> bool {
        let sig = self.cfg.signaling_ip;
        let sdp_ip = self.cfg.sdp.map(|a| a.ip());
        if self.cfg.asymmetric || policy.signaling_source_only {
            if sig.is_none() && sdp_ip.is_none() {
                return true;
            }
            return Some(src.ip()) == sig || Some(src.ip()) == sdp_ip;
        }
        true
    }

    /// Decides about one packet received from `src` on this side's relay socket.
    pub fn on_packet(
        &mut self,
        src: SocketAddr,
        kind: PacketKind,
        policy: &LatchPolicy,
    ) -> Verdict {
        if self.cfg.asymmetric {
            return if self.source_allowed(src, policy) {
                Verdict::Accept { learned: None }
            } else {
                Verdict::DropStrict
            };
        }
        match self.latched {
            Some(l) if l == src => {
                self.track(kind);
                Verdict::Accept { learned: None }
            }
            Some(_) => {
                if self.continues_stream(kind, policy.rebind_window) {
                    self.latched = Some(src);
                    self.track(kind);
                    Verdict::Accept { learned: Some(src) }
                } else {
                    Verdict::DropStrict
                }
            }
            None => {
                if self.obsolete.contains(&Some(src)) || !self.source_allowed(src, policy) {
                    return Verdict::DropStrict;
                }
                self.latched = Some(src);
                self.track(kind);
                Verdict::Accept { learned: Some(src) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }
    fn rtp(seq: u16, ssrc: u32) -> PacketKind {
        PacketKind::Rtp { pt: 0, seq, ssrc }
    }
    const P: LatchPolicy = LatchPolicy {
        signaling_source_only: false,
        rebind_window: 64,
    };
    fn accepted(v: Verdict) -> bool {
        matches!(v, Verdict::Accept { .. })
    }

    #[test]
    fn first_packet_latches_then_strict() {
        let mut s = Side::new(SideConfig {
            sdp: Some(a("10.0.0.5:4000")),
            ..Default::default()
        });
        assert_eq!(s.destination(), Some(a("10.0.0.5:4000")));
        assert_eq!(
            s.on_packet(a("203.0.113.5:6000"), rtp(1, 7), &P),
            Verdict::Accept {
                learned: Some(a("203.0.113.5:6000"))
            }
        );
        assert_eq!(s.destination(), Some(a("203.0.113.5:6000")));
        assert_eq!(
            s.on_packet(a("203.0.113.5:6000"), rtp(2, 7), &P),
            Verdict::Accept { learned: None }
        );
        // a third party, even with a plausible packet of another SSRC
        assert_eq!(
            s.on_packet(a("198.51.100.9:6000"), rtp(3, 99), &P),
            Verdict::DropStrict
        );
        assert_eq!(
            s.on_packet(a("198.51.100.9:6000"), PacketKind::Stun, &P),
            Verdict::DropStrict
        );
    }

    #[test]
    fn rebinding_same_ssrc_follows_other_ssrc_does_not() {
        let mut s = Side::default();
        let old = a("203.0.113.5:6000");
        let new = a("203.0.113.5:6100");
        for seq in 10..20 {
            assert!(accepted(s.on_packet(old, rtp(seq, 7), &P)));
        }
        // a different SSRC from a new port: injection, dropped
        assert_eq!(s.on_packet(new, rtp(20, 8), &P), Verdict::DropStrict);
        // same SSRC but sequence far away: dropped
        assert_eq!(s.on_packet(new, rtp(19 + 1000, 7), &P), Verdict::DropStrict);
        // same SSRC but an old sequence number (replay): dropped
        assert_eq!(s.on_packet(new, rtp(15, 7), &P), Verdict::DropStrict);
        // same SSRC, continuing (a few lost): follows
        assert_eq!(
            s.on_packet(new, rtp(23, 7), &P),
            Verdict::Accept { learned: Some(new) }
        );
        assert_eq!(s.destination(), Some(new));
        assert_eq!(
            s.on_packet(old, rtp(24, 7), &P),
            Verdict::Accept { learned: Some(old) },
            "old port still continues the stream"
        );
        // wrap-around of the sequence number
        let mut w = Side::default();
        assert!(accepted(w.on_packet(old, rtp(65535, 1), &P)));
        assert!(accepted(w.on_packet(new, rtp(1, 1), &P)));
    }

    #[test]
    fn rtcp_rebinds_on_sender_ssrc() {
        let mut s = Side::default();
        assert!(accepted(s.on_packet(
            a("192.0.2.1:5001"),
            PacketKind::Rtcp { ssrc: 5 },
            &P
        )));
        assert_eq!(
            s.on_packet(a("192.0.2.1:7001"), PacketKind::Rtcp { ssrc: 6 }, &P),
            Verdict::DropStrict
        );
        assert!(accepted(s.on_packet(
            a("192.0.2.1:7001"),
            PacketKind::Rtcp { ssrc: 5 },
            &P
        )));
    }

    #[test]
    fn signalling_change_relatches_and_old_source_is_obsolete() {
        let mut s = Side::new(SideConfig {
            sdp: Some(a("10.0.0.5:4000")),
            ..Default::default()
        });
        let first = a("203.0.113.5:6000");
        assert!(accepted(s.on_packet(first, rtp(1, 7), &P)));
        // same SDP again (re-INVITE without change): latch kept
        s.configure(SideConfig {
            sdp: Some(a("10.0.0.5:4000")),
            ..Default::default()
        });
        assert_eq!(s.latched(), Some(first));
        // hold with 0.0.0.0 (None): latch kept
        s.configure(SideConfig::default());
        assert_eq!(s.latched(), Some(first));
        assert_eq!(s.destination(), Some(first));
        // new port in SDP: reset; before a new packet, media goes to the SDP address
        s.configure(SideConfig {
            sdp: Some(a("10.0.0.5:4100")),
            ..Default::default()
        });
        assert_eq!(s.latched(), None);
        assert_eq!(s.destination(), Some(a("10.0.0.5:4100")));
        // a late packet of the old stream does not latch
        assert_eq!(s.on_packet(first, rtp(2, 7), &P), Verdict::DropStrict);
        let second = a("203.0.113.5:6200");
        assert_eq!(
            s.on_packet(second, rtp(1, 9), &P),
            Verdict::Accept {
                learned: Some(second)
            }
        );
    }

    #[test]
    fn signaling_source_only() {
        let pol = LatchPolicy {
            signaling_source_only: true,
            ..P
        };
        let mut s = Side::new(SideConfig {
            sdp: Some(a("10.0.0.5:4000")),
            signaling_ip: Some("203.0.113.5".parse().unwrap()),
            asymmetric: false,
        });
        assert_eq!(
            s.on_packet(a("198.51.100.1:4000"), rtp(1, 1), &pol),
            Verdict::DropStrict
        );
        assert!(accepted(s.on_packet(
            a("203.0.113.5:1234"),
            rtp(1, 1),
            &pol
        )));
        // without any known address the option cannot decide: accept
        let mut open = Side::default();
        assert!(accepted(open.on_packet(
            a("198.51.100.1:4000"),
            rtp(1, 1),
            &pol
        )));
    }

    #[test]
    fn asymmetric_never_latches() {
        let mut s = Side::new(SideConfig {
            sdp: Some(a("192.0.2.7:4000")),
            signaling_ip: Some("192.0.2.7".parse().unwrap()),
            asymmetric: true,
        });
        assert_eq!(
            s.on_packet(a("192.0.2.7:5555"), rtp(1, 1), &P),
            Verdict::Accept { learned: None }
        );
        assert_eq!(s.destination(), Some(a("192.0.2.7:4000")));
        assert_eq!(s.latched(), None);
        assert_eq!(
            s.on_packet(a("192.0.2.8:5555"), rtp(2, 1), &P),
            Verdict::DropStrict
        );
    }
}
