//! The scanner: one pass over the start line and the header section, recording borrowed
//! spans, then the body span (and the `application/sdp` part of a multipart/mixed body).

use nom::bytes::complete::tag_no_case;
use nom::character::complete::char;
use nom::Parser;

use super::error::{Error, ErrorKind, Warnings};
use super::lex::{self, at_end, at_end_or_comma, name_addr, params, trim_lws, NameAddr, Params};
use super::multipart;

/// A request method (RFC 3261 §7.1 and the extensions that carry SDP or matter to a proxy).
/// Methods are case-sensitive; anything else is [`Method::Other`] (the bytes are kept in
/// [`Kind::Request::method_bytes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Prack,
    Subscribe,
    Notify,
    Publish,
    Info,
    Refer,
    Message,
    Update,
    Other,
}

impl Method {
    /// Maps a method token (case-sensitive, RFC 3261 §7.1).
    pub fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"OPTIONS" => Method::Options,
            b"REGISTER" => Method::Register,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"PUBLISH" => Method::Publish,
            b"INFO" => Method::Info,
            b"REFER" => Method::Refer,
            b"MESSAGE" => Method::Message,
            b"UPDATE" => Method::Update,
            _ => Method::Other,
        }
    }
}

/// Request or reply, from the start line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// Request-Line (RFC 3261 §7.1).
    Request {
        method: Method,
        method_bytes: &'a [u8],
        uri: &'a [u8],
    },
    /// Status-Line (RFC 3261 §7.2).
    Reply { status: u16, reason: &'a [u8] },
}

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
struct Party<'a> {
    uri: &'a [u8],
    params: &'a [u8],
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

/// A scanned SIP message: borrowed spans into the input, nothing allocated.
///
/// Invariants: every slice handed out is a sub-slice of the scanned buffer and every offset
/// points at that slice in it; accessors never fail or panic once [`SipMsg::scan`] succeeded.
#[derive(Clone, Copy, Debug)]
pub struct SipMsg<'a> {
    buf: &'a [u8],
    kind: Kind<'a>,
    call_id: Option<&'a [u8]>,
    from: Option<Party<'a>>,
    to: Option<Party<'a>>,
    cseq: Option<(u32, &'a [u8])>,
    via: Option<Via<'a>>,
    contact: Option<Contact<'a>>,
    user_agent: Option<&'a [u8]>,
    server: Option<&'a [u8]>,
    content_type: Option<ContentType<'a>>,
    content_length: Option<usize>,
    headers_end: usize,
    body: Option<(usize, usize)>,
    sdp: Option<(usize, usize)>,
    warnings: Warnings,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hdr {
    Via,
    Contact,
    CallId,
    From,
    To,
    CSeq,
    UserAgent,
    Server,
    ContentType,
    ContentLength,
    Other,
}

/// Header names we interpret, with compact forms (RFC 3261 §7.3.3, §20). Case-insensitive.
fn header_id(name: &[u8]) -> Hdr {
    if let [c] = name {
        return match c.to_ascii_lowercase() {
            b'v' => Hdr::Via,
            b'm' => Hdr::Contact,
            b'i' => Hdr::CallId,
            b'f' => Hdr::From,
            b't' => Hdr::To,
            b'c' => Hdr::ContentType,
            b'l' => Hdr::ContentLength,
            _ => Hdr::Other,
        };
    }
    let is = |n: &str| n.as_bytes().eq_ignore_ascii_case(name);
    // Dispatch on length first: most header lines are names we do not interpret.
    match name.len() {
        2 if is("To") => Hdr::To,
        3 if is("Via") => Hdr::Via,
        4 if is("From") => Hdr::From,
        4 if is("CSeq") => Hdr::CSeq,
        6 if is("Server") => Hdr::Server,
        7 if is("Contact") => Hdr::Contact,
        7 if is("Call-ID") => Hdr::CallId,
        10 if is("User-Agent") => Hdr::UserAgent,
        12 if is("Content-Type") => Hdr::ContentType,
        14 if is("Content-Length") => Hdr::ContentLength,
        _ => Hdr::Other,
    }
}

/// One line: content end (before CRLF/LF) and the start of the next line. A line without a
/// line end runs to the end of the buffer.
fn line_at(buf: &[u8], pos: usize) -> (usize, usize) {
    let rest = buf.get(pos..).unwrap_or(&[]);
    match memchr::memchr(b'\n', rest) {
        Some(n) => {
            let lf = pos + n;
            let end = if n > 0 && buf.get(lf - 1) == Some(&b'\r') {
                lf - 1
            } else {
                lf
            };
            (end, lf + 1)
        }
        None => (buf.len(), buf.len()),
    }
}

fn check_no_cr(buf: &[u8], start: usize, end: usize) -> Result<(), Error> {
    match memchr::memchr(b'\r', buf.get(start..end).unwrap_or(&[])) {
        Some(n) => Err(Error::at(ErrorKind::BareCr, buf, start + n)),
        None => Ok(()),
    }
}

fn offset_in(buf: &[u8], sub: &[u8]) -> usize {
    (sub.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize)
}

fn is_sp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `SIP-Version` (RFC 3261 §7.1: "SIP" "/" 1*DIGIT "." 1*DIGIT, case-insensitive); only 2.0.
fn sip_version(i: &[u8]) -> nom::IResult<&[u8], (), ()> {
    let (i, _) = tag_no_case("SIP/").parse(i)?;
    let (i, (maj, _, min)) = (
        lex::many1(|b: u8| b.is_ascii_digit()),
        char('.'),
        lex::many1(|b: u8| b.is_ascii_digit()),
    )
        .parse(i)?;
    if lex::decimal(maj) == Some(2) && lex::decimal(min) == Some(0) {
        Ok((i, ()))
    } else {
        Err(nom::Err::Failure(()))
    }
}

fn sp1(i: &[u8]) -> nom::IResult<&[u8], &[u8], ()> {
    lex::many1(is_sp)(i)
}

/// Start line (RFC 3261 §7.1 Request-Line, §7.2 Status-Line). Runs of SP/HTAB between the
/// elements and trailing whitespace are accepted with a warning, as OpenSIPS accepts them.
fn start_line<'a>(
    buf: &'a [u8],
    start: usize,
    end: usize,
    w: &mut Warnings,
) -> Result<Kind<'a>, Error> {
    let line = buf.get(start..end).unwrap_or(&[]);
    let bad = |kind| Error::at(kind, buf, start);
    if tag_no_case::<_, _, ()>("SIP/").parse(line).is_ok() {
        let (i, _) = sip_version(line).map_err(|_| bad(ErrorKind::Version))?;
        let (i, sp) = sp1(i).map_err(|_| bad(ErrorKind::StartLine))?;
        let (i, code) = lex::many1(|b: u8| b.is_ascii_digit())(i)
            .map_err(|_| Error::at(ErrorKind::Status, buf, offset_in(buf, i)))?;
        let status = lex::decimal(code)
            .filter(|c| code.len() == 3 && (100..=699).contains(c))
            .ok_or_else(|| Error::at(ErrorKind::Status, buf, offset_in(buf, code)))?;
        if sp.len() > 1 {
            w.insert(Warnings::START_LINE_WHITESPACE);
        }
        // Reason-Phrase: anything up to the line end (UTF-8 allowed, RFC 3261 §25.1), may be
        // empty (RFC 4475 §3.1.1.13); the separating SP is required unless nothing follows.
        let reason = match i.first() {
            None => i,
            Some(&b) if is_sp(b) => i.get(1..).unwrap_or(&[]),
            Some(_) => return Err(Error::at(ErrorKind::Status, buf, offset_in(buf, code))),
        };
        return Ok(Kind::Reply {
            status: status as u16,
            reason,
        });
    }
    let (i, method) = lex::token(line).map_err(|_| bad(ErrorKind::StartLine))?;
    let (i, sp_a) = sp1(i).map_err(|_| bad(ErrorKind::StartLine))?;
    let (i, uri) = lex::many1(|b: u8| !is_sp(b))(i)
        .map_err(|_| Error::at(ErrorKind::StartLine, buf, offset_in(buf, i)))?;
    lex::scheme(uri).map_err(|_| Error::at(ErrorKind::StartLine, buf, offset_in(buf, uri)))?;
    let (i, sp_b) = sp1(i).map_err(|_| Error::at(ErrorKind::StartLine, buf, offset_in(buf, i)))?;
    let (i, _) =
        sip_version(i).map_err(|_| Error::at(ErrorKind::Version, buf, offset_in(buf, i)))?;
    let (i, trailing) = lex::many(is_sp)(i).map_err(|_| bad(ErrorKind::StartLine))?;
    if !i.is_empty() {
        return Err(Error::at(ErrorKind::StartLine, buf, offset_in(buf, i)));
    }
    if sp_a.len() > 1 || sp_b.len() > 1 || !trailing.is_empty() {
        w.insert(Warnings::START_LINE_WHITESPACE);
    }
    Ok(Kind::Request {
        method: Method::from_bytes(method),
        method_bytes: method,
        uri,
    })
}

/// `via-parm` (RFC 3261 §20.42, §25.1): sent-protocol LWS sent-by *( SEMI via-params ).
fn via_parm<'a>(buf: &'a [u8], v: &'a [u8]) -> Option<Via<'a>> {
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
fn contact<'a>(buf: &'a [u8], v: &'a [u8]) -> Option<Contact<'a>> {
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
fn party(v: &[u8]) -> Option<Party<'_>> {
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
fn cseq(v: &[u8]) -> Option<(u32, &[u8])> {
    let (i, _) = lex::lws(v).ok()?;
    let (i, n) = lex::number::<u32>(i).ok()?;
    let (i, _) = lex::many1(lex::is_lws)(i).ok()?;
    let (i, m) = lex::token(i).ok()?;
    at_end(i).then_some((n, m))
}

impl<'a> SipMsg<'a> {
    /// Scans a whole SIP message (RFC 3261 §7): start line, header fields (compact names,
    /// case-insensitive names, folding per §7.3.1) and the body per §7.4/§18.3.
    ///
    /// Only the header fields this type interprets are validated (Via, Contact, From, To,
    /// Call-ID, CSeq, Content-Type, Content-Length); any other header only has to be a
    /// `name: value` line. Allocates nothing.
    pub fn scan(buf: &'a [u8]) -> Result<SipMsg<'a>, Error> {
        let mut w = Warnings::default();
        // RFC 3261 §7.5: ignore CRLFs before the start line.
        let mut pos = 0;
        while matches!(buf.get(pos), Some(b'\r' | b'\n')) {
            pos += 1;
        }
        if pos > 0 {
            w.insert(Warnings::LEADING_LINE_ENDS);
        }
        if pos >= buf.len() {
            return Err(Error::at(ErrorKind::Empty, buf, pos));
        }
        let (end, next) = line_at(buf, pos);
        check_no_cr(buf, pos, end)?;
        let kind = start_line(buf, pos, end, &mut w)?;
        let mut msg = SipMsg {
            buf,
            kind,
            call_id: None,
            from: None,
            to: None,
            cseq: None,
            via: None,
            contact: None,
            user_agent: None,
            server: None,
            content_type: None,
            content_length: None,
            headers_end: buf.len(),
            body: None,
            sdp: None,
            warnings: w,
        };
        let mut pos = next;
        let mut body_start = None;
        loop {
            if pos >= buf.len() {
                msg.warnings.insert(Warnings::NO_BLANK_LINE);
                msg.headers_end = buf.len();
                break;
            }
            let (end, mut next) = line_at(buf, pos);
            if end == pos && next > pos {
                msg.headers_end = pos;
                body_start = Some(next);
                break;
            }
            check_no_cr(buf, pos, end)?;
            let mut value_end = end;
            // Folded continuation lines (RFC 3261 §7.3.1).
            while buf.get(next).copied().is_some_and(is_sp) {
                let (e2, n2) = line_at(buf, next);
                check_no_cr(buf, next, e2)?;
                value_end = e2;
                next = n2;
            }
            msg.header(pos, value_end)?;
            if next == buf.len() && value_end == buf.len() {
                // Last header without a line end.
                msg.warnings.insert(Warnings::NO_BLANK_LINE);
                break;
            }
            pos = next;
        }
        if let Some(start) = body_start {
            msg.set_body(start)?;
        }
        Ok(msg)
    }

    /// One header field from `start` (its name) to `end` (end of its last folded line).
    fn header(&mut self, start: usize, end: usize) -> Result<(), Error> {
        let buf = self.buf;
        let line = buf.get(start..end).unwrap_or(&[]);
        let bad_line = || Error::at(ErrorKind::HeaderLine, buf, start);
        // RFC 3261 §7.3.1: field-name HCOLON field-value; HCOLON = *( SP / HTAB ) ":" SWS.
        let (i, name) = lex::token(line).map_err(|_| bad_line())?;
        let (value, _) = (lex::many(is_sp), char(':'))
            .parse(i)
            .map_err(|_| bad_line())?;
        let err = |kind| Error::at(kind, buf, start);
        let mut dup = false;
        match header_id(name) {
            Hdr::Via => {
                if self.via.is_none() {
                    self.via = Some(via_parm(buf, value).ok_or_else(|| err(ErrorKind::Via))?);
                }
            }
            Hdr::Contact => {
                if self.contact.is_none() {
                    self.contact =
                        Some(contact(buf, value).ok_or_else(|| err(ErrorKind::Contact))?);
                }
            }
            Hdr::From => {
                dup = self.from.is_some();
                if !dup {
                    self.from = Some(party(value).ok_or_else(|| err(ErrorKind::From))?);
                }
            }
            Hdr::To => {
                dup = self.to.is_some();
                if !dup {
                    self.to = Some(party(value).ok_or_else(|| err(ErrorKind::To))?);
                }
            }
            Hdr::CallId => {
                dup = self.call_id.is_some();
                if !dup {
                    let v = trim_lws(value);
                    if v.is_empty() {
                        return Err(err(ErrorKind::CallId));
                    }
                    self.call_id = Some(v);
                }
            }
            Hdr::CSeq => {
                dup = self.cseq.is_some();
                if !dup {
                    self.cseq = Some(cseq(value).ok_or_else(|| err(ErrorKind::CSeq))?);
                }
            }
            Hdr::UserAgent => {
                if self.user_agent.is_none() {
                    self.user_agent = Some(trim_lws(value));
                }
            }
            Hdr::Server => {
                if self.server.is_none() {
                    self.server = Some(trim_lws(value));
                }
            }
            Hdr::ContentType => {
                dup = self.content_type.is_some();
                if !dup {
                    self.content_type =
                        Some(content_type(value).ok_or_else(|| err(ErrorKind::ContentType))?);
                }
            }
            Hdr::ContentLength => {
                let v = trim_lws(value);
                let n = lex::decimal(v)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| err(ErrorKind::ContentLength))?;
                match self.content_length {
                    Some(old) if old != n => {
                        return Err(err(ErrorKind::ConflictingContentLength));
                    }
                    Some(_) => self.warnings.insert(Warnings::DUPLICATE_CONTENT_LENGTH),
                    None => self.content_length = Some(n),
                }
            }
            Hdr::Other => {}
        }
        if dup {
            self.warnings.insert(Warnings::DUPLICATE_HEADER);
        }
        Ok(())
    }

    /// Body span per Content-Length (RFC 3261 §18.3, §20.14), then the SDP inside it.
    fn set_body(&mut self, start: usize) -> Result<(), Error> {
        let avail = self.buf.len().saturating_sub(start);
        let len = match self.content_length {
            Some(n) if n > avail => {
                // RFC 3261 §18.3 calls this an error for datagrams; OpenSIPS' get_body() takes
                // the rest of the message instead, and so do we (the host decides).
                self.warnings
                    .insert(Warnings::BODY_SHORTER_THAN_CONTENT_LENGTH);
                avail
            }
            Some(n) => {
                if n < avail {
                    self.warnings.insert(Warnings::TRAILING_BYTES);
                }
                n
            }
            None => avail,
        };
        if len == 0 {
            return Ok(());
        }
        self.body = Some((start, start + len));
        let body = self.buf.get(start..start + len).unwrap_or(&[]);
        if body.iter().all(|&b| lex::is_lws(b)) {
            // Only line ends / blanks: there is no SDP to look at.
            return Ok(());
        }
        self.sdp = match self.content_type {
            None => {
                self.warnings.insert(Warnings::NO_CONTENT_TYPE);
                self.body
            }
            Some(ct) if ct.is("application", "sdp") => self.body,
            Some(ct) if ct.is("multipart", "mixed") => {
                let found = ct
                    .param("boundary")
                    .flatten()
                    .and_then(|b| multipart::sdp_part(body, unquote(b)));
                if found.is_none() {
                    self.warnings.insert(Warnings::MULTIPART_NO_SDP);
                }
                found.map(|(s, e)| (start + s, start + e))
            }
            Some(_) => None,
        };
        Ok(())
    }

    /// Request (method, URI) or reply (status, reason).
    pub fn kind(&self) -> Kind<'a> {
        self.kind
    }

    /// The method of a request.
    pub fn method(&self) -> Option<Method> {
        match self.kind {
            Kind::Request { method, .. } => Some(method),
            Kind::Reply { .. } => None,
        }
    }

    /// The status code of a reply.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            Kind::Reply { status, .. } => Some(status),
            Kind::Request { .. } => None,
        }
    }

    /// The scanned buffer.
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    /// Call-ID value (trimmed).
    pub fn call_id(&self) -> Option<&'a [u8]> {
        self.call_id
    }

    /// URI of the From header field (inside `<>` for the name-addr form).
    pub fn from_uri(&self) -> Option<&'a [u8]> {
        self.from.map(|p| p.uri)
    }

    /// `tag` parameter of From.
    pub fn from_tag(&self) -> Option<&'a [u8]> {
        self.from
            .and_then(|p| Params::new(p.params).find("tag").flatten())
    }

    /// URI of the To header field.
    pub fn to_uri(&self) -> Option<&'a [u8]> {
        self.to.map(|p| p.uri)
    }

    /// `tag` parameter of To.
    pub fn to_tag(&self) -> Option<&'a [u8]> {
        self.to
            .and_then(|p| Params::new(p.params).find("tag").flatten())
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, &'a [u8])> {
        self.cseq
    }

    /// First via-parm of the first Via header.
    pub fn top_via(&self) -> Option<Via<'a>> {
        self.via
    }

    /// First contact of the first Contact header.
    pub fn first_contact(&self) -> Option<Contact<'a>> {
        self.contact
    }

    /// User-Agent value, else Server value (trimmed; a folded value keeps its fold bytes).
    pub fn user_agent(&self) -> Option<&'a [u8]> {
        self.user_agent.or(self.server)
    }

    /// Content-Type, parsed.
    pub fn content_type(&self) -> Option<ContentType<'a>> {
        self.content_type
    }

    /// Content-Length value.
    pub fn content_length(&self) -> Option<usize> {
        self.content_length
    }

    /// Offset of the empty line that ends the header section (the buffer length if none).
    pub fn headers_end(&self) -> usize {
        self.headers_end
    }

    /// The non-empty body with its offset in the buffer (Content-Length octets, or the rest of
    /// the buffer without Content-Length or when Content-Length claims more than is there).
    pub fn body(&self) -> Option<(usize, &'a [u8])> {
        self.body
            .map(|(s, e)| (s, self.buf.get(s..e).unwrap_or(&[])))
    }

    /// The SDP with its offset in the buffer: the body if Content-Type is `application/sdp` or
    /// missing; the first `application/sdp` part of a `multipart/mixed` body (RFC 5621 §3,
    /// RFC 2046 §5.1.1) otherwise; `None` for any other type or a body of only white space.
    pub fn sdp_body(&self) -> Option<(usize, &'a [u8])> {
        self.sdp
            .map(|(s, e)| (s, self.buf.get(s..e).unwrap_or(&[])))
    }

    /// Oddities met while scanning.
    pub fn warnings(&self) -> Warnings {
        self.warnings
    }
}

fn unquote(v: &[u8]) -> &[u8] {
    match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    }
}
