//! Types shared by the SDP layer, the control protocol and the relay: what a stream looks like
//! to the relay, and what the relay answers. No parsing and no I/O here.

use std::fmt;
use std::net::IpAddr;

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

/// The relay's answer to an `update`: the address to write into `c=` and one port per stream
/// that was listed in the request, in the same order (0 for a stream the relay does not serve).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayAnswer {
    pub ip: IpAddr,
    pub ports: Vec<u16>,
}
