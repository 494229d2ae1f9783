//! SDP parsing into borrowed spans (RFC 8866, which obsoletes RFC 4566, §5), with the
//! attributes that matter to a media relay: `a=rtcp` (RFC 3605), `a=rtcp-mux` (RFC 5761),
//! direction (RFC 3264 §5.1, RFC 8866 §6.7), ICE (`a=candidate`, `a=ice-ufrag`, `a=ice-pwd`,
//! `a=remote-candidates`, RFC 8839 §5).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::{Error, ErrorKind, Warning, WarningKind};
use crate::media::{Direction, StreamDesc};

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

/// Lines of the body: LF or CRLF ends a line (RFC 8866 §5 asks parsers to accept a bare LF);
/// a last line may lack a line end.
fn lines(body: &[u8]) -> impl Iterator<Item = LineSpan> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= body.len() {
            return None;
        }
        let start = pos;
        let (end, next) = match memchr::memchr(b'\n', body.get(start..).unwrap_or(&[])) {
            Some(n) => {
                let lf = start + n;
                let end = if lf > start && body.get(lf - 1) == Some(&b'\r') {
                    lf - 1
                } else {
                    lf
                };
                (end, lf + 1)
            }
            None => (body.len(), body.len()),
        };
        pos = next;
        Some(LineSpan { start, end, next })
    })
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Whitespace-separated tokens of `[start, end)` (RFC 8866 uses single SP; runs and tabs are
/// tolerated).
fn tokens(body: &[u8], start: usize, end: usize) -> impl Iterator<Item = Span> + '_ {
    let mut pos = start;
    std::iter::from_fn(move || {
        while pos < end && body.get(pos).copied().is_some_and(is_ws) {
            pos += 1;
        }
        if pos >= end {
            return None;
        }
        let s = pos;
        while pos < end && body.get(pos).copied().is_some_and(|b| !is_ws(b)) {
            pos += 1;
        }
        Some(Span { start: s, end: pos })
    })
}

fn decimal(d: &[u8]) -> Option<u64> {
    if d.is_empty() || d.len() > 19 {
        return None;
    }
    d.iter().try_fold(0u64, |v, &b| {
        b.is_ascii_digit().then(|| v * 10 + u64::from(b - b'0'))
    })
}

fn is_hostname(t: &[u8]) -> bool {
    !t.is_empty()
        && t.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && t.iter().any(|b| b.is_ascii_alphabetic())
}

/// `nettype addrtype address` starting at token `nettype` (RFC 8866 §5.7, RFC 3605 §2.1).
/// `Err(offset)` points at the offending token.
fn address<'a>(
    body: &'a [u8],
    nettype: Span,
    addrtype: Option<Span>,
    addr: Option<Span>,
    warnings: &mut Vec<Warning>,
    line: usize,
) -> Result<Address<'a>, usize> {
    if !nettype.of(body).eq_ignore_ascii_case(b"IN") {
        return Err(nettype.start);
    }
    let at = addrtype.ok_or(nettype.end)?;
    let family = match at.of(body) {
        t if t.eq_ignore_ascii_case(b"IP4") => AddrType::Ip4,
        t if t.eq_ignore_ascii_case(b"IP6") => AddrType::Ip6,
        _ => return Err(at.start),
    };
    let span = addr.ok_or(at.end)?;
    let token = span.of(body);
    let (text, suffix) = match token.iter().position(|&b| b == b'/') {
        Some(p) => (
            token.get(..p).unwrap_or(&[]),
            Some(token.get(p..).unwrap_or(&[])),
        ),
        None => (token, None),
    };
    if let Some(sfx) = suffix {
        // "/ttl" or "/ttl/count" (IP4) or "/count" (IP6): digits only.
        let ok = sfx
            .split(|&b| b == b'/')
            .skip(1)
            .all(|n| decimal(n).is_some());
        if !ok || sfx.split(|&b| b == b'/').count() > 3 {
            return Err(span.start);
        }
        warnings.push(Warning {
            kind: WarningKind::MulticastConnection,
            offset: line,
        });
    }
    let s = std::str::from_utf8(text).unwrap_or("");
    let ip = match family {
        AddrType::Ip4 => s.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        AddrType::Ip6 => s.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
    };
    if ip.is_none() {
        if !is_hostname(text) {
            return Err(span.start);
        }
        warnings.push(Warning {
            kind: WarningKind::FqdnAddress,
            offset: line,
        });
    }
    Ok(Address {
        addrtype: at,
        family,
        text,
        span,
        ip,
        suffix,
    })
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7).
fn connection<'a>(
    body: &'a [u8],
    line: LineSpan,
    warnings: &mut Vec<Warning>,
) -> Result<Connection<'a>, usize> {
    let value = Span {
        start: line.start + 2,
        end: line.end,
    };
    let mut t = tokens(body, value.start, value.end);
    let nettype = t.next().ok_or(value.start)?;
    let addr = address(body, nettype, t.next(), t.next(), warnings, line.start)?;
    if let Some(extra) = t.next() {
        return Err(extra.start);
    }
    Ok(Connection { line, value, addr })
}

/// `a=rtcp:<port> [<nettype> <addrtype> <connection-address>]` (RFC 3605 §2.1).
fn rtcp<'a>(
    body: &'a [u8],
    line: LineSpan,
    value_start: usize,
    warnings: &mut Vec<Warning>,
) -> Result<Rtcp<'a>, usize> {
    let mut t = tokens(body, value_start, line.end);
    let port_span = t.next().ok_or(value_start)?;
    let port = decimal(port_span.of(body))
        .and_then(|p| u16::try_from(p).ok())
        .ok_or(port_span.start)?;
    let addr = match t.next() {
        None => None,
        Some(nettype) => Some(address(
            body,
            nettype,
            t.next(),
            t.next(),
            warnings,
            line.start,
        )?),
    };
    if let Some(extra) = t.next() {
        return Err(extra.start);
    }
    Ok(Rtcp {
        line,
        port,
        port_span,
        addr,
    })
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...` (RFC 8866 §5.14).
fn media<'a>(
    body: &'a [u8],
    line: LineSpan,
    warnings: &mut Vec<Warning>,
) -> Result<Media<'a>, Error> {
    let bad = |off| Error::at(ErrorKind::BadMedia, body, off);
    let mut t = tokens(body, line.start + 2, line.end);
    let mtype = t.next().ok_or_else(|| bad(line.start))?;
    let port_tok = t.next().ok_or_else(|| bad(mtype.end))?;
    let proto = t.next().ok_or_else(|| bad(port_tok.end))?;
    if t.next().is_none() {
        warnings.push(Warning {
            kind: WarningKind::NoFormats,
            offset: line.start,
        });
    }
    let pt = port_tok.of(body);
    let slash = pt.iter().position(|&b| b == b'/');
    let port_span = Span {
        start: port_tok.start,
        end: slash.map_or(port_tok.end, |s| port_tok.start + s),
    };
    let port = decimal(port_span.of(body))
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| bad(port_tok.start))?;
    let (port_count, count_span) = match slash {
        None => (None, None),
        Some(_) => {
            let cs = Span {
                start: port_span.end,
                end: port_tok.end,
            };
            let n = decimal(cs.of(body).get(1..).unwrap_or(&[]))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(cs.start))?;
            (Some(n), Some(cs))
        }
    };
    let transport = Transport::classify(proto.of(body));
    if transport.is_supported() && port_count.is_some_and(|n| n != 1) {
        warnings.push(Warning {
            kind: WarningKind::PortCount,
            offset: line.start,
        });
    }
    Ok(Media {
        line,
        media_type: mtype.of(body),
        port,
        port_span,
        port_count,
        count_span,
        proto: proto.of(body),
        transport,
        connections: Vec::new(),
        rtcp: Vec::new(),
        rtcp_mux: false,
        direction: None,
        ice_ufrag: false,
        ice_pwd: false,
        candidates: 0,
        first_candidate: None,
        rtcp_candidate: false,
        end: body.len(),
    })
}

impl<'a> Sdp<'a> {
    /// Parses an SDP body (RFC 8866 §5; line ends CRLF or LF, a missing final line end is
    /// fine). Blank lines and unknown line types are warnings; see [`ErrorKind`] for what fails.
    pub fn parse(body: &'a [u8]) -> Result<Parsed<'a>, Error> {
        let mut warnings = Vec::new();
        let mut sdp = Sdp {
            body,
            eol: b"\r\n",
            session: Session {
                end: body.len(),
                ..Session::default()
            },
            media: Vec::new(),
            remote_candidates: false,
        };
        let mut seen_version = false;
        for line in lines(body) {
            let content = body.get(line.start..line.end).unwrap_or(&[]);
            if content.iter().all(|&b| is_ws(b)) {
                warnings.push(Warning {
                    kind: WarningKind::BlankLine,
                    offset: line.start,
                });
                continue;
            }
            let (kind, value) = match content {
                [k, b'=', rest @ ..] if k.is_ascii_alphabetic() => (*k, rest),
                _ => return Err(Error::at(ErrorKind::BadLine, body, line.start)),
            };
            if !seen_version {
                if kind != b'v' {
                    return Err(Error::at(ErrorKind::NoVersion, body, line.start));
                }
                seen_version = true;
                sdp.eol = if line.next == line.end + 1 {
                    b"\n"
                } else {
                    b"\r\n"
                };
                if value != b"0" {
                    warnings.push(Warning {
                        kind: WarningKind::VersionNotZero,
                        offset: line.start,
                    });
                }
                continue;
            }
            match kind {
                b'v' => return Err(Error::at(ErrorKind::DuplicateVersion, body, line.start)),
                b'm' => {
                    let m = media(body, line, &mut warnings)?;
                    if let Some(prev) = sdp.media.last_mut() {
                        prev.end = line.start;
                    } else {
                        sdp.session.end = line.start;
                    }
                    sdp.media.push(m);
                }
                b'c' => sdp.connection_line(line, &mut warnings)?,
                b'a' => sdp.attribute(line, value, &mut warnings)?,
                b'o' | b's' | b'i' | b'u' | b'e' | b'p' | b'b' | b't' | b'r' | b'z' | b'k' => {}
                _ => warnings.push(Warning {
                    kind: WarningKind::UnknownLineType,
                    offset: line.start,
                }),
            }
        }
        if !seen_version {
            return Err(Error::at(ErrorKind::NoVersion, body, 0));
        }
        for m in &sdp.media {
            if m.is_supported() && m.connections.is_empty() && sdp.session.connection.is_none() {
                if m.port != 0 {
                    return Err(Error::at(ErrorKind::MissingConnection, body, m.line.start));
                }
                warnings.push(Warning {
                    kind: WarningKind::NoConnectionPort0,
                    offset: m.line.start,
                });
            }
        }
        Ok(Parsed { sdp, warnings })
    }

    fn connection_line(&mut self, line: LineSpan, w: &mut Vec<Warning>) -> Result<(), Error> {
        let body = self.body;
        let parsed = connection(body, line, w);
        let warn = |w: &mut Vec<Warning>, kind| {
            w.push(Warning {
                kind,
                offset: line.start,
            })
        };
        match self.media.last_mut() {
            None => {
                let c = parsed.map_err(|off| Error::at(ErrorKind::BadConnection, body, off))?;
                if self.session.connection.is_some() {
                    warn(w, WarningKind::ExtraConnection);
                } else {
                    self.session.connection = Some(c);
                }
            }
            Some(m) => match parsed {
                Ok(c) => {
                    if !m.connections.is_empty() {
                        warn(w, WarningKind::ExtraConnection);
                    }
                    m.connections.push(c);
                }
                Err(off) if m.is_supported() => {
                    return Err(Error::at(ErrorKind::BadConnection, body, off));
                }
                Err(_) => warn(w, WarningKind::IgnoredMalformed),
            },
        }
        Ok(())
    }

    /// `a=<attribute>[:<value>]` (RFC 8866 §5.13): only the attributes a relay needs.
    fn attribute(
        &mut self,
        line: LineSpan,
        value: &[u8],
        w: &mut Vec<Warning>,
    ) -> Result<(), Error> {
        let body = self.body;
        let colon = value.iter().position(|&b| b == b':');
        let name = value.get(..colon.unwrap_or(value.len())).unwrap_or(&[]);
        // Tolerate trailing blanks after a value-less attribute (`a=sendonly `).
        let name = match name.iter().rposition(|&b| !is_ws(b)) {
            Some(last) => name.get(..=last).unwrap_or(name),
            None => name,
        };
        let attr_value = colon.map(|c| line.start + 2 + c + 1);
        let has_value = colon.is_some_and(|c| value.get(c + 1..).is_some_and(|v| !v.is_empty()));
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        let warn = |w: &mut Vec<Warning>, kind| {
            w.push(Warning {
                kind,
                offset: line.start,
            })
        };
        if colon.is_none() {
            if let Some(d) = Direction::parse(name) {
                match self.media.last_mut() {
                    Some(m) => m.direction = m.direction.or(Some(d)),
                    None => self.session.direction = self.session.direction.or(Some(d)),
                }
                return Ok(());
            }
        }
        if is("remote-candidates") {
            self.remote_candidates = true;
        } else if is("ice-ufrag") && has_value {
            match self.media.last_mut() {
                Some(m) => m.ice_ufrag = true,
                None => self.session.ice_ufrag = true,
            }
        } else if is("ice-pwd") && has_value {
            match self.media.last_mut() {
                Some(m) => m.ice_pwd = true,
                None => self.session.ice_pwd = true,
            }
        } else if is("rtcp-mux") {
            if let Some(m) = self.media.last_mut() {
                m.rtcp_mux = true;
            }
        } else if is("rtcp") {
            let Some(m) = self.media.last_mut() else {
                warn(w, WarningKind::SessionRtcp);
                return Ok(());
            };
            match rtcp(body, line, attr_value.unwrap_or(line.end), w) {
                Ok(r) => {
                    if !m.rtcp.is_empty() {
                        warn(w, WarningKind::ExtraRtcp);
                    }
                    m.rtcp.push(r);
                }
                Err(off) if m.is_supported() => {
                    return Err(Error::at(ErrorKind::BadRtcp, body, off));
                }
                Err(_) => warn(w, WarningKind::IgnoredMalformed),
            }
        } else if is("candidate") {
            if let Some(m) = self.media.last_mut() {
                m.candidates += 1;
                m.first_candidate = m.first_candidate.or(Some(line.start));
                // candidate-attribute = foundation SP component-id SP transport ...
                let component = attr_value
                    .and_then(|s| tokens(body, s, line.end).nth(1))
                    .and_then(|c| decimal(c.of(body)));
                match component {
                    Some(2) => m.rtcp_candidate = true,
                    Some(_) => {}
                    None => warn(w, WarningKind::BadCandidate),
                }
            }
        }
        Ok(())
    }

    /// The body this SDP was parsed from.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The line end learnt from the `v=` line (CRLF or LF); inserted lines use it.
    pub fn line_ending(&self) -> &'static [u8] {
        self.eol
    }

    /// Whether any `a=remote-candidates` is present (an ICE re-offer after nomination,
    /// RFC 8839 §5.2: callers leave such an SDP alone).
    pub fn has_remote_candidates(&self) -> bool {
        self.remote_candidates
    }

    /// The connection address a stream uses: its own first `c=`, else the session `c=`.
    pub fn stream_connection<'s>(&'s self, m: &'s Media<'a>) -> Option<&'s Connection<'a>> {
        m.connections.first().or(self.session.connection.as_ref())
    }

    /// ICE for a stream, as the C module decides it: ufrag and pwd at media or session level,
    /// and at least one `a=candidate` in the media block.
    pub fn stream_has_ice(&self, m: &Media<'a>) -> bool {
        (m.ice_ufrag || self.session.ice_ufrag)
            && (m.ice_pwd || self.session.ice_pwd)
            && m.candidates > 0
    }

    /// Indices (into [`Sdp::media`]) of the supported streams, in SDP order: the positions a
    /// [`RelayAnswer`](crate::media::RelayAnswer)'s ports refer to.
    pub fn supported(&self) -> impl Iterator<Item = usize> + '_ {
        self.media
            .iter()
            .enumerate()
            .filter(|(_, m)| m.is_supported())
            .map(|(i, _)| i)
    }

    /// The streams the control protocol carries: supported streams in SDP order, with media
    /// type, connection address (stream `c=`, else session `c=`, without `/ttl/count`; `0.0.0.0`
    /// for a port-0 stream without any), port (a `/count` suffix dropped), direction (media
    /// level, else session level, else sendrecv) and ICE (see [`Sdp::stream_has_ice`]).
    pub fn relay_streams(&self) -> Vec<StreamDesc> {
        self.media
            .iter()
            .filter(|m| m.is_supported())
            .map(|m| StreamDesc {
                media_type: String::from_utf8_lossy(m.media_type).into_owned(),
                addr: self.stream_connection(m).map_or_else(
                    || "0.0.0.0".to_owned(),
                    |c| String::from_utf8_lossy(c.addr.text).into_owned(),
                ),
                port: m.port,
                direction: m.direction.or(self.session.direction).unwrap_or_default(),
                ice: self.stream_has_ice(m),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_ends() {
        let b = b"v=0\r\no=x\nm=audio 1 RTP/AVP 0";
        let l: Vec<_> = lines(b).map(|l| (l.start, l.end, l.next)).collect();
        assert_eq!(l, vec![(0, 3, 5), (5, 8, 9), (9, 28, 28)]);
    }

    #[test]
    fn tokens_skip_runs_of_blanks() {
        let b = b"IN  IP4\t1.2.3.4 ";
        let t: Vec<_> = tokens(b, 0, b.len()).map(|s| s.of(b)).collect();
        assert_eq!(t, vec![&b"IN"[..], b"IP4", b"1.2.3.4"]);
    }

    #[test]
    fn transports() {
        assert_eq!(Transport::classify(b"rtp/savpf"), Transport::RtpSavpf);
        assert_eq!(Transport::classify(b"UDPTL"), Transport::Udptl);
        assert_eq!(Transport::classify(b"TCP/MSRP"), Transport::Other);
        assert_eq!(Transport::classify(b"UDP/DTLS/SCTP"), Transport::Other);
        assert_eq!(Transport::classify(b"RTP/AVP/TCP"), Transport::Other);
    }

    #[test]
    fn connection_forms() {
        let mut w = Vec::new();
        let b = b"c=IN IP4 224.2.1.1/127/3";
        let l = lines(b).next().unwrap();
        let c = connection(b, l, &mut w).unwrap();
        assert_eq!(c.addr.text, b"224.2.1.1");
        assert_eq!(c.addr.suffix, Some(&b"/127/3"[..]));
        assert_eq!(c.addr.span.of(b), b"224.2.1.1/127/3");
        for bad in [
            &b"c="[..],
            b"c=IN IP4",
            b"c=IN IP7 X",
            b"c=ATM NSAP x",
            b"c=IN IP4 1.2.3.4/x",
            b"c=IN IP4 10.0.0.1 extra",
            b"c=IN IP4 ::1",
            b"c=IN IP4 999.1.1.1",
        ] {
            let l = lines(bad).next().unwrap();
            assert!(
                connection(bad, l, &mut w).is_err(),
                "{}",
                bad.escape_ascii()
            );
        }
        let b = b"c=IN IP6 host.example.com";
        let l = lines(b).next().unwrap();
        let c = connection(b, l, &mut w).unwrap();
        assert_eq!(c.addr.ip, None);
        assert_eq!(c.addr.family, AddrType::Ip6);
    }
}
