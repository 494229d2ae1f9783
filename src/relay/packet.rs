//! What a relayed datagram is, read from its first bytes: STUN (RFC 5389), RTCP (RFC 3550
//! §6, also multiplexed on the RTP port per RFC 5761 §4: payload types 72–76 with the marker
//! bit, i.e. second byte 200–204), RTP (RFC 3550 §5.1), or anything else (passed through
//! opaquely, e.g. UDPTL, DTLS, SRTP keys are never looked at). Pure, no allocation.

use std::net::SocketAddr;

/// RFC 5389 §6 magic cookie.
pub const STUN_MAGIC: u32 = 0x2112_A442;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketKind {
    /// RFC 5389 STUN (ICE checks): relayed, latches, but is not media.
    Stun,
    Rtp {
        pt: u8,
        seq: u16,
        /// RTP timestamp (bytes 4..8).
        ts: u32,
        ssrc: u32,
    },
    /// RTCP: `ssrc` is the sender's (bytes 4..8).
    Rtcp {
        ssrc: u32,
    },
    Other,
}

impl PacketKind {
    /// Whether the packet counts as media (for timeouts, statistics and codec detection).
    pub fn is_media(self) -> bool {
        !matches!(self, PacketKind::Stun)
    }
}

/// One received datagram as an I/O back end hands it to the worker core (quinn-udp's
/// `RecvMeta`, with the bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// The bytes received (at most `sys::MAX_DGRAM`).
    pub payload: &'a [u8],
    /// Where it came from.
    pub src: SocketAddr,
    /// It was longer than the relay relays and was cut: it is dropped.
    pub truncated: bool,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Classifies a datagram. Never panics, whatever the bytes.
pub fn classify(p: &[u8]) -> PacketKind {
    if p.len() >= 20
        && p[0] & 0xC0 == 0
        && be32(p, 4) == STUN_MAGIC
        && usize::from(be16(p, 2)) + 20 == p.len()
        && be16(p, 2) % 4 == 0
    {
        return PacketKind::Stun;
    }
    if p.len() >= 8 && p[0] >> 6 == 2 && (200..=204).contains(&p[1]) {
        return PacketKind::Rtcp { ssrc: be32(p, 4) };
    }
    if p.len() >= 12 && p[0] >> 6 == 2 {
        return PacketKind::Rtp {
            pt: p[1] & 0x7F,
            seq: be16(p, 2),
            ts: be32(p, 4),
            ssrc: be32(p, 8),
        };
    }
    PacketKind::Other
}

/// The codec name MediaProxy reports for an RTP payload type: the RFC 3551 static name,
/// `Dynamic(n)` for 96–127, `Unknown(n)` otherwise; `Unknown` when none was seen.
pub fn codec_name(pt: Option<u8>) -> String {
    let Some(pt) = pt else {
        return "Unknown".to_string();
    };
    let name = match pt {
        0 => "G711u",
        1 => "1016",
        2 => "G721",
        3 => "GSM",
        4 => "G723",
        5 | 6 | 16 | 17 => "DVI4",
        7 => "LPC",
        8 => "G711a",
        9 => "G722",
        10 | 11 => "L16",
        12 => "QCELP",
        13 => "CN",
        14 => "MPA",
        15 => "G728",
        18 => "G729",
        25 => "CelB",
        26 => "JPEG",
        28 => "nv",
        31 => "H261",
        32 => "MPV",
        33 => "MP2T",
        34 => "H263",
        96..=127 => return format!("Dynamic({pt})"),
        _ => return format!("Unknown({pt})"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn rtp(pt: u8, seq: u16, ssrc: u32) -> Vec<u8> {
        let mut v = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        v[2..4].copy_from_slice(&seq.to_be_bytes());
        v[8..12].copy_from_slice(&ssrc.to_be_bytes());
        v.extend_from_slice(&[0xD5; 160]);
        v
    }

    #[test]
    fn classifies() {
        assert_eq!(
            classify(&rtp(0, 7, 0xAABBCCDD)),
            PacketKind::Rtp {
                pt: 0,
                seq: 7,
                ts: 0,
                ssrc: 0xAABBCCDD
            }
        );
        // marker bit set on a dynamic payload type
        assert_eq!(
            classify(&rtp(0x80 | 101, 1, 1)),
            PacketKind::Rtp {
                pt: 101,
                seq: 1,
                ts: 0,
                ssrc: 1
            }
        );
        // RTCP SR (200) and rtcp-mux range up to APP (204)
        let mut sr = vec![0x80, 200, 0, 6, 1, 2, 3, 4];
        sr.extend_from_slice(&[0; 20]);
        assert_eq!(classify(&sr), PacketKind::Rtcp { ssrc: 0x01020304 });
        sr[1] = 204;
        assert!(matches!(classify(&sr), PacketKind::Rtcp { .. }));
        // STUN binding request with no attributes
        let mut stun = vec![0x00, 0x01, 0x00, 0x00];
        stun.extend_from_slice(&STUN_MAGIC.to_be_bytes());
        stun.extend_from_slice(&[7; 12]);
        assert_eq!(classify(&stun), PacketKind::Stun);
        // wrong length field → not STUN
        stun[3] = 4;
        assert_ne!(classify(&stun), PacketKind::Stun);
        assert_eq!(classify(&[]), PacketKind::Other);
        assert_eq!(classify(&[0x80, 0]), PacketKind::Other);
        assert_eq!(classify(&[0x00; 40]), PacketKind::Other);
        assert!(!PacketKind::Stun.is_media());
        assert!(PacketKind::Other.is_media());
    }

    #[test]
    fn never_panics_on_short_input() {
        for len in 0..64 {
            for fill in [0x00u8, 0x80, 0xC8, 0xFF] {
                let _ = classify(&vec![fill; len]);
            }
        }
    }

    #[test]
    fn codec_names() {
        assert_eq!(codec_name(Some(0)), "G711u");
        assert_eq!(codec_name(Some(8)), "G711a");
        assert_eq!(codec_name(Some(18)), "G729");
        assert_eq!(codec_name(Some(101)), "Dynamic(101)");
        assert_eq!(codec_name(Some(72)), "Unknown(72)");
        assert_eq!(codec_name(None), "Unknown");
    }
}
