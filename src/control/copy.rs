//! The `copy` command: media copies (recording, forking) of a relayed session. An extension of
//! MediaProxy's protocol that only this project's relay understands; the module sends it only
//! to its own relay (`relay_mode=embedded` or `mediaproxy-relay`), never to an external
//! MediaProxy dispatcher, which would answer `error` at the empty line.
//!
//! A copy is named by the session (`call_id`, `from_tag`, `to_tag`, as for `remove`) and a
//! `copy_id` of the client's choosing. Its entries are `<stream index>:<caller|callee>`: the
//! media that party *sends* on that stream (one direction).
//!
//! ```text
//! copy                                   copy                        copy
//! call_id: …                             call_id: …                  call_id: …
//! from_tag: …                            from_tag: …                 from_tag: …
//! to_tag: …                              to_tag: …                   to_tag: …
//! copy_id: c1                            copy_id: c1                 copy_id: c1
//! action: offer                          action: answer              action: delete
//! streams: 0:caller,0:callee             targets: 0:caller:192.0.2.9:7000,0:callee:-
//! paused: yes        (optional)
//! ```
//!
//! * `offer` gives every entry a port pair of the relay's own (kept by a later offer of the same
//!   entry); reply `<ip> <port>…`, one port per entry (0: the stream has no relay ports). With
//!   `paused: yes` the entries' copies stop until the next `answer`.
//! * `answer` sets where each entry's copy goes (`-`: nowhere); the RTP copy goes to the port
//!   given, RTCP to port + 1. Reply `ok`.
//! * `delete` ends every copy of `copy_id` at once and frees its ports. Reply `removed`.

use super::codec::CodecError;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// Most entries in one copy (the rtp_relay framework's `RTP_COPY_MAX_STREAMS`).
pub const MAX_ENTRIES: usize = 32;

/// One direction of one stream: what `party` (0 caller, 1 callee) sends on stream `stream`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CopyEntry {
    pub stream: usize,
    pub party: usize,
}

impl CopyEntry {
    fn encode(&self, out: &mut String) {
        let _ = write!(
            out,
            "{}:{}",
            self.stream,
            if self.party == 0 { "caller" } else { "callee" }
        );
    }

    /// `<index>:<caller|callee>` and the rest after a further `:`, if any.
    fn decode(s: &str) -> Option<(CopyEntry, Option<&str>)> {
        let (idx, rest) = s.split_once(':')?;
        let (party, tail) = match rest.split_once(':') {
            Some((p, t)) => (p, Some(t)),
            None => (rest, None),
        };
        let party = match party {
            "caller" => 0,
            "callee" => 1,
            _ => return None,
        };
        let stream = idx.parse::<usize>().ok().filter(|&i| i < MAX_ENTRIES)?;
        Some((CopyEntry { stream, party }, tail))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyAction {
    Offer {
        entries: Vec<CopyEntry>,
        paused: bool,
    },
    Answer {
        targets: Vec<(CopyEntry, Option<SocketAddr>)>,
    },
    Delete,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyRequest {
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: String,
    pub copy_id: String,
    pub action: CopyAction,
}

fn bad(header: &'static str, value: &str) -> CodecError {
    CodecError::BadValue {
        header,
        value: value.to_string(),
    }
}

fn token_ok(s: &str) -> bool {
    !s.contains(['\r', '\n'])
}

/// Encodes a `copy` request.
pub fn encode(r: &CopyRequest) -> Result<String, CodecError> {
    let mut s = String::with_capacity(256);
    s.push_str("copy\r\n");
    for (name, v) in [
        ("call_id", &r.call_id),
        ("from_tag", &r.from_tag),
        ("to_tag", &r.to_tag),
        ("copy_id", &r.copy_id),
    ] {
        if !token_ok(v) {
            return Err(CodecError::Unencodable(name));
        }
        let _ = write!(s, "{name}: {v}\r\n");
    }
    match &r.action {
        CopyAction::Offer { entries, paused } => {
            s.push_str("action: offer\r\nstreams: ");
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                e.encode(&mut s);
            }
            s.push_str("\r\n");
            if *paused {
                s.push_str("paused: yes\r\n");
            }
        }
        CopyAction::Answer { targets } => {
            s.push_str("action: answer\r\ntargets: ");
            for (i, (e, t)) in targets.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                e.encode(&mut s);
                match t {
                    Some(SocketAddr::V4(a)) => {
                        let _ = write!(s, ":{}:{}", a.ip(), a.port());
                    }
                    Some(SocketAddr::V6(a)) => {
                        let _ = write!(s, ":[{}]:{}", a.ip(), a.port());
                    }
                    None => s.push_str(":-"),
                }
            }
            s.push_str("\r\n");
        }
        CopyAction::Delete => s.push_str("action: delete\r\n"),
    }
    s.push_str("\r\n");
    Ok(s)
}

/// Parses a `copy` request from its headers (`get`: the last value of a header, if any).
pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<CopyRequest, CodecError> {
    let need = |name: &'static str| get(name).ok_or(CodecError::MissingHeader(name));
    let action = match need("action")? {
        "offer" => {
            let v = need("streams")?;
            let mut entries = Vec::new();
            for e in v.split(',').map(str::trim) {
                match CopyEntry::decode(e) {
                    Some((entry, None)) if entries.len() < MAX_ENTRIES => entries.push(entry),
                    _ => return Err(bad("streams", v)),
                }
            }
            CopyAction::Offer {
                entries,
                paused: get("paused") == Some("yes"),
            }
        }
        "answer" => {
            let v = need("targets")?;
            let mut targets = Vec::new();
            for e in v.split(',').map(str::trim) {
                let Some((entry, Some(t))) = CopyEntry::decode(e) else {
                    return Err(bad("targets", v));
                };
                if targets.len() >= MAX_ENTRIES {
                    return Err(bad("targets", v));
                }
                let target = if t == "-" {
                    None
                } else {
                    Some(parse_target(t).ok_or_else(|| bad("targets", v))?)
                };
                targets.push((entry, target));
            }
            CopyAction::Answer { targets }
        }
        "delete" => CopyAction::Delete,
        other => return Err(bad("action", other)),
    };
    Ok(CopyRequest {
        call_id: need("call_id")?.to_string(),
        from_tag: need("from_tag")?.to_string(),
        to_tag: get("to_tag").unwrap_or_default().to_string(),
        copy_id: need("copy_id")?.to_string(),
        action,
    })
}

/// `ip:port` or `[ipv6]:port`, port not 0.
fn parse_target(t: &str) -> Option<SocketAddr> {
    let (ip, port) = match t.strip_prefix('[') {
        Some(r) => {
            let (ip, rest) = r.split_once(']')?;
            (ip, rest.strip_prefix(':')?)
        }
        None => t.rsplit_once(':')?,
    };
    let ip: IpAddr = ip.parse().ok()?;
    let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::codec::{parse_request, Request};

    fn roundtrip(r: &CopyRequest) -> Result<Request, CodecError> {
        let wire = encode(r).unwrap();
        let mut lines = wire.split("\r\n");
        let cmd = lines.next().unwrap();
        let headers: Vec<String> = lines
            .take_while(|l| !l.is_empty())
            .map(String::from)
            .collect();
        parse_request(cmd, &headers)
    }

    fn req(action: CopyAction) -> CopyRequest {
        CopyRequest {
            call_id: "c1@h".into(),
            from_tag: "ft".into(),
            to_tag: "tt".into(),
            copy_id: "rec-1".into(),
            action,
        }
    }

    #[test]
    fn every_action_round_trips() {
        let e = |stream, party| CopyEntry { stream, party };
        for action in [
            CopyAction::Offer {
                entries: vec![e(0, 0), e(0, 1), e(1, 0)],
                paused: false,
            },
            CopyAction::Offer {
                entries: vec![e(3, 1)],
                paused: true,
            },
            CopyAction::Answer {
                targets: vec![
                    (e(0, 0), Some("192.0.2.9:7000".parse().unwrap())),
                    (e(0, 1), Some("[2001:db8::9]:7002".parse().unwrap())),
                    (e(1, 0), None),
                ],
            },
            CopyAction::Delete,
        ] {
            let r = req(action);
            assert_eq!(roundtrip(&r), Ok(Request::Copy(r.clone())));
        }
    }

    #[test]
    fn bad_copies_are_refused() {
        let parse = |lines: &[&str]| {
            let h: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            parse_request("copy", &h)
        };
        let base = ["call_id: c", "from_tag: f", "copy_id: x"];
        let with = |extra: &[&str]| {
            let mut v: Vec<&str> = base.to_vec();
            v.extend_from_slice(extra);
            parse(&v)
        };
        assert!(with(&["action: offer", "streams: 0:caller"]).is_ok());
        for extra in [
            &["action: offer"][..],
            &["action: offer", "streams: 0:both"],
            &["action: offer", "streams: x:caller"],
            &["action: offer", "streams: 99:caller"],
            &["action: answer", "targets: 0:caller"],
            &["action: answer", "targets: 0:caller:192.0.2.1:0"],
            &["action: answer", "targets: 0:caller:host:7000"],
            &["action: pause"],
            &[],
        ] {
            assert!(with(extra).is_err(), "{extra:?}");
        }
        assert!(parse(&["call_id: c", "from_tag: f", "action: delete"]).is_err());
        let mut r = req(CopyAction::Delete);
        r.copy_id = "a\r\nb".into();
        assert!(encode(&r).is_err());
    }
}
