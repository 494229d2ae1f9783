//! Finding the `application/sdp` part of a `multipart/mixed` body (RFC 2046 §5.1.1,
//! RFC 5621 §3). No allocation: parts are found by walking lines.

use super::fields::content_type;
use super::lex::trim_lws;

/// Start of each line of `body` from `from` on (0 and every byte after an LF).
fn line_starts(body: &[u8], from: usize) -> impl Iterator<Item = usize> + '_ {
    let mut pos = Some(from);
    std::iter::from_fn(move || {
        let p = pos?;
        if p > body.len() {
            pos = None;
            return None;
        }
        pos = memchr::memchr(b'\n', body.get(p..).unwrap_or(&[])).map(|n| p + n + 1);
        Some(p)
    })
}

/// A delimiter line `--boundary` (or the close delimiter `--boundary--`) starting at `p`.
fn delimiter_at(body: &[u8], p: usize, boundary: &[u8]) -> Option<bool> {
    let rest = body.get(p..)?;
    let after = rest.strip_prefix(b"--")?.strip_prefix(boundary)?;
    Some(after.starts_with(b"--"))
}

/// End of the line that starts at or contains `p` (after its LF), or the body length.
fn next_line(body: &[u8], p: usize) -> usize {
    memchr::memchr(b'\n', body.get(p..).unwrap_or(&[])).map_or(body.len(), |n| p + n + 1)
}

/// Byte range of the content of the first part whose Content-Type is `application/sdp`.
///
/// The line end before a delimiter belongs to the delimiter (RFC 2046 §5.1.1), so the range
/// ends before it. Preamble and epilogue are skipped; a part without headers is
/// `text/plain` by default and so never SDP.
pub(crate) fn sdp_part(body: &[u8], boundary: &[u8]) -> Option<(usize, usize)> {
    if boundary.is_empty() || boundary.len() > 70 {
        return None;
    }
    let mut part_start: Option<usize> = None;
    for p in line_starts(body, 0) {
        let Some(close) = delimiter_at(body, p, boundary) else {
            continue;
        };
        if let Some(s) = part_start {
            // The CRLF/LF before the delimiter is not part of the content.
            let mut e = p;
            if e > s && body.get(e - 1) == Some(&b'\n') {
                e -= 1;
                if e > s && body.get(e - 1) == Some(&b'\r') {
                    e -= 1;
                }
            }
            if let Some(found) = sdp_in_part(body, s, e) {
                return Some(found);
            }
        }
        if close {
            return None;
        }
        part_start = Some(next_line(body, p));
    }
    None
}

/// Part headers up to the empty line; the content range if it is `application/sdp`.
fn sdp_in_part(body: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
    let part = body.get(start..end)?;
    let mut pos = 0;
    let mut is_sdp = false;
    loop {
        let rest = part.get(pos..)?;
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(n) => (rest.get(..n)?, pos + n + 1),
            None => return None, // no empty line: no content
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return is_sdp.then_some((start + next, end.max(start + next)));
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = trim_lws(line.get(..colon)?);
            if name.eq_ignore_ascii_case(b"Content-Type") {
                is_sdp = content_type(line.get(colon + 1..)?)
                    .is_some_and(|ct| ct.is("application", "sdp"));
            }
        }
        pos = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sdp_part() {
        let body = b"preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nm=audio 1 RTP/AVP 0\r\n--b1--\r\n";
        let (s, e) = sdp_part(body, b"b1").unwrap();
        assert_eq!(&body[s..e], b"v=0\r\nm=audio 1 RTP/AVP 0");
    }

    #[test]
    fn no_sdp_part() {
        assert_eq!(sdp_part(b"--x\r\n--x--", b"x"), None);
        assert_eq!(sdp_part(b"--x\r\n\r\nv=0\r\n--x--", b"x"), None);
        assert_eq!(sdp_part(b"", b"x"), None);
        assert_eq!(sdp_part(b"--x\nContent-Type: application/sdp", b"x"), None);
    }
}
