//! Pure NAT decisions: `client_nat_test` bits, `fix_contact`'s new host:port, and the lists of
//! asymmetric clients. Inputs are plain values the host layer takes from the SIP scanner and
//! the packet's source; nothing here touches the host or the network.
//!
//! `client_nat_test(type)` bits (1, 2 and 4 as in the SER module; the others and their names as
//! OpenSIPS 4.0's nathelper names its `nat_uac_test` flags):
//!
//! | bit | name | true when |
//! |---:|---|---|
//! | 1 | `private-contact` | the first Contact's host is a private address |
//! | 2 | `diff-ip-src-via` | the source IP differs from the top Via host, **or** (SER) the source port from the Via port (5060 when absent), except for clients listed in `sip_asymmetrics` |
//! | 4 | `private-via` | the top Via host is a private address |
//! | 8 | `private-sdp` | an SDP connection address is private |
//! | 16 | `diff-port-src-via` | the source port differs from the Via port (not for `sip_asymmetrics` clients) |
//! | 32 | `diff-ip-src-contact` | the source IP differs from the Contact host |
//! | 64 | `diff-port-src-contact` | the source port differs from the Contact port (5060 when absent) |
//! | 128 | `carrier-grade-nat` | the private tests also count RFC 6333's 192.0.0.0/29 |
//!
//! Private means RFC 1918 (10/8, 172.16/12, 192.168/16) and RFC 6598 (100.64/10) for IPv4,
//! and unique-local (fc00::/7) for IPv6.

pub mod asymmetric;
pub mod ping;

use std::net::IpAddr;

pub const PRIVATE_CONTACT: u32 = 1;
pub const DIFF_IP_SRC_VIA: u32 = 2;
pub const PRIVATE_VIA: u32 = 4;
pub const PRIVATE_SDP: u32 = 8;
pub const DIFF_PORT_SRC_VIA: u32 = 16;
pub const DIFF_IP_SRC_CONTACT: u32 = 32;
pub const DIFF_PORT_SRC_CONTACT: u32 = 64;
pub const CARRIER_GRADE_NAT: u32 = 128;
const ALL_TESTS: u32 = 255;

const NAMES: [(&str, u32); 8] = [
    ("private-contact", PRIVATE_CONTACT),
    ("diff-ip-src-via", DIFF_IP_SRC_VIA),
    ("private-via", PRIVATE_VIA),
    ("private-sdp", PRIVATE_SDP),
    ("diff-port-src-via", DIFF_PORT_SRC_VIA),
    ("diff-ip-src-contact", DIFF_IP_SRC_CONTACT),
    ("diff-port-src-contact", DIFF_PORT_SRC_CONTACT),
    ("carrier-grade-nat", CARRIER_GRADE_NAT),
];

/// Parses the `client_nat_test` argument: a number (`3`, `"3"`, `"0x3"`) or comma-separated
/// flag names (`"private-contact,diff-ip-src-via"`).
pub fn parse_tests(arg: &str) -> Result<u32, String> {
    let a = arg.trim();
    let num = if let Some(hex) = a.strip_prefix("0x").or_else(|| a.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else {
        a.parse::<u32>().ok()
    };
    let bits = match num {
        Some(n) => n,
        None => {
            let mut bits = 0;
            for name in a.split(',').map(str::trim) {
                let bit = NAMES
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, b)| *b)
                    .ok_or_else(|| {
                        format!(
                            "unknown test {name:?} in client_nat_test({arg:?}): use a number or \
                             names from {}",
                            NAMES.map(|(n, _)| n).join(",")
                        )
                    })?;
                bits |= bit;
            }
            bits
        }
    };
    if bits == 0 || bits & !ALL_TESTS != 0 {
        return Err(format!(
            "client_nat_test({arg:?}): the tests must be a non-zero combination of 1..128"
        ));
    }
    Ok(bits)
}

/// Whether `ip` is private: RFC 1918, RFC 6598, IPv6 unique-local; with `rfc6333`, also
/// 192.0.0.0/29 (DS-Lite).
pub fn is_private(ip: IpAddr, rfc6333: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (rfc6333 && o[0] == 192 && o[1] == 0 && o[2] == 0 && o[3] < 8)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4), rfc6333);
            }
            (v6.segments()[0] & 0xfe00) == 0xfc00
        }
    }
}

/// Parses a SIP host as an IP literal: `192.0.2.1`, `[2001:db8::1]` (or unbracketed IPv6).
pub fn host_ip(host: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(host).ok()?;
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

/// What `client_nat_test` looks at, taken from the message by the host layer.
#[derive(Clone, Debug, Default)]
pub struct NatView<'a> {
    pub src_ip: Option<IpAddr>,
    pub src_port: u16,
    pub via_host: Option<&'a [u8]>,
    pub via_port: Option<u16>,
    pub contact_host: Option<&'a [u8]>,
    pub contact_port: Option<u16>,
    /// Connection addresses of the SDP body, if any (as written).
    pub sdp_addrs: Vec<&'a [u8]>,
    /// The User-Agent (or Server) matched `sip_asymmetrics`.
    pub sip_asymmetric: bool,
}

fn same_ip(src: IpAddr, host: &[u8]) -> bool {
    match host_ip(host) {
        Some(ip) => canonical(ip) == canonical(src),
        // a name can never equal the packet's source address
        None => false,
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Runs the selected tests; true as soon as one is true.
pub fn client_nat_test(tests: u32, v: &NatView<'_>) -> bool {
    let cgn = tests & CARRIER_GRADE_NAT != 0;
    let private_host = |h: Option<&[u8]>| h.and_then(host_ip).is_some_and(|ip| is_private(ip, cgn));
    if tests & PRIVATE_CONTACT != 0 && private_host(v.contact_host) {
        return true;
    }
    if tests & PRIVATE_VIA != 0 && private_host(v.via_host) {
        return true;
    }
    if tests & PRIVATE_SDP != 0
        && v.sdp_addrs
            .iter()
            .any(|a| host_ip(a).is_some_and(|ip| is_private(ip, cgn)))
    {
        return true;
    }
    let Some(src) = v.src_ip else {
        return false;
    };
    let via_port_differs = v.via_port.unwrap_or(5060) != v.src_port && !v.sip_asymmetric;
    if tests & DIFF_IP_SRC_VIA != 0 {
        if let Some(h) = v.via_host {
            if !same_ip(src, h) || via_port_differs {
                return true;
            }
        }
    }
    if tests & DIFF_PORT_SRC_VIA != 0 && v.via_host.is_some() && via_port_differs {
        return true;
    }
    if tests & DIFF_IP_SRC_CONTACT != 0 && v.contact_host.is_some_and(|h| !same_ip(src, h)) {
        return true;
    }
    if tests & DIFF_PORT_SRC_CONTACT != 0
        && v.contact_host.is_some()
        && v.contact_port.unwrap_or(5060) != v.src_port
    {
        return true;
    }
    false
}

/// `fix_contact()`: the text that replaces the first Contact's `host[:port]`, or `None` when
/// nothing changes. The new host is the packet's source IP (IPv6 in brackets) and the new port
/// its source port; a SIP-asymmetric client keeps its own port (and gets none if it had none).
pub fn fix_contact(
    host: &[u8],
    port: Option<u16>,
    src_ip: IpAddr,
    src_port: u16,
    sip_asymmetric: bool,
) -> Option<String> {
    let src_ip = canonical(src_ip);
    let new_host = match src_ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let new_port = if sip_asymmetric { port } else { Some(src_port) };
    let unchanged = same_ip(src_ip, host) && new_port == port;
    if unchanged {
        return None;
    }
    Some(match new_port {
        Some(p) => format!("{new_host}:{p}"),
        None => new_host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_numbers_strings_and_names() {
        assert_eq!(parse_tests("3"), Ok(3));
        assert_eq!(parse_tests(" 19 "), Ok(19));
        assert_eq!(parse_tests("0x7"), Ok(7));
        assert_eq!(parse_tests("private-contact,diff-ip-src-via"), Ok(3));
        assert_eq!(parse_tests("Private-SDP, carrier-grade-nat"), Ok(136));
        assert!(parse_tests("0").is_err());
        assert!(parse_tests("256").is_err());
        let e = parse_tests("private-contact,bogus").unwrap_err();
        assert!(e.contains("unknown test \"bogus\""), "{e}");
    }

    #[test]
    fn private_ranges() {
        for p in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "fd00::1",
            "::ffff:192.168.0.1",
        ] {
            assert!(is_private(ip(p), false), "{p}");
        }
        for p in [
            "172.32.0.1",
            "100.128.0.1",
            "192.0.2.1",
            "8.8.8.8",
            "2001:db8::1",
            "192.0.0.2",
        ] {
            assert!(!is_private(ip(p), false), "{p}");
        }
        assert!(is_private(ip("192.0.0.2"), true));
    }

    fn view<'a>() -> NatView<'a> {
        NatView {
            src_ip: Some(ip("203.0.113.9")),
            src_port: 61000,
            via_host: Some(b"192.168.1.20"),
            via_port: Some(5060),
            contact_host: Some(b"192.168.1.20"),
            contact_port: Some(5060),
            sdp_addrs: vec![b"192.168.1.20"],
            sip_asymmetric: false,
        }
    }

    #[test]
    fn each_bit_on_a_natted_client() {
        let v = view();
        for bit in [1, 2, 4, 8, 16, 32, 64] {
            assert!(client_nat_test(bit, &v), "bit {bit}");
        }
    }

    #[test]
    fn each_bit_on_a_public_client() {
        let v = NatView {
            src_ip: Some(ip("203.0.113.9")),
            src_port: 5060,
            via_host: Some(b"203.0.113.9"),
            via_port: None,
            contact_host: Some(b"203.0.113.9"),
            contact_port: Some(5060),
            sdp_addrs: vec![b"203.0.113.9"],
            sip_asymmetric: false,
        };
        for bit in [1, 2, 4, 8, 16, 32, 64] {
            assert!(!client_nat_test(bit, &v), "bit {bit}");
        }
    }

    #[test]
    fn ser_bit_2_checks_the_port_except_for_asymmetric_clients() {
        let mut v = NatView {
            src_ip: Some(ip("203.0.113.9")),
            src_port: 5070,
            via_host: Some(b"203.0.113.9"),
            via_port: Some(5060),
            ..NatView::default()
        };
        assert!(client_nat_test(2, &v));
        assert!(client_nat_test(16, &v));
        v.sip_asymmetric = true;
        assert!(!client_nat_test(2, &v));
        assert!(!client_nat_test(16, &v));
    }

    #[test]
    fn ipv6_via_in_brackets() {
        let v = NatView {
            src_ip: Some(ip("2001:db8::5")),
            src_port: 5060,
            via_host: Some(b"[2001:db8::5]"),
            via_port: Some(5060),
            ..NatView::default()
        };
        assert!(!client_nat_test(2, &v));
        let v = NatView {
            via_host: Some(b"[2001:db8::6]"),
            ..v
        };
        assert!(client_nat_test(2, &v));
    }

    #[test]
    fn fix_contact_texts() {
        let src = ip("203.0.113.9");
        assert_eq!(
            fix_contact(b"192.168.1.20", Some(5060), src, 61000, false).as_deref(),
            Some("203.0.113.9:61000")
        );
        assert_eq!(
            fix_contact(b"192.168.1.20", None, src, 5060, false).as_deref(),
            Some("203.0.113.9:5060")
        );
        // asymmetric: host only, port kept (and none added)
        assert_eq!(
            fix_contact(b"192.168.1.20", Some(5062), src, 61000, true).as_deref(),
            Some("203.0.113.9:5062")
        );
        assert_eq!(
            fix_contact(b"192.168.1.20", None, src, 61000, true).as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(
            fix_contact(b"203.0.113.9", Some(61000), src, 61000, false),
            None
        );
        assert_eq!(
            fix_contact(b"[fd00::1]", Some(5060), ip("2001:db8::9"), 5060, false).as_deref(),
            Some("[2001:db8::9]:5060")
        );
    }
}
