//! MediaProxy's dispatcher protocol as bytes: request framing, parsing and encoding, reply
//! encoding and validating reply parsing. No I/O here.
//!
//! Wire format (`prior-art.md` §1.2–1.3, §1.7): CRLF lines; a request is a command line,
//! `name: value` header lines and an empty line; a reply is one line.
//!
//! * `update` headers, in the C module's order: `type`, `dialog_id`, `call_id`, `cseq`,
//!   `from_uri`, `to_uri`, `from_tag`, `to_tag`, `user_agent`, `signaling_ip`, `media_relay`,
//!   `media` (only when there is SDP). Reply: `<ip> <port>…` (one port per `media` entry) or
//!   `error`.
//! * `remove` headers: `call_id`, `from_tag`, `to_tag`. Reply: `removed` or `error`.
//! * management one-liners: `sessions`, `summary` (one JSON line each), `version`; `quit` and
//!   `exit` close the connection.
//!
//! Parsing rules kept from the dispatcher: a header line whose value is empty (`to_tag: `) is
//! dropped; header names are lower-case and matched exactly; duplicated headers: the last wins;
//! unknown headers are ignored. Mandatory `update` headers are MediaProxy's: `type`, `call_id`,
//! `cseq`, `from_uri`, `to_uri`, `from_tag`, `user_agent`; `remove` needs `call_id` and
//! `from_tag`. Leniencies: a bare LF ends a line too; `signaling_ip` may be absent (MediaProxy
//! 4.1 raises); an unknown command is answered `error` at its terminating empty line.
//!
//! Additive extensions (a client that does not use them sees the original protocol):
//! * IPv6 media addresses are written in brackets: `audio:[2001:db8::1]:4000:sendrecv:ice=no`.
//!   The decoder also accepts an unbracketed IPv6 address (everything between the media type
//!   and the port), which is what the original C module would send.
//! * stream parameter `asymmetric=yes`: the client is RTP-asymmetric (the relay sends to its SDP
//!   address and never latches it).
//! * the reply IP may be IPv6, written unbracketed: `2001:db8::10 40000 40002`.
//! * `remove` header `stats: yes`: the reply becomes `removed <session JSON>` (one line). Without
//!   it the reply is plain `removed`, as MediaProxy's dispatcher answers.
//! * `update` header `interfaces: caller=NAME;callee=NAME`: the relay interface facing each
//!   party ([`super::interfaces`]), sent only when the script names one.
//! * the `copy` command (media copies for recording, [`super::copy`]): a command word of its
//!   own, sent only to this project's relay.

use crate::media::{RelayAnswer, StreamDesc};
use std::fmt;
use std::net::IpAddr;

/// Longest line accepted (the dispatcher's `LineOnlyReceiver` limit on the OpenSIPS leg).
pub const MAX_LINE: usize = 16 * 1024;
/// Most header lines accepted in one request.
pub const MAX_HEADERS: usize = 64;

/// `type` header of an `update`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MessageType {
    /// The SDP travels in a SIP request.
    #[default]
    Request,
    /// The SDP travels in a SIP reply.
    Reply,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Request => "request",
            MessageType::Reply => "reply",
        }
    }
}

/// One `update` command. Text fields are empty when absent (the encoder then writes
/// `name: ` which the dispatcher drops, exactly like the C module).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UpdateRequest {
    pub kind: MessageType,
    pub dialog_id: String,
    pub call_id: String,
    pub cseq: u32,
    pub from_uri: String,
    pub to_uri: String,
    pub from_tag: String,
    pub to_tag: String,
    pub user_agent: String,
    pub signaling_ip: String,
    pub media_relay: String,
    /// Streams in SDP order; empty for a body-less 200 OK (no `media` header).
    pub media: Vec<StreamDesc>,
    /// Extension: the user agent is RTP-asymmetric (`asymmetric=yes` on its streams).
    pub asymmetric: bool,
    /// Extension: the relay interface named for the caller and the callee (empty: not named),
    /// header `interfaces` ([`super::interfaces`]).
    pub interfaces: [String; 2],
}

/// One `remove` command.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RemoveRequest {
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: String,
    /// Extension: answer `removed <json>` instead of `removed`.
    pub want_stats: bool,
}

/// Everything a client can ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Update(UpdateRequest),
    Remove(RemoveRequest),
    /// Extension: media copies of a session ([`super::copy`]).
    Copy(super::copy::CopyRequest),
    /// Extension: record a session's media to a pcap file ([`super::record`]).
    Record(super::record::RecordRequest),
    Sessions,
    Summary,
    /// Extension: the tags of every session of a Call-ID (`tags` with a `call_id` header),
    /// answered as a JSON array of `[from_tag, to_tag]` pairs.
    Tags {
        call_id: String,
    },
    Version,
    /// `quit` / `exit`: close the connection.
    Quit,
    /// `drain NAME` (management, ours): relay NAME takes no new sessions and exits once its
    /// running ones have ended; answered `halting`, or `error` (no such relay).
    Drain(String),
}

/// Why a request or a reply could not be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodecError {
    UnknownCommand(String),
    MissingHeader(&'static str),
    BadHeaderLine(String),
    BadValue {
        header: &'static str,
        value: String,
    },
    BadMedia(String),
    LineTooLong,
    TooManyHeaders,
    /// A header value would break the framing (CR or LF inside).
    Unencodable(&'static str),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::UnknownCommand(c) => write!(f, "unknown command {:?}", excerpt(c)),
            CodecError::MissingHeader(h) => write!(f, "missing header {h}"),
            CodecError::BadHeaderLine(l) => write!(f, "bad header line {:?}", excerpt(l)),
            CodecError::BadValue { header, value } => {
                write!(f, "bad value for {header}: {:?}", excerpt(value))
            }
            CodecError::BadMedia(m) => write!(f, "bad media entry {:?}", excerpt(m)),
            CodecError::LineTooLong => write!(f, "line longer than {MAX_LINE} bytes"),
            CodecError::TooManyHeaders => write!(f, "more than {MAX_HEADERS} header lines"),
            CodecError::Unencodable(h) => write!(f, "value of {h} contains CR or LF"),
        }
    }
}

impl std::error::Error for CodecError {}

fn excerpt(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

// the `media` header's entries: `media_header.rs`
use super::media_header::media_addr_ok;
pub use super::media_header::{decode_media, encode_media};

// ---------------------------------------------------------------------------------------------
// request encoding (client side)

fn header(out: &mut String, name: &'static str, value: &str) -> Result<(), CodecError> {
    if value.contains(['\r', '\n']) {
        return Err(CodecError::Unencodable(name));
    }
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
    Ok(())
}

/// Encodes an `update` exactly as the C module does: every header in its order, empty ones
/// as `name: `, `media` only when there are streams, then the empty line.
pub fn encode_update(r: &UpdateRequest) -> Result<String, CodecError> {
    let mut s = String::with_capacity(512);
    s.push_str("update\r\n");
    header(&mut s, "type", r.kind.as_str())?;
    header(&mut s, "dialog_id", &r.dialog_id)?;
    header(&mut s, "call_id", &r.call_id)?;
    header(&mut s, "cseq", &r.cseq.to_string())?;
    header(&mut s, "from_uri", &r.from_uri)?;
    header(&mut s, "to_uri", &r.to_uri)?;
    header(&mut s, "from_tag", &r.from_tag)?;
    header(&mut s, "to_tag", &r.to_tag)?;
    header(&mut s, "user_agent", &r.user_agent)?;
    header(&mut s, "signaling_ip", &r.signaling_ip)?;
    header(&mut s, "media_relay", &r.media_relay)?;
    if !r.media.is_empty() {
        for m in &r.media {
            let ok_token = |t: &str| !t.is_empty() && !t.contains([',', ':', '\r', '\n', ' ']);
            let addr = m.addr.trim_start_matches('[').trim_end_matches(']');
            if !ok_token(&m.media_type) || !media_addr_ok(addr) {
                return Err(CodecError::Unencodable("media"));
            }
        }
        header(&mut s, "media", &encode_media(&r.media, r.asymmetric))?;
    }
    if let Some(v) = super::interfaces::encode(&r.interfaces)? {
        header(&mut s, "interfaces", &v)?;
    }
    s.push_str("\r\n");
    Ok(s)
}

/// Encodes a `remove` (`call_id`, `from_tag`, `to_tag`, plus `stats: yes` when asked).
pub fn encode_remove(r: &RemoveRequest) -> Result<String, CodecError> {
    let mut s = String::with_capacity(128);
    s.push_str("remove\r\n");
    header(&mut s, "call_id", &r.call_id)?;
    header(&mut s, "from_tag", &r.from_tag)?;
    header(&mut s, "to_tag", &r.to_tag)?;
    if r.want_stats {
        header(&mut s, "stats", "yes")?;
    }
    s.push_str("\r\n");
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// request parsing (server side)

/// Parses one complete request: `command` is the command line, `headers` the header lines
/// (without line ends, without the terminating empty line).
pub fn parse_request(command: &str, headers: &[String]) -> Result<Request, CodecError> {
    let cmd = command.trim();
    match cmd {
        "sessions" => return Ok(Request::Sessions),
        "summary" => return Ok(Request::Summary),
        "version" => return Ok(Request::Version),
        "quit" | "exit" => return Ok(Request::Quit),
        "update" | "remove" | "copy" | "tags" | "record" => {}
        c if c.starts_with("drain ") => {
            let name = c["drain ".len()..].trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(CodecError::BadValue {
                    header: "drain",
                    value: name.to_string(),
                });
            }
            return Ok(Request::Drain(name.to_string()));
        }
        _ => return Err(CodecError::UnknownCommand(cmd.to_string())),
    }
    if headers.len() > MAX_HEADERS {
        return Err(CodecError::TooManyHeaders);
    }
    let mut h: Vec<(&str, &str)> = Vec::with_capacity(headers.len());
    for line in headers {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| CodecError::BadHeaderLine(line.clone()))?;
        let value = value.strip_prefix(' ').unwrap_or(value).trim_end();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(CodecError::BadHeaderLine(line.clone()));
        }
        if value.is_empty() {
            continue; // the dispatcher drops "name: " lines
        }
        h.push((name, value));
    }
    let get = |name: &str| h.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let need = |name: &'static str| get(name).ok_or(CodecError::MissingHeader(name));
    if cmd == "copy" {
        return super::copy::parse(get).map(Request::Copy);
    }
    if cmd == "tags" {
        return Ok(Request::Tags {
            call_id: need("call_id")?.to_string(),
        });
    }
    if cmd == "record" {
        return super::record::parse(get).map(Request::Record);
    }
    if cmd == "remove" {
        return Ok(Request::Remove(RemoveRequest {
            call_id: need("call_id")?.to_string(),
            from_tag: need("from_tag")?.to_string(),
            to_tag: get("to_tag").unwrap_or_default().to_string(),
            want_stats: get("stats") == Some("yes"),
        }));
    }
    let kind = match need("type")? {
        "request" => MessageType::Request,
        "reply" => MessageType::Reply,
        v => {
            return Err(CodecError::BadValue {
                header: "type",
                value: v.to_string(),
            })
        }
    };
    let cseq_text = need("cseq")?;
    let cseq: u32 = cseq_text.parse().map_err(|_| CodecError::BadValue {
        header: "cseq",
        value: cseq_text.to_string(),
    })?;
    let (media, asymmetric) = match get("media") {
        Some(m) => decode_media(m)?,
        None => (Vec::new(), false),
    };
    Ok(Request::Update(UpdateRequest {
        kind,
        dialog_id: get("dialog_id").unwrap_or_default().to_string(),
        call_id: need("call_id")?.to_string(),
        cseq,
        from_uri: need("from_uri")?.to_string(),
        to_uri: need("to_uri")?.to_string(),
        from_tag: need("from_tag")?.to_string(),
        to_tag: get("to_tag").unwrap_or_default().to_string(),
        user_agent: need("user_agent")?.to_string(),
        signaling_ip: get("signaling_ip").unwrap_or_default().to_string(),
        media_relay: get("media_relay").unwrap_or_default().to_string(),
        media,
        asymmetric,
        interfaces: match get("interfaces") {
            Some(v) => super::interfaces::decode(v)?,
            None => Default::default(),
        },
    }))
}

/// Splits a byte stream into requests. Feed bytes with [`RequestReader::push`], take requests
/// with [`RequestReader::next_request`]. Every request (good or bad) yields exactly one item,
/// so a client reading one reply per request stays in step.
#[derive(Debug, Default)]
pub struct RequestReader {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned for a line end.
    scanned: usize,
    /// A line longer than [`MAX_LINE`] is being skipped up to its end.
    skipping: bool,
    block: Option<Block>,
}

#[derive(Debug, Default)]
struct Block {
    command: String,
    headers: Vec<String>,
    error: Option<CodecError>,
}

impl RequestReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet consumed.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    fn next_line(&mut self) -> Option<Result<String, CodecError>> {
        loop {
            let start = self.scanned;
            match self.buf[start..].iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let end = start + i;
                    let mut line_end = end;
                    if line_end > 0 && self.buf[line_end - 1] == b'\r' {
                        line_end -= 1;
                    }
                    let too_long = line_end > MAX_LINE;
                    let line = if too_long {
                        String::new()
                    } else {
                        String::from_utf8_lossy(&self.buf[..line_end]).into_owned()
                    };
                    self.buf.drain(..=end);
                    self.scanned = 0;
                    if self.skipping || too_long {
                        self.skipping = false;
                        return Some(Err(CodecError::LineTooLong));
                    }
                    return Some(Ok(line));
                }
                None => {
                    if self.buf.len() > MAX_LINE {
                        self.buf.clear();
                        self.scanned = 0;
                        self.skipping = true;
                        continue;
                    }
                    self.scanned = self.buf.len();
                    return None;
                }
            }
        }
    }

    /// The next complete request, if any. `Err` items are malformed requests that must be
    /// answered `error`.
    pub fn next_request(&mut self) -> Option<Result<Request, CodecError>> {
        while let Some(line) = self.next_line() {
            match self.block.as_mut() {
                None => match line {
                    Ok(l) => {
                        let cmd = l.trim();
                        match cmd {
                            "" => continue,
                            "sessions" | "summary" | "version" | "quit" | "exit" => {
                                return Some(parse_request(cmd, &[]));
                            }
                            c if c.starts_with("drain ") => return Some(parse_request(c, &[])),
                            _ => {
                                self.block = Some(Block {
                                    command: cmd.to_string(),
                                    ..Block::default()
                                })
                            }
                        }
                    }
                    Err(e) => {
                        self.block = Some(Block {
                            error: Some(e),
                            ..Block::default()
                        })
                    }
                },
                Some(block) => match line {
                    Ok(l) if l.is_empty() => {
                        let b = self.block.take().unwrap_or_default();
                        return Some(match b.error {
                            Some(e) => Err(e),
                            None => parse_request(&b.command, &b.headers),
                        });
                    }
                    Ok(l) => {
                        if block.headers.len() >= MAX_HEADERS {
                            block.error.get_or_insert(CodecError::TooManyHeaders);
                        } else {
                            block.headers.push(l);
                        }
                    }
                    Err(e) => {
                        block.error.get_or_insert(e);
                    }
                },
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// replies

/// Encodes an update reply: `ip port…` (IPv6 unbracketed), without the line end.
pub fn encode_answer(a: &RelayAnswer) -> String {
    let mut s = a.ip.to_string();
    for p in &a.ports {
        s.push(' ');
        s.push_str(&p.to_string());
    }
    s
}

/// Why an update reply was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// The relay said `error` (or `halting`).
    Relay,
    /// Anything that is not `<ip> <port>×expected` (for example MediaProxy's `None`).
    Malformed(String),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Relay => f.write_str("relay answered error"),
            ReplyError::Malformed(l) => write!(f, "malformed relay reply {:?}", excerpt(l)),
        }
    }
}

impl std::error::Error for ReplyError {}

/// Parses and validates an update reply: the first token must be an IP literal and exactly
/// `expected_ports` port numbers must follow. Anything else is an error; in particular
/// MediaProxy's `None` never gets through.
pub fn parse_update_reply(line: &str, expected_ports: usize) -> Result<RelayAnswer, ReplyError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut tokens = line.split_ascii_whitespace();
    let first = tokens.next().unwrap_or("");
    if first == "error" || first == "halting" {
        return Err(ReplyError::Relay);
    }
    let malformed = || ReplyError::Malformed(line.to_string());
    let ip_text = first.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = ip_text.parse().map_err(|_| malformed())?;
    if ip.is_unspecified() {
        return Err(malformed());
    }
    let mut ports = Vec::with_capacity(expected_ports);
    for t in tokens {
        ports.push(t.parse::<u16>().map_err(|_| malformed())?);
    }
    if ports.len() != expected_ports {
        return Err(malformed());
    }
    Ok(RelayAnswer { ip, ports })
}

/// Parses a `remove` reply: `removed` (optionally followed by the session JSON, our extension)
/// → `Ok(json)`; `error` and anything else → `Err`.
/// Encodes a `tags` request (the sessions of one Call-ID).
pub fn encode_tags(call_id: &str) -> Result<String, CodecError> {
    let mut s = String::with_capacity(64);
    s.push_str("tags\r\n");
    header(&mut s, "call_id", call_id)?;
    s.push_str("\r\n");
    Ok(s)
}

/// Parses the answer to `tags`: `[from_tag, to_tag]` pairs.
pub fn parse_tags_reply(line: &str) -> Result<Vec<(String, String)>, ReplyError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line == "error" {
        return Err(ReplyError::Relay);
    }
    serde_json::from_str::<Vec<(String, String)>>(line)
        .map_err(|_| ReplyError::Malformed(line.to_string()))
}

pub fn parse_remove_reply(line: &str) -> Result<Option<String>, ReplyError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line == "error" {
        return Err(ReplyError::Relay);
    }
    match line.strip_prefix("removed") {
        Some("") => Ok(None),
        Some(rest) if rest.starts_with(' ') => Ok(Some(rest.trim().to_string())),
        _ => Err(ReplyError::Malformed(line.to_string())),
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
