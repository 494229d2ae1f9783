//! The `update` request's `media` header (one entry per stream,
//! `type:ip:port:direction:ice=yes|no[:asymmetric=yes]`, comma separated): encoding and
//! validating decoding, re-exported by [`super::codec`]. No I/O here.

use super::codec::CodecError;
use crate::media::{Direction, StreamDesc};

/// Whether a stream address (outer brackets removed) can travel in a `media` header and read
/// back the same: not empty, and none of the header's separators, blanks or brackets inside.
pub(super) fn media_addr_ok(addr: &str) -> bool {
    !addr.is_empty() && !addr.contains([',', '\r', '\n', ' ', '\t', '[', ']'])
}

/// Encodes one `media` header value (`type:ip:port:direction:ice=yes|no[:asymmetric=yes]`,
/// comma separated). IPv6 addresses are bracketed.
pub fn encode_media(media: &[StreamDesc], asymmetric: bool) -> String {
    let mut out = String::with_capacity(media.len() * 48);
    for (i, s) in media.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&s.media_type);
        out.push(':');
        if s.addr.contains(':') && !s.addr.starts_with('[') {
            out.push('[');
            out.push_str(&s.addr);
            out.push(']');
        } else {
            out.push_str(&s.addr);
        }
        out.push(':');
        out.push_str(&s.port.to_string());
        out.push(':');
        out.push_str(s.direction.as_str());
        out.push_str(if s.ice { ":ice=yes" } else { ":ice=no" });
        if asymmetric {
            out.push_str(":asymmetric=yes");
        }
    }
    out
}

/// Decodes a `media` header value. Returns the streams and whether any carried
/// `asymmetric=yes`.
pub fn decode_media(value: &str) -> Result<(Vec<StreamDesc>, bool), CodecError> {
    let mut streams = Vec::new();
    let mut asymmetric = false;
    for entry in value.split(',') {
        let (s, asym) = decode_stream(entry.trim())?;
        asymmetric |= asym;
        streams.push(s);
    }
    Ok((streams, asymmetric))
}

fn decode_stream(entry: &str) -> Result<(StreamDesc, bool), CodecError> {
    let bad = || CodecError::BadMedia(entry.to_string());
    let (media_type, rest) = entry.split_once(':').ok_or_else(bad)?;
    if media_type.is_empty() || media_type.contains(char::is_whitespace) {
        return Err(bad());
    }
    // Address: bracketed, or everything up to the port (unbracketed IPv6 has colons).
    let (addr, tail): (&str, &str) = if let Some(r) = rest.strip_prefix('[') {
        let (a, t) = r.split_once(']').ok_or_else(bad)?;
        (a, t.strip_prefix(':').ok_or_else(bad)?)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        // params are the trailing parts holding '='; before them direction, before it port.
        let nparams = parts.iter().rev().take_while(|p| p.contains('=')).count();
        if parts.len() < nparams + 3 {
            return Err(bad());
        }
        let port_idx = parts.len() - nparams - 2;
        let addr_len: usize = parts[..port_idx].iter().map(|p| p.len() + 1).sum::<usize>() - 1;
        (&rest[..addr_len], &rest[addr_len + 1..])
    };
    if !media_addr_ok(addr) {
        return Err(bad());
    }
    let mut fields = tail.split(':');
    let port: u16 = fields.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let direction = fields
        .next()
        .and_then(|d| Direction::parse(d.as_bytes()))
        .ok_or_else(bad)?;
    let mut ice = false;
    let mut asymmetric = false;
    for p in fields {
        let (k, v) = p.split_once('=').ok_or_else(bad)?;
        match k {
            "ice" => ice = v == "yes",
            "asymmetric" => asymmetric = v == "yes",
            _ => {}
        }
    }
    Ok((
        StreamDesc {
            media_type: media_type.to_string(),
            addr: addr.to_string(),
            port,
            direction,
            ice,
        },
        asymmetric,
    ))
}
