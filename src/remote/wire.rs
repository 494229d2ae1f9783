//! The dispatcher⇄relay link as bytes (`prior-art.md` §1.5). No I/O here.
//!
//! * dispatcher → relay: `<command> <seq>` line, the request's header lines as the module sends
//!   them, an empty line. Commands: `update`, `remove`, `summary`, `sessions`, and our `drain`
//!   (answered `halting`; an original relay answers `error` and is not drained).
//! * relay → dispatcher: `<seq> <payload>` (one line), unsolicited `expired <json>` and `ping`.
//! * dispatcher → relay: `pong` answers `ping`.
//!
//! Payloads: `update` → `<ip> <port>…` | `error` | `halting` | `None`; `remove` → the session's
//! statistics as JSON | `error`; `summary` → one JSON object; `sessions` → a JSON array.
//! Every line ends in CRLF; a bare LF is accepted.

use crate::control::codec::{self, CodecError, RemoveRequest, Request};

/// Longest line accepted on the link (the dispatcher's limit for relay replies: a `sessions`
/// reply of a busy relay is long).
pub const MAX_LINK_LINE: usize = 4 << 20;

/// A line longer than the limit was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineTooLong;

/// Splits a byte stream into lines (without their CRLF), each at most `max` bytes.
#[derive(Debug)]
pub struct Lines {
    buf: Vec<u8>,
    scanned: usize,
    max: usize,
    skipping: bool,
}

impl Lines {
    pub fn new(max: usize) -> Lines {
        Lines {
            buf: Vec::new(),
            scanned: 0,
            max,
            skipping: false,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete line; `Err` for a line that was longer than the limit (skipped).
    pub fn next_line(&mut self) -> Option<Result<String, LineTooLong>> {
        let start = self.scanned;
        let Some(i) = memchr::memchr(b'\n', &self.buf[start..]) else {
            if self.buf.len() > self.max {
                self.buf.clear();
                self.skipping = true;
            }
            self.scanned = self.buf.len();
            return None;
        };
        let end = start + i;
        let mut line_end = end;
        if line_end > 0 && self.buf[line_end - 1] == b'\r' {
            line_end -= 1;
        }
        let too_long = self.skipping || line_end > self.max;
        let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
        self.buf.drain(..=end);
        self.scanned = 0;
        self.skipping = false;
        Some(if too_long { Err(LineTooLong) } else { Ok(line) })
    }
}

/// Writes a request for the link: `<command> <seq>`, headers, empty line. A `remove` is sent
/// in the original form (no `stats` header: the relay always answers with the statistics).
pub fn frame_request(req: &Request, seq: u64) -> Result<String, CodecError> {
    let (name, body) = match req {
        Request::Update(u) => ("update", codec::encode_update(u)?),
        Request::Remove(r) => (
            "remove",
            codec::encode_remove(&RemoveRequest {
                want_stats: false,
                ..r.clone()
            })?,
        ),
        Request::Copy(c) => ("copy", crate::control::copy::encode(c)?),
        Request::Record(r) => ("record", crate::control::record::encode(r)?),
        Request::Tags { call_id } => ("tags", codec::encode_tags(call_id)?),
        Request::Summary => return Ok(format!("summary {seq}\r\n\r\n")),
        Request::Sessions => return Ok(format!("sessions {seq}\r\n\r\n")),
        Request::Version | Request::Quit | Request::Drain(_) => {
            return Err(CodecError::UnknownCommand("version".into()))
        }
    };
    // the codec's encoding starts with the bare command line: put the sequence number on it
    let headers = body.split_once("\r\n").map_or("\r\n", |(_, rest)| rest);
    Ok(format!("{name} {seq}\r\n{headers}"))
}

/// The drain command (our extension).
pub fn frame_drain(seq: u64) -> String {
    format!("drain {seq}\r\n\r\n")
}

/// A relay's answer line: `<seq> <payload>`.
pub fn reply_line(seq: &str, payload: &str) -> String {
    format!("{seq} {payload}\r\n")
}

/// A `copy` reply as the relay wrote it: an offer's `<ip> <port>…`, an answer's `ok`, a
/// delete's `removed`.
pub fn copy_reply(
    c: &crate::control::copy::CopyRequest,
    a: Option<crate::media::RelayAnswer>,
) -> String {
    use crate::control::copy::CopyAction;
    match (a, &c.action) {
        (Some(a), _) => codec::encode_answer(&a),
        (None, CopyAction::Delete) => "removed".into(),
        (None, _) => "ok".into(),
    }
}

/// A `tags` reply: the `[from_tag, to_tag]` pairs as a JSON array.
pub fn tags_reply(pairs: &[(String, String)]) -> String {
    serde_json::Value::Array(
        pairs
            .iter()
            .map(|(f, t)| serde_json::json!([f, t]))
            .collect(),
    )
    .to_string()
}

/// One line from a relay, as the dispatcher reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayLine {
    Reply {
        seq: u64,
        payload: String,
    },
    /// A session ended on the relay by itself; its statistics.
    Expired(String),
    Ping,
    /// Anything else (logged and ignored, as the original does).
    Garbage(String),
}

pub fn parse_relay_line(line: &str) -> RelayLine {
    let (first, rest) = line.split_once(' ').unwrap_or((line, ""));
    match first {
        "ping" if rest.is_empty() => RelayLine::Ping,
        "expired" => RelayLine::Expired(rest.to_string()),
        _ => match first.parse::<u64>() {
            Ok(seq) => RelayLine::Reply {
                seq,
                payload: rest.to_string(),
            },
            Err(_) => RelayLine::Garbage(line.to_string()),
        },
    }
}

/// One item from the dispatcher, as the relay reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkCommand {
    /// A request to answer with `<seq> <payload>`.
    Request {
        seq: String,
        req: Box<Request>,
    },
    /// `drain <seq>`: take no new sessions; answered `<seq> halting`.
    Drain {
        seq: String,
    },
    /// A malformed or unknown command: answered `<seq> error`.
    Bad {
        seq: String,
        err: CodecError,
    },
    Pong,
    /// A line that is not `<command> <seq>` (logged, not answered: there is no sequence number).
    Garbage(String),
}

/// Reads commands from the dispatcher's side of the link.
#[derive(Debug)]
pub struct CommandReader {
    lines: Lines,
    block: Option<Block>,
}

#[derive(Debug)]
struct Block {
    command: String,
    seq: String,
    headers: Vec<String>,
    error: Option<CodecError>,
}

impl Default for CommandReader {
    fn default() -> Self {
        CommandReader {
            lines: Lines::new(codec::MAX_LINE),
            block: None,
        }
    }
}

impl CommandReader {
    pub fn push(&mut self, data: &[u8]) {
        self.lines.push(data);
    }

    pub fn next_command(&mut self) -> Option<LinkCommand> {
        while let Some(line) = self.lines.next_line() {
            let Some(block) = self.block.as_mut() else {
                let Ok(line) = line else {
                    return Some(LinkCommand::Garbage("(overlong line)".into()));
                };
                if line.is_empty() {
                    continue;
                }
                if line == "pong" {
                    return Some(LinkCommand::Pong);
                }
                let mut t = line.split_ascii_whitespace();
                match (t.next(), t.next(), t.next()) {
                    (Some(command), Some(seq), None) => {
                        self.block = Some(Block {
                            command: command.to_string(),
                            seq: seq.to_string(),
                            headers: Vec::new(),
                            error: None,
                        });
                        continue;
                    }
                    _ => return Some(LinkCommand::Garbage(line)),
                }
            };
            match line {
                Ok(l) if l.is_empty() => {
                    let b = self.block.take()?;
                    return Some(Self::finish(b));
                }
                Ok(l) if block.headers.len() < codec::MAX_HEADERS => block.headers.push(l),
                Ok(_) => {
                    block.error.get_or_insert(CodecError::TooManyHeaders);
                }
                Err(LineTooLong) => {
                    block.error.get_or_insert(CodecError::LineTooLong);
                }
            }
        }
        None
    }

    fn finish(b: Block) -> LinkCommand {
        if let Some(err) = b.error {
            return LinkCommand::Bad { seq: b.seq, err };
        }
        match b.command.as_str() {
            "drain" => LinkCommand::Drain { seq: b.seq },
            "update" | "remove" | "copy" | "record" | "tags" | "summary" | "sessions" => {
                match codec::parse_request(&b.command, &b.headers) {
                    Ok(req) => LinkCommand::Request {
                        seq: b.seq,
                        req: Box::new(req),
                    },
                    Err(err) => LinkCommand::Bad { seq: b.seq, err },
                }
            }
            _ => LinkCommand::Bad {
                seq: b.seq,
                err: CodecError::UnknownCommand(b.command),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::codec::{MessageType, UpdateRequest};
    use crate::media::{Direction, StreamDesc};

    fn update() -> UpdateRequest {
        UpdateRequest {
            kind: MessageType::Request,
            call_id: "c1@h".into(),
            cseq: 7,
            from_uri: "a@x".into(),
            to_uri: "b@y".into(),
            from_tag: "ft".into(),
            user_agent: "ua".into(),
            signaling_ip: "192.0.2.1".into(),
            media_relay: "relay-b".into(),
            media: vec![StreamDesc {
                media_type: "audio".into(),
                addr: "192.0.2.1".into(),
                port: 4000,
                direction: Direction::SendRecv,
                ice: false,
            }],
            ..UpdateRequest::default()
        }
    }

    #[test]
    fn requests_carry_the_sequence_number_and_roundtrip() {
        let u = update();
        let wire = frame_request(&Request::Update(u.clone()), 12).unwrap();
        assert!(wire.starts_with("update 12\r\ntype: request\r\n"), "{wire}");
        assert!(wire.ends_with("\r\n\r\n"));
        assert!(wire.contains("media_relay: relay-b\r\n"));
        let remove = Request::Remove(RemoveRequest {
            call_id: "c1@h".into(),
            from_tag: "ft".into(),
            to_tag: "tt".into(),
            want_stats: true,
        });
        let rwire = frame_request(&remove, 13).unwrap();
        assert_eq!(
            rwire,
            "remove 13\r\ncall_id: c1@h\r\nfrom_tag: ft\r\nto_tag: tt\r\n\r\n"
        );
        let mut r = CommandReader::default();
        // split at every byte: framing must not depend on read boundaries
        let all = format!(
            "{wire}{rwire}pong\r\n{}{}",
            frame_request(&Request::Summary, 14).unwrap(),
            frame_drain(15)
        );
        for b in all.as_bytes() {
            r.push(&[*b]);
        }
        assert_eq!(
            r.next_command(),
            Some(LinkCommand::Request {
                seq: "12".into(),
                req: Box::new(Request::Update(UpdateRequest {
                    dialog_id: String::new(),
                    ..u
                }))
            })
        );
        assert!(matches!(
            r.next_command(),
            Some(LinkCommand::Request { seq, req })
                if seq == "13" && matches!(&*req, Request::Remove(rm) if rm.to_tag == "tt" && !rm.want_stats)
        ));
        assert_eq!(r.next_command(), Some(LinkCommand::Pong));
        assert_eq!(
            r.next_command(),
            Some(LinkCommand::Request {
                seq: "14".into(),
                req: Box::new(Request::Summary)
            })
        );
        assert_eq!(
            r.next_command(),
            Some(LinkCommand::Drain { seq: "15".into() })
        );
        assert_eq!(r.next_command(), None);
    }

    #[test]
    fn bad_commands_get_their_sequence_number_back() {
        let mut r = CommandReader::default();
        r.push(b"frobnicate 3\r\nx: y\r\n\r\nupdate 4\r\ncall_id: c\r\n\r\nhello\r\n");
        assert!(matches!(
            r.next_command(),
            Some(LinkCommand::Bad { seq, err: CodecError::UnknownCommand(_) }) if seq == "3"
        ));
        assert!(matches!(
            r.next_command(),
            Some(LinkCommand::Bad { seq, err: CodecError::MissingHeader(_) }) if seq == "4"
        ));
        assert_eq!(r.next_command(), Some(LinkCommand::Garbage("hello".into())));
    }

    #[test]
    fn overlong_header_is_an_error_and_the_stream_recovers() {
        let mut r = CommandReader::default();
        r.push(b"remove 1\r\ncall_id: ");
        r.push(&vec![b'x'; codec::MAX_LINE + 10]);
        r.push(b"\r\nfrom_tag: f\r\n\r\nsessions 2\r\n\r\n");
        assert!(matches!(
            r.next_command(),
            Some(LinkCommand::Bad { seq, err: CodecError::LineTooLong }) if seq == "1"
        ));
        assert_eq!(
            r.next_command(),
            Some(LinkCommand::Request {
                seq: "2".into(),
                req: Box::new(Request::Sessions)
            })
        );
    }

    #[test]
    fn relay_lines() {
        assert_eq!(parse_relay_line("ping"), RelayLine::Ping);
        assert_eq!(
            parse_relay_line("7 10.0.0.1 40000"),
            RelayLine::Reply {
                seq: 7,
                payload: "10.0.0.1 40000".into()
            }
        );
        assert_eq!(
            parse_relay_line("expired {\"call_id\":\"x\"}"),
            RelayLine::Expired("{\"call_id\":\"x\"}".into())
        );
        assert_eq!(
            parse_relay_line("pingx"),
            RelayLine::Garbage("pingx".into())
        );
        assert_eq!(parse_relay_line("-1 x"), RelayLine::Garbage("-1 x".into()));
        assert_eq!(reply_line("9", "halting"), "9 halting\r\n");
    }

    #[test]
    fn lines_are_bounded() {
        let mut l = Lines::new(8);
        l.push(b"0123456789abc");
        assert_eq!(l.next_line(), None);
        l.push(b"def\nok\r\n");
        assert_eq!(l.next_line(), Some(Err(LineTooLong)));
        assert_eq!(l.next_line(), Some(Ok("ok".into())));
    }
}
