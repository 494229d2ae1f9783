//! The header field values the scanner interprets (RFC 3261 §20): the first via-parm of Via,
//! the first Contact, From/To, CSeq and Content-Type, as borrowed spans.

use nom::character::complete::char;
use nom::Parser;

use super::lex::{
    self, at_end, at_end_or_comma, name_addr, offset_in, params, trim_lws, NameAddr, Params,
};

/// Bytes of the scanned buffer together with their offset in it (for edits by the host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spanned<'a> {
    pub bytes: &'a [u8],
    pub offset: usize,
}

/// The first via-parm of the first Via header field (RFC 3261 §20.42, RFC 3581 `rport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via<'a> {
    /// `transport` of sent-protocol (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ...).
    pub transport: &'a [u8],
    /// sent-by host; an IPv6 reference keeps its brackets (see [`Via::ipv6`]).
    pub host: Spanned<'a>,
    pub ipv6: bool,
    pub port: Option<u16>,
    /// `None`: no `rport`; `Some(None)`: `rport` without value; `Some(Some(p))`: `rport=p`.
    pub rport: Option<Option<u16>>,
    /// `received` value as written (an IPv6 address may come with or without brackets).
    pub received: Option<&'a [u8]>,
    pub branch: Option<&'a [u8]>,
    /// All via-params, for [`Via::param`].
    pub params: &'a [u8],
}

impl<'a> Via<'a> {
    /// Value of a via-param (case-insensitive name): `Some(None)` for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&'a [u8]>> {
        Params::new(self.params).find(name)
    }

    /// The host without IPv6 brackets.
    pub fn host_addr(&self) -> &'a [u8] {
        strip_brackets(self.host.bytes)
    }
}

/// The first contact of the first Contact header field (RFC 3261 §20.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contact<'a> {
    /// `Contact: *` (only valid in REGISTER); then `uri` is the `*` and there is no host.
    pub star: bool,
    /// Display name as written (quotes included), if any.
    pub display: Option<&'a [u8]>,
    /// The URI (inside `<>` for the name-addr form).
    pub uri: Spanned<'a>,
    /// Host of a `sip:`/`sips:` URI; an IPv6 reference keeps its brackets. `None` for other
    /// schemes.
    pub host: Option<Spanned<'a>>,
    pub ipv6: bool,
    /// Port digits of a `sip:`/`sips:` URI, with their value.
    pub port: Option<Spanned<'a>>,
    pub port_value: Option<u16>,
    /// The contact-params after the URI (`;expires=..;q=..`), for [`Contact::param`].
    pub params: &'a [u8],
}

impl<'a> Contact<'a> {
    /// Value of a contact-param (case-insensitive name): `Some(None)` for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&'a [u8]>> {
        Params::new(self.params).find(name)
    }

    /// The host without IPv6 brackets.
    pub fn host_addr(&self) -> Option<&'a [u8]> {
        self.host.map(|h| strip_brackets(h.bytes))
    }
}

fn strip_brackets(h: &[u8]) -> &[u8] {
    match h {
        [b'[', inner @ .., b']'] => inner,
        _ => h,
    }
}

/// A From or To header field: URI and parameters (tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Party<'a> {
    pub(super) uri: &'a [u8],
    pub(super) params: &'a [u8],
}

/// Content-Type media type (RFC 3261 §20.15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentType<'a> {
    pub mtype: &'a [u8],
    pub subtype: &'a [u8],
    pub params: &'a [u8],
    /// The whole value, trimmed.
    pub raw: &'a [u8],
}

impl<'a> ContentType<'a> {
    /// `type/subtype` equality, case-insensitive.
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(mtype.as_bytes())
            && self.subtype.eq_ignore_ascii_case(subtype.as_bytes())
    }

    /// A media-type parameter (case-insensitive name); a quoted value keeps its quotes.
    pub fn param(&self, name: &str) -> Option<Option<&'a [u8]>> {
        Params::new(self.params).find(name)
    }
}

/// Parses `m-type SLASH m-subtype *( SEMI m-parameter )` (RFC 3261 §20.15, §25.1).
pub(crate) fn content_type(v: &[u8]) -> Option<ContentType<'_>> {
    let (i, _) = lex::lws(v).ok()?;
    let (i, mtype) = lex::token(i).ok()?;
    let (i, _) = (lex::lws, char::<_, ()>('/'), lex::lws).parse(i).ok()?;
    let (i, subtype) = lex::token(i).ok()?;
    let (i, ps) = params(i).ok()?;
    if !at_end(i) {
        return None;
    }
    Some(ContentType {
        mtype,
        subtype,
        params: ps,
        raw: trim_lws(v),
    })
}

/// `via-parm` (RFC 3261 §20.42, §25.1): sent-protocol LWS sent-by *( SEMI via-params ).
pub(super) fn via_parm<'a>(buf: &'a [u8], v: &'a [u8]) -> Option<Via<'a>> {
    let slash = |i| (lex::lws, char::<_, ()>('/'), lex::lws).parse(i);
    let (i, _) = lex::lws(v).ok()?;
    let (i, _name) = lex::token(i).ok()?;
    let (i, _) = slash(i).ok()?;
    let (i, _version) = lex::token(i).ok()?;
    let (i, _) = slash(i).ok()?;
    let (i, transport) = lex::token(i).ok()?;
    let (i, _) = lex::lws(i).ok()?;
    let (i, (host, ipv6)) = lex::host(i).ok()?;
    let (i, port) = lex::opt_port(i).ok()?;
    let (i, ps) = params(i).ok()?;
    if !at_end_or_comma(i) {
        return None;
    }
    let mut via = Via {
        transport,
        host: Spanned {
            bytes: host,
            offset: offset_in(buf, host),
        },
        ipv6,
        port: port.map(|(_, p)| p),
        rport: None,
        received: None,
        branch: None,
        params: ps,
    };
    for (name, value) in Params::new(ps) {
        if name.eq_ignore_ascii_case(b"rport") {
            if via.rport.is_none() {
                via.rport = Some(match value {
                    None => None,
                    Some(v) => Some(u16::try_from(lex::decimal(v)?).ok()?),
                });
            }
        } else if name.eq_ignore_ascii_case(b"received") {
            via.received = via.received.or(value);
        } else if name.eq_ignore_ascii_case(b"branch") {
            via.branch = via.branch.or(value);
        }
    }
    Some(via)
}

/// First element of a Contact value (RFC 3261 §20.10): `*` or name-addr/addr-spec with params.
pub(super) fn contact<'a>(buf: &'a [u8], v: &'a [u8]) -> Option<Contact<'a>> {
    let t = trim_lws(v);
    if t == b"*" {
        return Some(Contact {
            star: true,
            display: None,
            uri: Spanned {
                bytes: t,
                offset: offset_in(buf, t),
            },
            host: None,
            ipv6: false,
            port: None,
            port_value: None,
            params: &[],
        });
    }
    let (
        rest,
        NameAddr {
            display,
            uri,
            params,
        },
    ) = name_addr(v).ok()?;
    if !at_end_or_comma(rest) {
        return None;
    }
    let hp = lex::sip_hostport(uri);
    let spanned = |s: &'a [u8]| Spanned {
        bytes: s,
        offset: offset_in(buf, s),
    };
    Some(Contact {
        star: false,
        display,
        uri: spanned(uri),
        host: hp.as_ref().map(|h| spanned(h.host)),
        ipv6: hp.as_ref().is_some_and(|h| h.ipv6),
        port: hp.as_ref().and_then(|h| h.port).map(|(d, _)| spanned(d)),
        port_value: hp.as_ref().and_then(|h| h.port).map(|(_, p)| p),
        params,
    })
}

/// From / To value (RFC 3261 §20.20, §20.39): one name-addr/addr-spec with params.
pub(super) fn party(v: &[u8]) -> Option<Party<'_>> {
    let (rest, na) = name_addr(v).ok()?;
    if !at_end(rest) {
        return None;
    }
    Some(Party {
        uri: na.uri,
        params: na.params,
    })
}

/// CSeq value (RFC 3261 §20.16): 1*DIGIT LWS Method; the number must fit 32 bits.
pub(super) fn cseq(v: &[u8]) -> Option<(u32, &[u8])> {
    let (i, _) = lex::lws(v).ok()?;
    let (i, n) = lex::number::<u32>(i).ok()?;
    let (i, _) = lex::many1(lex::is_lws)(i).ok()?;
    let (i, m) = lex::token(i).ok()?;
    at_end(i).then_some((n, m))
}

pub(super) fn unquote(v: &[u8]) -> &[u8] {
    match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    }
}
