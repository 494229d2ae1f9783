//! The start line (RFC 3261 §7.1 Request-Line, §7.2 Status-Line): request method and URI, or
//! status code and reason.

use nom::bytes::complete::tag_no_case;
use nom::character::complete::char;
use nom::Parser;

use super::error::{Error, ErrorKind, Warnings};
use super::lex::{self, is_sp, offset_in};

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
pub(super) fn start_line<'a>(
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
