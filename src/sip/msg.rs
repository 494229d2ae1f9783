//! The scanner: one pass over the start line and the header section, recording borrowed
//! spans, then the body span (and the `application/sdp` part of a multipart/mixed body).

use nom::character::complete::char;
use nom::Parser;

use super::error::{Error, ErrorKind, Warnings};
use super::fields::{self, content_type, unquote, Contact, ContentType, Party, Via};
use super::lex::{self, is_sp, trim_lws, Params};
use super::multipart;
use super::start_line::{start_line, Kind, Method};

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
                    self.via =
                        Some(fields::via_parm(buf, value).ok_or_else(|| err(ErrorKind::Via))?);
                }
            }
            Hdr::Contact => {
                if self.contact.is_none() {
                    self.contact =
                        Some(fields::contact(buf, value).ok_or_else(|| err(ErrorKind::Contact))?);
                }
            }
            Hdr::From => {
                dup = self.from.is_some();
                if !dup {
                    self.from = Some(fields::party(value).ok_or_else(|| err(ErrorKind::From))?);
                }
            }
            Hdr::To => {
                dup = self.to.is_some();
                if !dup {
                    self.to = Some(fields::party(value).ok_or_else(|| err(ErrorKind::To))?);
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
                    self.cseq = Some(fields::cseq(value).ok_or_else(|| err(ErrorKind::CSeq))?);
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
