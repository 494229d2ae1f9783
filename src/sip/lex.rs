//! Lexical pieces of RFC 3261 §25.1 as nom parsers over `&[u8]`.
//!
//! Every parser here runs over one header field *value* span, in which a CR or LF can only be
//! part of a fold (the scanner ends a header at a line end not followed by SP/HTAB), so CR and LF
//! count as linear white space (LWS). The nom error type is `()`: failures carry no data and
//! nothing allocates; the scanner turns a failure into an [`Error`](super::Error) with the
//! offset of the header.

use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_till};
use nom::character::complete::char;
use nom::combinator::{opt, recognize};
use nom::{IResult, Parser};

pub(crate) type Res<'a, O> = IResult<&'a [u8], O, ()>;

/// `token` characters (RFC 3261 §25.1): alphanum / `-.!%*_+` `` ` `` `'~`, as a lookup table
/// (this test runs for nearly every header byte).
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Characters of a host name (RFC 3261 `hostname`, plus `_` which real systems use).
fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// Characters inside an IPv6 reference `[...]` (RFC 5118 §4, plus `%` for a zone id).
fn is_ipv6_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'%') || b.is_ascii_alphanumeric()
}

/// Characters of an unquoted generic-param value: token / host (RFC 3261 `gen-value`), so
/// bare IPv6 and bracketed references also pass.
fn is_value_char(b: u8) -> bool {
    is_token_char(b) || matches!(b, b':' | b'[' | b']')
}

/// Splits `i` after the longest prefix whose bytes satisfy `f`. Hand-written rather than
/// nom's `take_while`: `<&[u8] as nom::Input>::take_from` is not inlined across crates without
/// LTO, and this runs for nearly every byte of the header section.
#[inline]
fn split_while(i: &[u8], f: impl Fn(u8) -> bool) -> (&[u8], &[u8]) {
    let n = i.iter().position(|&b| !f(b)).unwrap_or(i.len());
    (i.get(n..).unwrap_or(&[]), i.get(..n).unwrap_or(&[]))
}

/// `take_while` as a nom parser (never fails).
#[inline]
pub(crate) fn many(f: impl Fn(u8) -> bool) -> impl Fn(&[u8]) -> Res<'_, &[u8]> {
    move |i| Ok(split_while(i, &f))
}

/// `take_while1` as a nom parser (fails on an empty match).
#[inline]
pub(crate) fn many1(f: impl Fn(u8) -> bool) -> impl Fn(&[u8]) -> Res<'_, &[u8]> {
    move |i| {
        let (rest, m) = split_while(i, &f);
        if m.is_empty() {
            Err(nom::Err::Error(()))
        } else {
            Ok((rest, m))
        }
    }
}

/// `*LWS` (RFC 3261 §25.1, folding included).
#[inline]
pub(crate) fn lws(i: &[u8]) -> Res<'_, &[u8]> {
    Ok(split_while(i, is_lws))
}

/// `token`.
#[inline]
pub(crate) fn token(i: &[u8]) -> Res<'_, &[u8]> {
    many1(is_token_char)(i)
}

/// `quoted-string` (RFC 3261 §25.1): DQUOTE *(qdtext / quoted-pair) DQUOTE. Returns the span
/// including the quotes. An unterminated string fails.
pub(crate) fn quoted_string(i: &[u8]) -> Res<'_, &[u8]> {
    let (_, _) = char('"').parse(i)?;
    let mut escaped = false;
    for (n, &b) in i.iter().enumerate().skip(1) {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            let end = n + 1;
            return Ok((i.get(end..).unwrap_or(&[]), i.get(..end).unwrap_or(&[])));
        }
    }
    Err(nom::Err::Error(()))
}

/// A decimal number with any number of leading zeros, checked against overflow.
pub(crate) fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// `1*DIGIT` as a number of type `T`; fails on overflow.
pub(crate) fn number<T: TryFrom<u64>>(i: &[u8]) -> Res<'_, T> {
    let (rest, digits) = many1(|b: u8| b.is_ascii_digit())(i)?;
    match decimal(digits).and_then(|v| T::try_from(v).ok()) {
        Some(v) => Ok((rest, v)),
        None => Err(nom::Err::Failure(())),
    }
}

/// `host` (RFC 3261 §19.1.1, RFC 5118): hostname / IPv4address / IPv6reference. Returns the
/// span (brackets included for a reference) and whether it is an IPv6 reference.
pub(crate) fn host(i: &[u8]) -> Res<'_, (&[u8], bool)> {
    if i.first() == Some(&b'[') {
        let (rest, r) = recognize((char('['), many1(is_ipv6_char), char(']'))).parse(i)?;
        Ok((rest, (r, true)))
    } else {
        let (rest, h) = many1(is_host_char)(i)?;
        Ok((rest, (h, false)))
    }
}

/// `[ COLON port ]` after a host, with optional LWS around the colon (`COLON` is `SWS ":" SWS`).
pub(crate) fn opt_port(i: &[u8]) -> Res<'_, Option<(&[u8], u16)>> {
    let (after, _) = lws(i)?;
    match char::<_, ()>(':').parse(after) {
        Ok((r, _)) => {
            let (r, _) = lws(r)?;
            let (rest, digits) = many1(|b: u8| b.is_ascii_digit())(r)?;
            match decimal(digits).and_then(|v| u16::try_from(v).ok()) {
                Some(p) => Ok((rest, Some((digits, p)))),
                None => Err(nom::Err::Failure(())),
            }
        }
        Err(_) => Ok((i, None)),
    }
}

/// A parameter as parsed: name (`None` for an empty `;;` slot) and value.
type RawParam<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// One generic parameter: `SEMI token [ EQUAL gen-value ]` (RFC 3261 §25.1 `generic-param`),
/// LWS allowed around `;` and `=`. An empty parameter (`;;`, RFC 4475 §3.1.2.1) yields
/// `None` for the name.
fn param(i: &[u8]) -> Res<'_, RawParam<'_>> {
    let (i, _) = (lws, char(';'), lws).parse(i)?;
    let (i, name) = opt(token).parse(i)?;
    if name.is_none() {
        return Ok((i, (None, None)));
    }
    let (i, value) = opt(|i| {
        let (i, _) = (lws, char('='), lws).parse(i)?;
        alt((quoted_string, many1(is_value_char))).parse(i)
    })
    .parse(i)?;
    Ok((i, (name, value)))
}

/// `*( SEMI generic-param )`: returns the whole parameter span (without trailing LWS).
pub(crate) fn params(i: &[u8]) -> Res<'_, &[u8]> {
    let mut rest = i;
    let mut end = i;
    loop {
        match param(rest) {
            Ok((r, _)) => {
                rest = r;
                end = r;
            }
            Err(nom::Err::Error(())) => break,
            Err(e) => return Err(e),
        }
    }
    let used = i.len() - end.len();
    Ok((end, i.get(..used).unwrap_or(&[])))
}

/// Iterator over `(name, value)` of a parameter span (`;name=value;flag`, as in [`Via::params`](super::Via::params)). Empty parameters are
/// skipped; a quoted value is returned with its quotes.
#[derive(Clone, Debug)]
pub struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Params<'a> {
    pub(crate) fn new(span: &'a [u8]) -> Params<'a> {
        Params { rest: span }
    }

    /// The value of the first parameter called `name` (case-insensitive): `Some(None)` for a
    /// parameter without value, `None` when absent.
    pub fn find(mut self, name: &str) -> Option<Option<&'a [u8]>> {
        self.find_map(|(n, v)| n.eq_ignore_ascii_case(name.as_bytes()).then_some(v))
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (rest, (name, value)) = param(self.rest).ok()?;
            self.rest = rest;
            if let Some(name) = name {
                return Some((name, value));
            }
        }
    }
}

/// URI scheme followed by `:` (RFC 3986 §3.1): ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
pub(crate) fn scheme(i: &[u8]) -> Res<'_, &[u8]> {
    let (rest, s) = recognize((
        many1(|b: u8| b.is_ascii_alphabetic()),
        many(|b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')),
    ))
    .parse(i)?;
    let (rest, _) = char(':').parse(rest)?;
    Ok((rest, s))
}

/// `name-addr / addr-spec` as used by From, To and Contact (RFC 3261 §20.10, §20.20, §20.39).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NameAddr<'a> {
    pub display: Option<&'a [u8]>,
    pub uri: &'a [u8],
    pub params: &'a [u8],
}

/// Parses `( name-addr / addr-spec ) *( SEMI param )` and stops before a `,` or the end.
///
/// For the addr-spec form the URI ends at the first `;` after its `@` (or after the scheme if
/// there is no `@`): parameters there are header parameters (RFC 3261 §20.10), while a user
/// part may itself contain `;` (RFC 4475 §3.1.1.9).
pub(crate) fn name_addr<'a>(i: &'a [u8]) -> Res<'a, NameAddr<'a>> {
    let (i, _) = lws(i)?;
    let (i, display) = if i.first() == Some(&b'"') {
        let (i, q) = quoted_string(i)?;
        let (i, _) = lws(i)?;
        (i, Some(q))
    } else {
        // Text followed by '<' is a display name: `*(token LWS)` per the grammar, but any
        // bytes short of `< : " , ;` are accepted, since UAs send unquoted UTF-8 names.
        let (r, run) = many(|b: u8| !matches!(b, b'<' | b':' | b'"' | b',' | b';'))(i)?;
        if r.first() == Some(&b'<') {
            let trimmed = trim_lws(run);
            (r, (!trimmed.is_empty()).then_some(trimmed))
        } else {
            (i, None)
        }
    };
    let (i, uri) = if i.first() == Some(&b'<') {
        let (i, (_, uri, _)) = (tag("<"), take_till(|b| b == b'>'), tag(">")).parse(i)?;
        (i, uri)
    } else if display.is_some() {
        return Err(nom::Err::Error(()));
    } else {
        let stop = i
            .iter()
            .position(|&b| b == b',' || is_lws(b))
            .unwrap_or(i.len());
        let region = i.get(..stop).unwrap_or(&[]);
        let from = region.iter().position(|&b| b == b'@').unwrap_or(0);
        let end = region
            .iter()
            .skip(from)
            .position(|&b| b == b';')
            .map_or(stop, |p| p + from);
        let uri = i.get(..end).unwrap_or(&[]);
        (i.get(end..).unwrap_or(&[]), uri)
    };
    scheme(trim_lws(uri))?;
    let (i, params) = params(i)?;
    Ok((
        i,
        NameAddr {
            display,
            uri: trim_lws(uri),
            params,
        },
    ))
}

/// Host and port of a `sip:`/`sips:` URI (RFC 3261 §19.1.1), as sub-slices of `uri`.
pub(crate) struct HostPort<'a> {
    pub host: &'a [u8],
    pub ipv6: bool,
    pub port: Option<(&'a [u8], u16)>,
}

pub(crate) fn sip_hostport(uri: &[u8]) -> Option<HostPort<'_>> {
    let (rest, _) = alt((tag_no_case::<_, _, ()>("sips:"), tag_no_case("sip:")))
        .parse(uri)
        .ok()?;
    let before_q = rest
        .iter()
        .position(|&b| b == b'?')
        .map_or(rest, |q| rest.get(..q).unwrap_or(&[]));
    let hp = match before_q.iter().position(|&b| b == b'@') {
        Some(at) => rest.get(at + 1..)?,
        None => rest,
    };
    let (r, (host, ipv6)) = host(hp).ok()?;
    let port = match r.first() {
        Some(b':') => {
            let (r2, digits) = many1(|b: u8| b.is_ascii_digit())(r.get(1..)?).ok()?;
            if !matches!(r2.first(), None | Some(b';') | Some(b'?')) {
                return None;
            }
            Some((digits, u16::try_from(decimal(digits)?).ok()?))
        }
        None | Some(b';') | Some(b'?') => None,
        _ => return None,
    };
    Some(HostPort { host, ipv6, port })
}

/// Where a `sip:`/`sips:` URI points: host, port, scheme and `transport` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UriTarget<'a> {
    /// As written (IPv6 references keep their brackets).
    pub host: &'a [u8],
    pub port: Option<u16>,
    /// `sips:`
    pub secure: bool,
    /// The `transport` URI parameter's value, if any.
    pub transport: Option<&'a [u8]>,
}

/// Parses where a SIP URI points (the URI alone, without `<>` or header parameters).
pub fn uri_target(uri: &[u8]) -> Option<UriTarget<'_>> {
    let uri = trim_lws(uri);
    let hp = sip_hostport(uri)?;
    let secure = uri
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"sips:"));
    // the URI parameters follow the host (and port) up to an optional `?headers`
    let host_end = (hp.host.as_ptr() as usize - uri.as_ptr() as usize) + hp.host.len();
    let after_host = uri.get(host_end..).unwrap_or(&[]);
    let after_port = match hp.port {
        Some((digits, _)) => after_host.get(1 + digits.len()..).unwrap_or(&[]),
        None => after_host,
    };
    let params_end = after_port
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(after_port.len());
    let span = after_port.get(..params_end).unwrap_or(&[]);
    let transport = Params::new(span).find("transport").flatten();
    Some(UriTarget {
        host: hp.host,
        port: hp.port.map(|(_, p)| p),
        secure,
        transport,
    })
}

/// Strips LWS at both ends.
pub(crate) fn trim_lws(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(start, |p| p + 1);
    s.get(start..end).unwrap_or(&[])
}

/// True when only LWS remains, or a `,` starts the next list element.
pub(crate) fn at_end_or_comma(i: &[u8]) -> bool {
    matches!(trim_lws(i).first(), None | Some(b','))
}

/// True when only LWS remains.
pub(crate) fn at_end(i: &[u8]) -> bool {
    trim_lws(i).is_empty()
}

/// Offset of `sub` (a sub-slice of `buf`) in `buf`.
pub(super) fn offset_in(buf: &[u8], sub: &[u8]) -> usize {
    (sub.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize)
}

/// SP or HTAB.
pub(super) fn is_sp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_with_escapes() {
        let (rest, q) = quoted_string(br#""J Rosenberg \\\"" <x>"#).unwrap();
        assert_eq!(q, br#""J Rosenberg \\\"""#);
        assert_eq!(rest, b" <x>");
        assert!(quoted_string(b"\"open").is_err());
    }

    #[test]
    fn params_with_lws_and_empties() {
        let (rest, p) = params(b" ;\r\n  tag = 98asjd8;;lr;q=\"a b\" ,next").unwrap();
        assert_eq!(rest, b" ,next");
        let all: Vec<_> = Params::new(p).collect();
        assert_eq!(
            all,
            vec![
                (&b"tag"[..], Some(&b"98asjd8"[..])),
                (&b"lr"[..], None),
                (&b"q"[..], Some(&b"\"a b\""[..])),
            ]
        );
        assert_eq!(Params::new(p).find("TAG"), Some(Some(&b"98asjd8"[..])));
        assert_eq!(Params::new(p).find("lr"), Some(None));
        assert_eq!(Params::new(p).find("x"), None);
    }

    #[test]
    fn name_addr_forms() {
        let (_, na) = name_addr(b"\"A\" <sip:a@b;lr>;tag=1").unwrap();
        assert_eq!(na.uri, b"sip:a@b;lr");
        assert_eq!(na.display, Some(&b"\"A\""[..]));
        let (_, na) = name_addr(b"sip:user;par=u%40example.net@example.com;tag=5").unwrap();
        assert_eq!(na.uri, b"sip:user;par=u%40example.net@example.com");
        assert_eq!(Params::new(na.params).find("tag"), Some(Some(&b"5"[..])));
        let (_, na) = name_addr("José Núñez <sip:j@h>".as_bytes()).unwrap();
        assert_eq!(na.display, Some("José Núñez".as_bytes()));
        assert_eq!(na.uri, b"sip:j@h");
        let (rest, na) = name_addr(b"Bob Smith<sip:b@c>, <sip:d@e>").unwrap();
        assert_eq!(na.display, Some(&b"Bob Smith"[..]));
        assert_eq!(rest, b", <sip:d@e>");
        assert!(name_addr(b"\"unterminated <sip:a@b>").is_err());
        assert!(name_addr(b"<sip:a@b").is_err());
        assert!(name_addr(b"no-scheme").is_err());
    }

    #[test]
    fn hostport() {
        let hp = sip_hostport(b"sip:caller@[2001:db8::1]:5070;transport=udp").unwrap();
        assert_eq!(hp.host, b"[2001:db8::1]");
        assert!(hp.ipv6);
        assert_eq!(hp.port, Some((&b"5070"[..], 5070)));
        let hp = sip_hostport(b"SIPS:host.example.com").unwrap();
        assert_eq!(hp.host, b"host.example.com");
        assert!(hp.port.is_none());
        assert!(sip_hostport(b"sip:h:99999").is_none());
        assert!(sip_hostport(b"tel:+1-212-555-0101").is_none());
    }
}
