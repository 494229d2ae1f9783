//! What an SDP body parses into: borrowed spans of the session, its media descriptions and the
//! attributes that matter to a media relay (see [`super::Sdp::parse`]).

use std::net::IpAddr;

use super::error::Warning;
use crate::media::Direction;

/// A byte range of the SDP body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    /// The bytes of this span in `body` (empty if out of range).
    pub fn of<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        body.get(self.start..self.end).unwrap_or(&[])
    }
}

/// One line: content `[start, end)`, its line end `[end, next)` (empty for a last line
/// without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LineSpan {
    pub start: usize,
    pub end: usize,
    pub next: usize,
}

/// `addrtype` of `c=` / `a=rtcp` (RFC 8866 §5.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrType {
    Ip4,
    Ip6,
}

impl AddrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
        }
    }

    /// The address type of an IP address.
    pub fn of(ip: &IpAddr) -> AddrType {
        match ip {
            IpAddr::V4(_) => AddrType::Ip4,
            IpAddr::V6(_) => AddrType::Ip6,
        }
    }
}

/// `IN <addrtype> <address>[/ttl][/count]` as found in `c=` and `a=rtcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address<'a> {
    /// The addrtype token.
    pub addrtype: Span,
    pub family: AddrType,
    /// The address text without any `/ttl/count` suffix.
    pub text: &'a [u8],
    /// The address token including any suffix (what a rewrite replaces).
    pub span: Span,
    /// The parsed address; `None` for a host name.
    pub ip: Option<IpAddr>,
    /// `/ttl[/count]` (RFC 8866 §5.7 multicast), if any.
    pub suffix: Option<&'a [u8]>,
}

impl Address<'_> {
    /// `0.0.0.0` or `::` (RFC 3264 §8.4 hold, or WebRTC's "use the candidates").
    pub fn is_unspecified(&self) -> bool {
        self.ip.is_some_and(|ip| ip.is_unspecified())
    }
}

/// A `c=` line (RFC 8866 §5.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection<'a> {
    pub line: LineSpan,
    /// Start of the value (after `c=`).
    pub value: Span,
    pub addr: Address<'a>,
}

/// An `a=rtcp:` attribute (RFC 3605 §2.1): port and optional address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rtcp<'a> {
    pub line: LineSpan,
    pub port: u16,
    pub port_span: Span,
    pub addr: Option<Address<'a>>,
}

/// The `proto` field of `m=` (RFC 8866 §5.14, RFC 3711, RFC 4585, RFC 5124, RFC 5764,
/// ITU-T T.38 `udptl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    RtpAvp,
    RtpAvpf,
    RtpSavp,
    RtpSavpf,
    UdpTlsRtpSavp,
    UdpTlsRtpSavpf,
    Udptl,
    Udp,
    /// Anything else (TCP/MSRP, UDP/DTLS/SCTP, TCP/RTP/AVP, UDP/BFCP, `*`, ...): not relayed,
    /// never touched.
    Other,
}

impl Transport {
    /// Classifies a proto token (case-insensitive).
    pub fn classify(proto: &[u8]) -> Transport {
        const KNOWN: [(&str, Transport); 8] = [
            ("RTP/AVP", Transport::RtpAvp),
            ("RTP/AVPF", Transport::RtpAvpf),
            ("RTP/SAVP", Transport::RtpSavp),
            ("RTP/SAVPF", Transport::RtpSavpf),
            ("UDP/TLS/RTP/SAVP", Transport::UdpTlsRtpSavp),
            ("UDP/TLS/RTP/SAVPF", Transport::UdpTlsRtpSavpf),
            ("udptl", Transport::Udptl),
            ("udp", Transport::Udp),
        ];
        KNOWN
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(proto))
            .map_or(Transport::Other, |&(_, t)| t)
    }

    /// Whether a stream with this transport is relayed.
    pub fn is_supported(self) -> bool {
        self != Transport::Other
    }
}

/// One media description: the `m=` line and everything up to the next `m=` (RFC 8866 §5.14).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media<'a> {
    pub line: LineSpan,
    pub media_type: &'a [u8],
    pub port: u16,
    /// The port digits.
    pub port_span: Span,
    /// `/count` after the port (RFC 8866 §5.14), if any.
    pub port_count: Option<u32>,
    /// The `/count` bytes including the slash.
    pub count_span: Option<Span>,
    pub proto: &'a [u8],
    pub transport: Transport,
    /// Media-level `c=` lines (normally at most one).
    pub connections: Vec<Connection<'a>>,
    /// `a=rtcp` attributes (normally at most one).
    pub rtcp: Vec<Rtcp<'a>>,
    pub rtcp_mux: bool,
    /// First direction attribute in the block.
    pub direction: Option<Direction>,
    pub ice_ufrag: bool,
    pub ice_pwd: bool,
    /// Number of `a=candidate` lines.
    pub candidates: usize,
    /// Start of the first `a=candidate` line.
    pub first_candidate: Option<usize>,
    /// Some candidate has component id 2 (RTCP, RFC 8839 §5.1).
    pub rtcp_candidate: bool,
    /// End of the block (start of the next `m=` line or end of body).
    pub end: usize,
}

impl Media<'_> {
    /// The stream is relayed (its transport is supported).
    pub fn is_supported(&self) -> bool {
        self.transport.is_supported()
    }
}

/// What lies before the first `m=`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session<'a> {
    /// The first session-level `c=`.
    pub connection: Option<Connection<'a>>,
    pub direction: Option<Direction>,
    pub ice_ufrag: bool,
    pub ice_pwd: bool,
    /// End of the session block.
    pub end: usize,
}

/// A parsed SDP: borrowed spans into the body. Nothing is copied or normalised; see the
/// module docs for the invariants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sdp<'a> {
    pub(crate) body: &'a [u8],
    pub(crate) eol: &'static [u8],
    pub session: Session<'a>,
    pub media: Vec<Media<'a>>,
    pub(crate) remote_candidates: bool,
}

/// The result of [`Sdp::parse`]: the SDP and what was odd about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub sdp: Sdp<'a>,
    pub warnings: Vec<Warning>,
}
