//! Media copies of the `mediaproxy` rtp_relay engine, independent of the host: what the
//! `siprec` and `media_exchange` modules ask through the framework's `copy_offer`,
//! `copy_answer` and `copy_delete`, turned into the relay's `copy` command
//! ([`crate::control::copy`]).
//!
//! * copy offer: one entry per selected stream (the framework's `streams` bit mask, by m-line
//!   of the call's SDP) and per selected party (caller, callee: the media that party sends);
//!   the relay gives each a port pair of its own. The SDP returned has one `m=` line per entry,
//!   described as the sending party's SDP describes that stream (type, transport, formats,
//!   `rtpmap`/`fmtp`/`ptime`), the relay's address and the copy's port, `a=label:<n>` (n = 2 ×
//!   m-line + party + 1, what siprec puts in its metadata) and `a=sendonly` (`a=inactive` when
//!   the framework asks a paused copy). The stream map tells siprec which label is whose.
//! * copy answer: the recorder's SDP; its m-lines, in order, are where the entries' copies go
//!   (port 0, `sendonly` or `inactive`: nowhere).
//! * copy delete: ends the copy at once.
//!
//! The framework keeps a context per copy for the engine; this one is a line of text
//! ([`CopyCtx`]): the relay's copy id, the SDP version, paused or not, and the entries in SDP
//! order. Copies need this project's relay: with `relay_mode=external` every copy request fails
//! with a log line.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::{Config, RelayMode};
use crate::control::copy::{CopyAction, CopyEntry, CopyRequest};
use crate::rtp_relay::Node;
use crate::script::{self, Level, Logger};
use crate::sdp::Sdp;

const FN: &str = "rtp_relay copy";

/// The framework's copy flags (`rtp_relay_common.h`).
pub const COPY_MODE_SIPREC: u32 = 1 << 0;
pub const COPY_MODE_DISABLE: u32 = 1 << 1;
pub const COPY_LEG_CALLER: u32 = 1 << 2;
pub const COPY_LEG_CALLEE: u32 = 1 << 3;
/// Most streams in a copy (`RTP_COPY_MAX_STREAMS`).
pub const MAX_STREAMS: usize = 32;

/// The engine's context of one copy, as text (kept by the framework, also across restarts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyCtx {
    pub copy_id: String,
    pub version: u32,
    pub paused: bool,
    /// The entries in the order of the offered SDP's m-lines, with each entry's m-line index
    /// in the call's SDP.
    pub entries: Vec<(CopyEntry, usize)>,
}

impl CopyCtx {
    /// `mpx1 <copy_id> <version> <0|1> <stream>:<party>:<m-line>,…` (`-` for no entry).
    pub fn text(&self) -> String {
        let mut s = format!(
            "mpx1 {} {} {} ",
            self.copy_id,
            self.version,
            u8::from(self.paused)
        );
        if self.entries.is_empty() {
            s.push('-');
        }
        for (i, (e, m)) in self.entries.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{}:{}:{m}", e.stream, e.party);
        }
        s
    }

    pub fn parse(text: &str) -> Option<CopyCtx> {
        let mut t = text.split(' ');
        if t.next()? != "mpx1" {
            return None;
        }
        let copy_id = t.next().filter(|c| !c.is_empty())?.to_string();
        let version = t.next()?.parse().ok()?;
        let paused = t.next()? == "1";
        let list = t.next()?;
        let mut entries = Vec::new();
        if list != "-" {
            for e in list.split(',') {
                let mut f = e.split(':').map(|x| x.parse::<usize>().ok());
                let (Some(Some(stream)), Some(Some(party)), Some(Some(m))) =
                    (f.next(), f.next(), f.next())
                else {
                    return None;
                };
                if party > 1 || stream >= MAX_STREAMS || m >= MAX_STREAMS {
                    return None;
                }
                entries.push((CopyEntry { stream, party }, m));
            }
        }
        (t.next().is_none()).then_some(CopyCtx {
            copy_id,
            version,
            paused,
            entries,
        })
    }
}

/// One stream of the returned map: whose media (0 caller, 1 callee), the call's m-line, the
/// `a=label`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapEntry {
    pub leg: i32,
    pub medianum: i32,
    pub label: i32,
}

/// What a copy offer produced.
#[derive(Debug)]
pub struct Offered {
    pub ctx: CopyCtx,
    pub body: Vec<u8>,
    pub map: Vec<MapEntry>,
}

/// The relay session a copy belongs to: the framework's Call-ID and the stored node.
pub struct Target<'a> {
    pub call_id: Option<&'a [u8]>,
    pub node: Option<&'a [u8]>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The relay's Call-ID and session tag of a copy's call, or a logged error.
fn relay_session(log: &dyn Logger, cfg: &Config, t: &Target<'_>) -> Option<(String, String)> {
    if cfg.disable {
        log.log(Level::Err, FN, format_args!("the module is disabled"));
        return None;
    }
    if cfg.relay_mode == RelayMode::External {
        log.log(
            Level::Err,
            FN,
            format_args!(
                "media copies (siprec, media_exchange) need the module's own relay; with \
                 relay_mode=external MediaProxy's dispatcher cannot copy media"
            ),
        );
        return None;
    }
    let node = match Node::parse(t.node) {
        Ok(Some(n)) => n,
        Ok(None) => {
            log.log(
                Level::Err,
                FN,
                format_args!("the call has no relay session"),
            );
            return None;
        }
        Err(e) => {
            log.log(Level::Err, FN, format_args!("{e}"));
            return None;
        }
    };
    let Some(call_id) = t.call_id.filter(|c| !c.is_empty()) else {
        log.log(Level::Err, FN, format_args!("no Call-ID"));
        return None;
    };
    Some((node.relay_call_id(&text(call_id)), node.tag))
}

fn request(session: &(String, String), copy_id: &str, action: CopyAction) -> CopyRequest {
    CopyRequest {
        call_id: session.0.clone(),
        from_tag: session.1.clone(),
        to_tag: String::new(),
        copy_id: copy_id.to_string(),
        action,
    }
}

/// A copy id unique among this host's processes.
fn new_copy_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{}.{}.{secs}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One m-line of a party's SDP as a copy describes it: `m=` line tail (after the port) and the
/// codec attribute lines.
struct Described {
    media_type: String,
    tail: String,
    attrs: Vec<String>,
}

/// The supported m-lines of an SDP by relay stream index: (m-line index, description).
fn describe(body: &[u8]) -> Option<Vec<(usize, Described)>> {
    let parsed = Sdp::parse(body).ok()?;
    let mut out = Vec::new();
    for (j, m) in parsed.sdp.media.iter().enumerate() {
        if !m.is_supported() {
            continue;
        }
        let line = body.get(m.line.start..m.line.end)?;
        let line = String::from_utf8_lossy(line);
        // m=<type> <port> <proto> <fmt>…: everything after the port
        let mut parts = line.splitn(3, ' ');
        let (_, _, tail) = (parts.next()?, parts.next()?, parts.next()?);
        let block = body.get(m.line.next..m.end)?;
        let attrs = block
            .split(|&b| b == b'\n')
            .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
            .filter(|l| {
                ["a=rtpmap:", "a=fmtp:", "a=ptime:", "a=maxptime:"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .collect();
        out.push((
            j,
            Described {
                media_type: text(m.media_type),
                tail: tail.trim().to_string(),
                attrs,
            },
        ));
    }
    Some(out)
}

/// The copy's SDP label of an entry.
fn label(medianum: usize, party: usize) -> i32 {
    i32::try_from(2 * medianum + party + 1).unwrap_or(i32::MAX)
}

/// A copy offer. `sdps`: the caller's and the callee's SDP (each describes what that party
/// sends; either may stand for the other). `prev`: the copy's context, for a later offer of the
/// same copy (same ports, next SDP version).
pub fn copy_offer(
    log: &dyn Logger,
    cfg: &Config,
    target: &Target<'_>,
    prev: Option<&str>,
    copy_flags: u32,
    streams: u32,
    sdps: [Option<&[u8]>; 2],
) -> Option<Offered> {
    let session = relay_session(log, cfg, target)?;
    let prev = match prev.map(CopyCtx::parse) {
        Some(None) => {
            log.log(Level::Err, FN, format_args!("unreadable copy context"));
            return None;
        }
        Some(Some(c)) => Some(c),
        None => None,
    };
    let described: [Option<Vec<(usize, Described)>>; 2] =
        [sdps[0].and_then(describe), sdps[1].and_then(describe)];
    let Some(layout) = described.iter().flatten().next() else {
        log.log(
            Level::Err,
            FN,
            format_args!(
                "no SDP of the call to describe the copy (Call-ID {})",
                session.0
            ),
        );
        return None;
    };
    let legs: Vec<usize> = match copy_flags & (COPY_LEG_CALLER | COPY_LEG_CALLEE) {
        COPY_LEG_CALLER => vec![0],
        COPY_LEG_CALLEE => vec![1],
        _ => vec![0, 1],
    };
    let mut wanted: Vec<(CopyEntry, usize)> = Vec::new();
    for (k, (j, _)) in layout.iter().enumerate() {
        if *j >= MAX_STREAMS || streams & (1u32 << *j) == 0 {
            continue;
        }
        for &party in &legs {
            wanted.push((CopyEntry { stream: k, party }, *j));
        }
    }
    if wanted.is_empty() {
        log.log(Level::Err, FN, format_args!("no stream to copy"));
        return None;
    }
    let paused = copy_flags & COPY_MODE_DISABLE != 0;
    let copy_id = prev
        .as_ref()
        .map_or_else(new_copy_id, |p| p.copy_id.clone());
    let action = CopyAction::Offer {
        entries: wanted.iter().map(|(e, _)| *e).collect(),
        paused,
    };
    let answer = match script::copy(cfg, &request(&session, &copy_id, action)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            log.log(
                Level::Err,
                FN,
                format_args!("relay: no ports in its answer"),
            );
            return None;
        }
        Err(e) => {
            log.log(
                Level::Err,
                FN,
                format_args!("relay: {e} (Call-ID {})", session.0),
            );
            return None;
        }
    };
    let ip = answer.ip;
    let fam = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let version = prev.as_ref().map_or(1, |p| p.version.saturating_add(1));
    let sess_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut sdp = format!(
        "v=0\r\no=mediaproxy {sess_id} {version} IN {fam} {ip}\r\ns=mediaproxy\r\nc=IN {fam} {ip}\r\nt=0 0\r\n"
    );
    let mut entries = Vec::new();
    let mut map = Vec::new();
    for ((entry, j), port) in wanted.iter().zip(&answer.ports) {
        if *port == 0 {
            continue;
        }
        let desc = described[entry.party]
            .as_ref()
            .and_then(|d| d.iter().find(|(m, _)| m == j))
            .or_else(|| layout.iter().find(|(m, _)| m == j))
            .map(|(_, d)| d);
        let Some(d) = desc else { continue };
        let _ = write!(sdp, "m={} {port} {}\r\n", d.media_type, d.tail);
        for a in &d.attrs {
            sdp.push_str(a);
            sdp.push_str("\r\n");
        }
        let l = label(*j, entry.party);
        let _ = write!(
            sdp,
            "a=label:{l}\r\na={}\r\n",
            if paused { "inactive" } else { "sendonly" }
        );
        entries.push((*entry, *j));
        map.push(MapEntry {
            leg: entry.party as i32,
            medianum: *j as i32,
            label: l,
        });
    }
    if entries.is_empty() {
        log.log(
            Level::Err,
            FN,
            format_args!("no stream of Call-ID {} has relay ports to copy", session.0),
        );
        let _ = script::copy(cfg, &request(&session, &copy_id, CopyAction::Delete));
        return None;
    }
    Some(Offered {
        ctx: CopyCtx {
            copy_id,
            version,
            paused,
            entries,
        },
        body: sdp.into_bytes(),
        map,
    })
}

/// Where the recorder's SDP asks each offered m-line's copy to go, in order.
fn targets(body: &[u8]) -> Result<Vec<Option<SocketAddr>>, String> {
    let parsed = Sdp::parse(body).map_err(|e| format!("malformed SDP: {e}"))?;
    let sdp = &parsed.sdp;
    Ok(sdp
        .media
        .iter()
        .map(|m| {
            use crate::media::Direction;
            let dir = m.direction.or(sdp.session.direction).unwrap_or_default();
            if m.port == 0 || matches!(dir, Direction::SendOnly | Direction::Inactive) {
                return None;
            }
            let ip: IpAddr = sdp.stream_connection(m)?.addr.ip?;
            (!ip.is_unspecified()).then(|| SocketAddr::new(ip, m.port))
        })
        .collect())
}

/// A copy answer: the recorder's SDP. 1 on success, -1 otherwise.
pub fn copy_answer(
    log: &dyn Logger,
    cfg: &Config,
    target: &Target<'_>,
    ctx: Option<&str>,
    body: &[u8],
) -> i32 {
    let Some(session) = relay_session(log, cfg, target) else {
        return -1;
    };
    let Some(ctx) = ctx.and_then(CopyCtx::parse) else {
        log.log(Level::Err, FN, format_args!("answer: no copy context"));
        return -1;
    };
    let dests = match targets(body) {
        Ok(d) => d,
        Err(e) => {
            log.log(
                Level::Err,
                FN,
                format_args!("answer: {e} (Call-ID {})", session.0),
            );
            return -1;
        }
    };
    let list = ctx
        .entries
        .iter()
        .enumerate()
        .map(|(i, (e, _))| {
            let d = if ctx.paused {
                None
            } else {
                dests.get(i).copied().flatten()
            };
            (*e, d)
        })
        .collect();
    let req = request(&session, &ctx.copy_id, CopyAction::Answer { targets: list });
    match script::copy(cfg, &req) {
        Ok(_) => 1,
        Err(e) => {
            log.log(
                Level::Err,
                FN,
                format_args!("answer: relay: {e} (Call-ID {})", session.0),
            );
            -1
        }
    }
}

/// A copy delete: ends the copy at once. 1 on success, -1 otherwise.
pub fn copy_delete(log: &dyn Logger, cfg: &Config, target: &Target<'_>, ctx: Option<&str>) -> i32 {
    let Some(ctx) = ctx.and_then(CopyCtx::parse) else {
        // nothing was offered
        return 1;
    };
    let Some(session) = relay_session(log, cfg, target) else {
        return -1;
    };
    match script::copy(cfg, &request(&session, &ctx.copy_id, CopyAction::Delete)) {
        Ok(_) => 1,
        Err(e) => {
            log.log(
                Level::Err,
                FN,
                format_args!("delete: relay: {e} (Call-ID {})", session.0),
            );
            -1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_round_trip() {
        let c = CopyCtx {
            copy_id: "12.3.1700000000".into(),
            version: 4,
            paused: true,
            entries: vec![
                (
                    CopyEntry {
                        stream: 0,
                        party: 0,
                    },
                    0,
                ),
                (
                    CopyEntry {
                        stream: 1,
                        party: 1,
                    },
                    2,
                ),
            ],
        };
        assert_eq!(CopyCtx::parse(&c.text()), Some(c.clone()));
        let empty = CopyCtx {
            entries: vec![],
            ..c
        };
        assert_eq!(CopyCtx::parse(&empty.text()), Some(empty));
        for bad in [
            "",
            "mpx1",
            "mpx2 a 1 0 -",
            "mpx1 a x 0 -",
            "mpx1 a 1 0 0:2:0",
            "mpx1 a 1 0 0:0",
            "mpx1 a 1 0 - extra",
        ] {
            assert_eq!(CopyCtx::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_call_sdp_describes_its_supported_streams() {
        let body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\na=sendrecv\r\na=ptime:20\r\n\
m=message 5000 TCP/MSRP *\r\n\
m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
        let d = describe(body).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].0, 0);
        assert_eq!(d[0].1.media_type, "audio");
        assert_eq!(d[0].1.tail, "RTP/AVP 0 8 101");
        assert_eq!(
            d[0].1.attrs,
            vec![
                "a=rtpmap:0 PCMU/8000",
                "a=rtpmap:101 telephone-event/8000",
                "a=fmtp:101 0-15",
                "a=ptime:20"
            ]
        );
        assert_eq!(d[1].0, 2, "the m-line index skips the unrelayed stream");
        assert_eq!(d[1].1.tail, "RTP/AVP 96");
    }

    #[test]
    fn recorder_answers_give_destinations_in_order() {
        let body =
            b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
m=audio 7000 RTP/AVP 0\r\na=recvonly\r\n\
m=audio 0 RTP/AVP 0\r\n\
m=audio 7004 RTP/AVP 0\r\nc=IN IP4 198.51.100.8\r\na=recvonly\r\n\
m=audio 7006 RTP/AVP 0\r\na=inactive\r\n";
        assert_eq!(
            targets(body).unwrap(),
            vec![
                Some("198.51.100.7:7000".parse().unwrap()),
                None,
                Some("198.51.100.8:7004".parse().unwrap()),
                None
            ]
        );
    }

    #[test]
    fn labels_are_unique_per_stream_and_party() {
        let mut seen = std::collections::HashSet::new();
        for m in 0..MAX_STREAMS {
            for p in 0..2 {
                assert!(seen.insert(label(m, p)));
            }
        }
    }
}
