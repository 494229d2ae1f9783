//! Types shared by the SDP layer, the control protocol and the relay: what a stream looks like
//! to the relay, and what the relay answers, and how the addresses in them read as IP
//! addresses. No I/O here.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The SDP direction attribute of a stream (RFC 4566 §6, RFC 3264 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses the attribute name (case-insensitive): `sendrecv`, `sendonly`, `recvonly`, `inactive`.
    pub fn parse(s: &[u8]) -> Option<Direction> {
        let eq = |w: &str| s.eq_ignore_ascii_case(w.as_bytes());
        if eq("sendrecv") {
            Some(Direction::SendRecv)
        } else if eq("sendonly") {
            Some(Direction::SendOnly)
        } else if eq("recvonly") {
            Some(Direction::RecvOnly)
        } else if eq("inactive") {
            Some(Direction::Inactive)
        } else {
            None
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One relayed stream as the control protocol carries it (`media:` header entry:
/// `type:ip:port:direction:ice=yes|no`). `addr` is the connection address text exactly as the
/// SDP has it (an IPv4 or IPv6 literal, `0.0.0.0` for old-style hold, or in broken SDP an FQDN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamDesc {
    pub media_type: String,
    pub addr: String,
    pub port: u16,
    pub direction: Direction,
    pub ice: bool,
}

impl StreamDesc {
    /// The connection address as an IP address ([`parse_ip`]); `None` for anything else (an
    /// FQDN in broken SDP).
    pub fn ip(&self) -> Option<IpAddr> {
        parse_ip(&self.addr)
    }

    /// Where the party receives this stream: its address and port, unless the address is the
    /// wildcard (old-style hold), the port is 0 (rejected) or the address is no IP literal.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.ip()
            .filter(|ip| !ip.is_unspecified() && self.port != 0)
            .map(|ip| SocketAddr::new(ip, self.port))
    }
}

/// An IPv4 or IPv6 literal, an IPv6 one with or without brackets.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// The signalling IP of an `update` (`signaling_ip`): MediaProxy also accepts `src_dst`
/// (joined by an underscore), whose first part is the source. The wildcard address is no
/// source: `None`, as for anything that is no IP literal.
pub fn signaling_ip(s: &str) -> Option<IpAddr> {
    let first = s.split('_').next().unwrap_or("");
    parse_ip(first).filter(|ip| !ip.is_unspecified())
}

/// The relay's answer to an `update`: the address to write into `c=` and one port per stream
/// that was listed in the request, in the same order (0 for a stream the relay does not serve).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayAnswer {
    pub ip: IpAddr,
    pub ports: Vec<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(addr: &str, port: u16) -> StreamDesc {
        StreamDesc {
            media_type: "audio".into(),
            addr: addr.into(),
            port,
            direction: Direction::SendRecv,
            ice: false,
        }
    }

    #[test]
    fn stream_addresses_read_as_ip_and_socket_addresses() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            desc("192.0.2.1", 4000).socket_addr(),
            Some(a("192.0.2.1:4000"))
        );
        assert_eq!(
            desc("[2001:db8::1]", 4000).socket_addr(),
            Some(a("[2001:db8::1]:4000"))
        );
        assert_eq!(
            desc("2001:db8::1", 4000).ip(),
            Some("2001:db8::1".parse().unwrap())
        );
        // hold, rejected, not an address
        assert_eq!(desc("0.0.0.0", 4000).socket_addr(), None);
        assert_eq!(desc("[::]", 4000).socket_addr(), None);
        assert!(desc("[::]", 4000)
            .ip()
            .is_some_and(|ip| ip.is_unspecified()));
        assert_eq!(desc("192.0.2.1", 0).socket_addr(), None);
        assert_eq!(desc("host.example.com", 4000).ip(), None);
    }

    #[test]
    fn signaling_ip_is_the_source_of_src_dst_and_never_the_wildcard() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(signaling_ip("198.51.100.7"), ip("198.51.100.7"));
        assert_eq!(signaling_ip("198.51.100.7_10.0.0.1"), ip("198.51.100.7"));
        assert_eq!(signaling_ip("[2001:db8::7]"), ip("2001:db8::7"));
        assert_eq!(signaling_ip("0.0.0.0"), None);
        assert_eq!(signaling_ip("::"), None);
        assert_eq!(signaling_ip(""), None);
        assert_eq!(signaling_ip("proxy.example.com"), None);
    }
}
