//! The line-level parsers of the SDP scanner: lines, tokens, and the values of `c=`, `a=rtcp`
//! and `m=` lines (RFC 8866 §5, RFC 3605).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::{Error, ErrorKind, Warning, WarningKind};
use super::model::*;

/// Lines of the body: LF or CRLF ends a line (RFC 8866 §5 asks parsers to accept a bare LF);
/// a last line may lack a line end.
pub(super) fn lines(body: &[u8]) -> impl Iterator<Item = LineSpan> + '_ {
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

pub(super) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Whitespace-separated tokens of `[start, end)` (RFC 8866 uses single SP; runs and tabs are
/// tolerated).
pub(super) fn tokens(body: &[u8], start: usize, end: usize) -> impl Iterator<Item = Span> + '_ {
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

pub(super) fn decimal(d: &[u8]) -> Option<u64> {
    if d.is_empty() || d.len() > 19 {
        return None;
    }
    d.iter().try_fold(0u64, |v, &b| {
        b.is_ascii_digit().then(|| v * 10 + u64::from(b - b'0'))
    })
}

pub(super) fn is_hostname(t: &[u8]) -> bool {
    !t.is_empty()
        && t.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && t.iter().any(|b| b.is_ascii_alphabetic())
}

/// `nettype addrtype address` starting at token `nettype` (RFC 8866 §5.7, RFC 3605 §2.1).
/// `Err(offset)` points at the offending token.
pub(super) fn address<'a>(
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
pub(super) fn connection<'a>(
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
pub(super) fn rtcp<'a>(
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
pub(super) fn media<'a>(
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
