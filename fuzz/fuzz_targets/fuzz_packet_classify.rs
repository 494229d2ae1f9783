//! Classifying a relayed datagram must never panic, whatever the bytes, and what it reports must
//! be what the bytes say: STUN only with the magic cookie and a length that matches, RTP/RTCP
//! only with version 2, their fields read from the right offsets. The classified packet then
//! goes through a side's latching, as the worker does with it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaproxy::relay::latch::{FlowRole, LatchPolicy, Side, SideConfig};
use mediaproxy::relay::packet::{classify, codec_name, PacketKind, STUN_MAGIC};
use std::net::SocketAddr;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fuzz_target!(|data: &[u8]| {
    let kind = classify(data);
    match kind {
        PacketKind::Stun => {
            assert!(data.len() >= 20 && data[0] & 0xC0 == 0);
            assert_eq!(be32(data, 4), STUN_MAGIC);
            assert_eq!(usize::from(be16(data, 2)) + 20, data.len());
        }
        PacketKind::Rtcp { ssrc } => {
            assert!(data.len() >= 8 && data[0] >> 6 == 2);
            assert!((200..=204).contains(&data[1]));
            assert_eq!(ssrc, be32(data, 4));
        }
        PacketKind::Rtp { pt, seq, ts, ssrc } => {
            assert!(data.len() >= 12 && data[0] >> 6 == 2);
            assert_eq!(
                (pt, seq, ts, ssrc),
                (data[1] & 0x7F, be16(data, 2), be32(data, 4), be32(data, 8))
            );
            assert!(!codec_name(Some(pt)).is_empty());
        }
        PacketKind::Other => assert!(data.len() < 12 || data[0] >> 6 != 2),
    }
    // the same packet, from a source picked by its first byte, offered to a side that has
    // signalling from one address: whatever the verdict, the side stays consistent
    let sdp = SocketAddr::from(([192, 0, 2, 1], 4000));
    let src = match data.first().copied().unwrap_or(0) % 3 {
        0 => sdp,
        1 => SocketAddr::from(([192, 0, 2, 1], 4002)),
        _ => SocketAddr::from(([198, 51, 100, 7], 5000)),
    };
    let mut side = Side::new(SideConfig {
        sdp: Some(sdp),
        ..SideConfig::default()
    });
    side.open_window(1_000);
    let policy = LatchPolicy::default();
    for (n, role) in [
        FlowRole::Rtp,
        FlowRole::Rtcp {
            rtp_ip: Some(src.ip()),
        },
    ]
    .into_iter()
    .enumerate()
    {
        let _ = side.on_packet(src, kind, role, 10 + n as u64, &policy, |_| false);
        if let Some(l) = side.latched() {
            assert_eq!(l, src, "a side latches only to a source it was offered");
        }
    }
});
