//! The `record` command: record a relayed session's media to a pcap file (the relay's
//! `recording_dir`). An extension of MediaProxy's protocol that only this project's relay
//! understands; the module sends it only to its own relay (`relay_mode=embedded` or
//! `mediaproxy-relay`), never to an external MediaProxy dispatcher.
//!
//! ```text
//! record                       record
//! call_id: …                   call_id: …
//! from_tag: …                  from_tag: …
//! to_tag: …                    to_tag: …
//! action: start                action: stop
//! ```
//!
//! * `start` records every stream of the session, both parties, RTP and RTCP, from now on
//!   (streams added later too) until `stop` or the session's end. Reply `recording <path>`:
//!   the file (a session recorded already keeps its file). `error` when the relay records
//!   nothing (`recording_dir` unset) or has no such session.
//! * `stop` closes the file. Reply `stopped` (also when the session was not recorded).

use super::codec::CodecError;
use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRequest {
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: String,
    /// `start` (true) or `stop`.
    pub start: bool,
}

/// Encodes a `record` request.
pub fn encode(r: &RecordRequest) -> Result<String, CodecError> {
    let mut s = String::with_capacity(160);
    s.push_str("record\r\n");
    for (name, v) in [
        ("call_id", &r.call_id),
        ("from_tag", &r.from_tag),
        ("to_tag", &r.to_tag),
    ] {
        if v.contains(['\r', '\n']) {
            return Err(CodecError::Unencodable(name));
        }
        let _ = write!(s, "{name}: {v}\r\n");
    }
    s.push_str(if r.start {
        "action: start\r\n\r\n"
    } else {
        "action: stop\r\n\r\n"
    });
    Ok(s)
}

/// Parses a `record` request from its headers (`get`: the last value of a header, if any).
pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<RecordRequest, CodecError> {
    let need = |name: &'static str| get(name).ok_or(CodecError::MissingHeader(name));
    let start = match need("action")? {
        "start" => true,
        "stop" => false,
        other => {
            return Err(CodecError::BadValue {
                header: "action",
                value: other.to_string(),
            })
        }
    };
    Ok(RecordRequest {
        call_id: need("call_id")?.to_string(),
        from_tag: need("from_tag")?.to_string(),
        to_tag: get("to_tag").unwrap_or_default().to_string(),
        start,
    })
}

/// A `record` reply: `recording <file>` for a start, `stopped` for a stop.
pub fn encode_reply(file: Option<&str>) -> String {
    match file {
        Some(f) => format!("recording {f}"),
        None => "stopped".into(),
    }
}

/// What a `record` reply says: `Some(path)` for `recording <path>`, `None` for `stopped`;
/// anything else (`error`, garbage) is returned as the error.
pub fn parse_reply(line: &str) -> Result<Option<String>, &str> {
    if line == "stopped" {
        return Ok(None);
    }
    match line.strip_prefix("recording ") {
        Some(p) if !p.is_empty() => Ok(Some(p.to_string())),
        _ => Err(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::codec::{parse_request, Request};

    fn parse_wire(wire: &str) -> Result<Request, CodecError> {
        let mut lines = wire.split("\r\n");
        let cmd = lines.next().unwrap_or_default();
        let headers: Vec<String> = lines
            .take_while(|l| !l.is_empty())
            .map(String::from)
            .collect();
        parse_request(cmd, &headers)
    }

    #[test]
    fn both_actions_round_trip_and_bad_ones_are_refused() {
        for start in [true, false] {
            let r = RecordRequest {
                call_id: "c1@h".into(),
                from_tag: "ft".into(),
                to_tag: "tt".into(),
                start,
            };
            assert_eq!(
                parse_wire(&encode(&r).unwrap()),
                Ok(Request::Record(r.clone()))
            );
        }
        assert!(parse_wire("record\r\ncall_id: c\r\nfrom_tag: f\r\naction: pause\r\n").is_err());
        assert!(parse_wire("record\r\ncall_id: c\r\naction: start\r\n").is_err());
        let bad = RecordRequest {
            call_id: "a\r\nb".into(),
            from_tag: "f".into(),
            to_tag: String::new(),
            start: true,
        };
        assert!(encode(&bad).is_err());
        assert_eq!(
            parse_reply("recording /r/x.pcap"),
            Ok(Some("/r/x.pcap".into()))
        );
        assert_eq!(parse_reply("stopped"), Ok(None));
        assert!(parse_reply("error").is_err() && parse_reply("recording ").is_err());
    }
}
