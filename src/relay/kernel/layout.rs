//! The bytes of the fast path's flow map, as `fastpath.bpf.c` lays them out: `struct flow_key`
//! (8 bytes) and `struct flow` (64 bytes). Addresses and ports in network order, counters in
//! the machine's order.

use std::net::{Ipv4Addr, SocketAddrV4};

pub const KEY_SIZE: usize = 8;
pub const VALUE_SIZE: usize = 64;

/// What the kernel matches: packets from the latched `source` to the relay's `relay_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub source: SocketAddrV4,
    pub relay_port: u16,
}

/// A flow: what matches, and where it goes (`new_source`: the relay's address and port on the
/// other side; `destination`: the peer's latched address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub key: FlowKey,
    pub new_source: SocketAddrV4,
    pub destination: SocketAddrV4,
}

/// The counters of a flow's entry (besides the addresses and the path the program learns: the
/// interface and MAC addresses of the flow's packets, at bytes 12..28).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawCounters {
    pub packets: u64,
    /// UDP payload bytes.
    pub bytes: u64,
    /// `CLOCK_MONOTONIC` nanoseconds of the last packet (0: none yet).
    pub last_ns: u64,
    /// RTP SSRC and sequence number of the last packet.
    pub last_ssrc: u32,
    pub last_seq: u16,
}

impl FlowKey {
    pub fn encode(&self) -> [u8; KEY_SIZE] {
        let mut k = [0u8; KEY_SIZE];
        k[0..4].copy_from_slice(&self.source.ip().octets());
        k[4..6].copy_from_slice(&self.source.port().to_be_bytes());
        k[6..8].copy_from_slice(&self.relay_port.to_be_bytes());
        k
    }

    pub fn decode(k: &[u8; KEY_SIZE]) -> FlowKey {
        FlowKey {
            source: SocketAddrV4::new(
                Ipv4Addr::new(k[0], k[1], k[2], k[3]),
                u16::from_be_bytes([k[4], k[5]]),
            ),
            relay_port: u16::from_be_bytes([k[6], k[7]]),
        }
    }
}

impl Flow {
    /// The entry of a new flow: counters at zero.
    pub fn encode_value(&self) -> [u8; VALUE_SIZE] {
        let mut v = [0u8; VALUE_SIZE];
        v[0..4].copy_from_slice(&self.new_source.ip().octets());
        v[4..8].copy_from_slice(&self.destination.ip().octets());
        v[8..10].copy_from_slice(&self.new_source.port().to_be_bytes());
        v[10..12].copy_from_slice(&self.destination.port().to_be_bytes());
        v
    }
}

impl RawCounters {
    pub fn decode(v: &[u8; VALUE_SIZE]) -> RawCounters {
        let at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v[i..i + 8]);
            u64::from_ne_bytes(b)
        };
        RawCounters {
            packets: at(32),
            bytes: at(40),
            last_ns: at(48),
            last_ssrc: u32::from_be_bytes([v[28], v[29], v[30], v[31]]),
            last_seq: u16::from_be_bytes([v[56], v[57]]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_network_order() {
        let k = FlowKey {
            source: "192.0.2.7:4000".parse().unwrap(),
            relay_port: 0x1234,
        };
        assert_eq!(k.encode(), [192, 0, 2, 7, 0x0f, 0xa0, 0x12, 0x34]);
        assert_eq!(FlowKey::decode(&k.encode()), k);
    }

    #[test]
    fn value_holds_addresses_then_counters() {
        let f = Flow {
            key: FlowKey {
                source: "192.0.2.7:4000".parse().unwrap(),
                relay_port: 40000,
            },
            new_source: "198.51.100.1:40002".parse().unwrap(),
            destination: "203.0.113.9:5004".parse().unwrap(),
        };
        let mut v = f.encode_value();
        assert_eq!(
            &v[..12],
            &[198, 51, 100, 1, 203, 0, 113, 9, 0x9c, 0x42, 0x13, 0x8c]
        );
        assert_eq!(RawCounters::decode(&v), RawCounters::default());
        assert_eq!(
            &v[12..],
            &[0u8; VALUE_SIZE - 12],
            "nothing learnt, no counts"
        );
        v[32..40].copy_from_slice(&7u64.to_ne_bytes());
        v[40..48].copy_from_slice(&1720u64.to_ne_bytes());
        v[48..56].copy_from_slice(&99u64.to_ne_bytes());
        v[28..32].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        v[56..58].copy_from_slice(&[0x12, 0x34]);
        assert_eq!(
            RawCounters::decode(&v),
            RawCounters {
                packets: 7,
                bytes: 1720,
                last_ns: 99,
                last_ssrc: 0xdead_beef,
                last_seq: 0x1234,
            }
        );
    }
}
