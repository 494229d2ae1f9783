//! The pcap file format, as the recorder writes it: pure encoding, no I/O.
//!
//! One classic pcap file (magic `a1b2c3d4`, version 2.4, microsecond timestamps) per recorded
//! call, link type `LINKTYPE_RAW` (101): each record is an IP packet that starts with its IPv4
//! or IPv6 header, which Wireshark and tshark read by the version nibble. The relay receives
//! only UDP payloads from its sockets, so each record is built here: an IP header and a UDP
//! header with the addresses and ports the datagram really travelled between, checksums
//! computed (IPv4 header checksum; the UDP checksum for both families, mandatory for IPv6),
//! then the payload as it arrived.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `LINKTYPE_RAW`: the record starts with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;
/// Largest record kept: an IPv6 header, a UDP header and a 65 507-byte payload fit.
pub const SNAPLEN: u32 = 65_535;
/// The file header's length.
pub const FILE_HEADER_LEN: usize = 24;
/// A record header's length (before the packet bytes).
pub const RECORD_HEADER_LEN: usize = 16;

const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
const PROTO_UDP: u8 = 17;

/// The file header: little-endian magic and fields, as the host writes them.
pub fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone 0, sigfigs 0
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
    h
}

/// Why a datagram cannot be written as one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// Source and destination are of different families (the relay never forwards so).
    MixedFamilies,
    /// The payload does not fit a UDP datagram of this family.
    TooLong,
}

/// Appends one record (record header, IP header, UDP header, payload) for a datagram of
/// `payload` from `src` to `dst` seen at `at`, to `out`. Returns the bytes appended.
pub fn encode_record(
    out: &mut Vec<u8>,
    at: SystemTime,
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
) -> Result<usize, EncodeError> {
    let ip_len = match (src.ip(), dst.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => IPV4_HEADER,
        (IpAddr::V6(_), IpAddr::V6(_)) => IPV6_HEADER,
        _ => return Err(EncodeError::MixedFamilies),
    };
    let udp_len = UDP_HEADER + payload.len();
    let total = ip_len + udp_len;
    // IPv4's total length and UDP's length are 16-bit; IPv6's payload length too
    if udp_len > usize::from(u16::MAX) || (ip_len == IPV4_HEADER && total > usize::from(u16::MAX)) {
        return Err(EncodeError::TooLong);
    }
    let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let start = out.len();
    out.reserve(RECORD_HEADER_LEN + total);
    // seconds wrap in 2106, as the format does
    out.extend_from_slice(&(since.as_secs() as u32).to_le_bytes());
    out.extend_from_slice(&since.subsec_micros().to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    let udp_len16 = udp_len as u16;
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = [0u8; IPV4_HEADER];
            h[0] = 0x45; // version 4, 5 words
            h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            h[6] = 0x40; // don't fragment
            h[8] = 64; // TTL
            h[9] = PROTO_UDP;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let sum = fold(sum_words(0, &h));
            h[10..12].copy_from_slice(&(!sum).to_be_bytes());
            out.extend_from_slice(&h);
            let pseudo = pseudo_v4(&s.octets(), &d.octets(), udp_len16);
            push_udp(out, pseudo, src.port(), dst.port(), payload);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = [0u8; IPV6_HEADER];
            h[0] = 0x60;
            h[4..6].copy_from_slice(&udp_len16.to_be_bytes());
            h[6] = PROTO_UDP;
            h[7] = 64; // hop limit
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            out.extend_from_slice(&h);
            let mut pseudo = sum_words(0, &s.octets());
            pseudo = sum_words(pseudo, &d.octets());
            pseudo += u32::from(udp_len16) + u32::from(PROTO_UDP);
            push_udp(out, pseudo, src.port(), dst.port(), payload);
        }
        _ => unreachable!("families checked above"),
    }
    Ok(out.len() - start)
}

fn pseudo_v4(s: &[u8; 4], d: &[u8; 4], udp_len: u16) -> u32 {
    let sum = sum_words(0, s);
    sum_words(sum, d) + u32::from(PROTO_UDP) + u32::from(udp_len)
}

fn push_udp(out: &mut Vec<u8>, pseudo: u32, sport: u16, dport: u16, payload: &[u8]) {
    let len = (UDP_HEADER + payload.len()) as u16;
    let mut h = [0u8; UDP_HEADER];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..6].copy_from_slice(&len.to_be_bytes());
    let sum = fold(sum_words(sum_words(pseudo, &h), payload));
    // a computed checksum of 0 is sent as all ones (RFC 768); 0 means "none"
    let csum = match !sum {
        0 => 0xffff,
        c => c,
    };
    h[6..8].copy_from_slice(&csum.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
}

/// Adds `bytes` as big-endian 16-bit words (an odd last byte padded with zero) to `acc`.
fn sum_words(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for w in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([w[0], w[1]])));
        // fold early so a 64 KiB payload can never overflow
        if acc > 0xffff_0000 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, micros * 1000)
    }

    /// The one's-complement sum over a checksummed range, checksum included, is 0xffff.
    fn verifies(acc: u32) -> bool {
        fold(acc) == 0xffff
    }

    #[test]
    fn the_file_header_is_pcap_2_4_raw_ip() {
        let h = file_header();
        assert_eq!(&h[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u16::from_le_bytes([h[4], h[5]]), 2);
        assert_eq!(u16::from_le_bytes([h[6], h[7]]), 4);
        assert_eq!(u32::from_le_bytes([h[20], h[21], h[22], h[23]]), 101);
    }

    #[test]
    fn an_ipv4_record_carries_the_addresses_and_valid_checksums() {
        let src: SocketAddr = "192.0.2.10:4000".parse().unwrap();
        let dst: SocketAddr = "198.51.100.7:50002".parse().unwrap();
        let payload = [0x80u8, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xaa]; // odd length
        let mut out = Vec::new();
        let n = encode_record(&mut out, at(1_700_000_000, 123_456), src, dst, &payload).unwrap();
        assert_eq!(n, out.len());
        assert_eq!(n, 16 + 20 + 8 + payload.len());
        assert_eq!(&out[0..4], &1_700_000_000u32.to_le_bytes());
        assert_eq!(&out[4..8], &123_456u32.to_le_bytes());
        assert_eq!(
            &out[8..12],
            &((20 + 8 + payload.len()) as u32).to_le_bytes()
        );
        let ip = &out[16..36];
        assert_eq!(ip[0], 0x45);
        assert_eq!(ip[9], 17);
        assert_eq!(&ip[12..16], &[192, 0, 2, 10]);
        assert_eq!(&ip[16..20], &[198, 51, 100, 7]);
        assert!(verifies(sum_words(0, ip)), "IPv4 header checksum");
        let udp = &out[36..];
        assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), 4000);
        assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 50002);
        assert_eq!(&udp[8..], &payload);
        let pseudo = pseudo_v4(&[192, 0, 2, 10], &[198, 51, 100, 7], udp.len() as u16);
        assert!(verifies(sum_words(pseudo, udp)), "UDP checksum");
    }

    #[test]
    fn an_ipv6_record_has_a_valid_udp_checksum() {
        let src: SocketAddr = "[2001:db8::1]:4000".parse().unwrap();
        let dst: SocketAddr = "[2001:db8::5]:50000".parse().unwrap();
        let payload = vec![7u8; 172];
        let mut out = Vec::new();
        encode_record(&mut out, at(5, 0), src, dst, &payload).unwrap();
        let ip = &out[16..56];
        assert_eq!(ip[0] >> 4, 6);
        assert_eq!(u16::from_be_bytes([ip[4], ip[5]]), 180);
        let udp = &out[56..];
        let mut pseudo = sum_words(0, &ip[8..40]);
        pseudo += 180 + 17;
        assert!(verifies(sum_words(pseudo, udp)));
    }

    #[test]
    fn mixed_families_and_oversized_payloads_are_refused() {
        let v4: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        let mut out = Vec::new();
        assert_eq!(
            encode_record(&mut out, at(0, 0), v4, v6, b"x"),
            Err(EncodeError::MixedFamilies)
        );
        let big = vec![0u8; 65_516];
        assert_eq!(
            encode_record(&mut out, at(0, 0), v4, v4, &big),
            Err(EncodeError::TooLong)
        );
        assert!(out.is_empty(), "nothing written for a refused record");
        assert!(encode_record(&mut out, at(0, 0), v4, v4, &big[..65_507]).is_ok());
    }
}
