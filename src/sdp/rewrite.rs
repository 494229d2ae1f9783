//! The rewrite plan: ordered, non-overlapping byte edits that point an SDP at a relay, and
//! [`apply`] to carry them out. Rules follow the C module (prior-art §2.3/§2.4), with the
//! refinements listed in the module docs.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::error::{Error, ErrorKind};
use super::model::{AddrType, Address, Sdp};
use crate::media::RelayAnswer;

/// Whether to add a relay ICE candidate to streams that use ICE (prior-art §2.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IcePriority {
    /// Add no candidate.
    #[default]
    None,
    /// Type preference 0: priority 16777215 (the relay is the last resort).
    Low,
    /// Type preference 130, above host (126): priority 2197815295 (the relay is preferred).
    High,
}

impl IcePriority {
    /// The component-1 priority, RFC 8445 §5.1.2.1 with local preference 65535 and
    /// component 1: `type_pref << 24 | 0xFFFFFF` (component 2 uses one less).
    pub fn priority(self) -> Option<u32> {
        match self {
            IcePriority::None => None,
            IcePriority::Low => Some(0x00FF_FFFF),
            IcePriority::High => Some((130 << 24) | 0x00FF_FFFF),
        }
    }
}

/// Options of [`Sdp::plan`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RewriteOptions {
    pub ice_candidate: IcePriority,
}

/// Replace `delete` bytes at `offset` (relative to the start of the SDP body) with `insert`.
/// A host turns each into a delete lump plus an insert lump at the original offset.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Edit {
    pub offset: usize,
    pub delete: usize,
    pub insert: Vec<u8>,
}

/// The ICE foundation of the relay candidate: `R` and the lowercase hex, without padding, of
/// the XOR of the address's 32-bit words, each read least-significant byte first.
///
/// For IPv4 that is one word, which is exactly what the C module prints (`%x` of an `in_addr`
/// on a little-endian host: 203.0.113.5 → `R57100cb`). For IPv6 the four words are folded the
/// same way, which keeps the foundation within RFC 8839's 32 characters and the same for
/// every stream of one relay address (2001:db8::77 → `R77000000` ^ `b80d0120`).
pub fn ice_foundation(ip: &IpAddr) -> String {
    let v = match ip {
        IpAddr::V4(a) => u32::from_le_bytes(a.octets()),
        IpAddr::V6(a) => a
            .octets()
            .chunks_exact(4)
            .map(|c| match c {
                [a, b, c, d] => u32::from_le_bytes([*a, *b, *c, *d]),
                _ => 0,
            })
            .fold(0, |acc, w| acc ^ w),
    };
    format!("R{v:x}")
}

struct Planner<'s> {
    eol: &'s [u8],
    ip_text: String,
    family: AddrType,
    edits: Vec<Edit>,
}

impl Planner<'_> {
    fn push(&mut self, offset: usize, delete: usize, insert: Vec<u8>) {
        self.edits.push(Edit {
            offset,
            delete,
            insert,
        });
    }

    /// Address to the relay address; the addrtype token too when the family differs.
    fn address(&mut self, a: &Address<'_>) {
        if a.family != self.family {
            let len = a.addrtype.end - a.addrtype.start;
            self.push(a.addrtype.start, len, self.family.as_str().into());
        }
        let len = a.span.end - a.span.start;
        self.push(a.span.start, len, self.ip_text.clone().into_bytes());
    }

    fn relay_c_line(&self) -> Vec<u8> {
        format!("c=IN {} {}", self.family.as_str(), self.ip_text).into_bytes()
    }

    /// A whole line to insert after a line that ends at `end` with its line end up to `next`.
    fn insert_line_after(&mut self, end: usize, next: usize, line: Vec<u8>) {
        let mut ins = Vec::with_capacity(line.len() + 2);
        if next > end {
            ins.extend_from_slice(&line);
            ins.extend_from_slice(self.eol);
            self.push(next, 0, ins);
        } else {
            // The line had no line end (last line of the body): keep it that way.
            ins.extend_from_slice(self.eol);
            ins.extend_from_slice(&line);
            self.push(end, 0, ins);
        }
    }
}

impl Sdp<'_> {
    /// Plans the edits that point this SDP at the relay in `answer` (`answer.ports[j]` belongs
    /// to the j-th supported stream, see [`Sdp::supported`]; a missing or 0 port leaves that
    /// stream alone). The edits are sorted by offset and never overlap; several insertions at
    /// one offset are merged into one edit, in the order the lines must appear.
    pub fn plan(&self, answer: &RelayAnswer, opts: &RewriteOptions) -> Result<Vec<Edit>, Error> {
        let body = self.body;
        let supported: Vec<usize> = self.supported().collect();
        if answer.ports.len() > supported.len() {
            return Err(Error::at(ErrorKind::TooManyPorts, body, body.len()));
        }
        let mut relay_port = vec![0u16; self.media.len()];
        for (&i, &p) in supported.iter().zip(answer.ports.iter()) {
            if let Some(slot) = relay_port.get_mut(i) {
                *slot = p;
            }
        }
        let relayed = |i: usize| relay_port.get(i).is_some_and(|&p| p != 0);
        let mut pl = Planner {
            eol: self.eol,
            ip_text: answer.ip.to_string(),
            family: AddrType::of(&answer.ip),
            edits: Vec::new(),
        };

        // Session c= first, so that a c= line inserted after an m= line comes before a
        // candidate inserted at the same offset.
        if let Some(sc) = &self.session.connection {
            if !sc.addr.is_unspecified() {
                let deps: Vec<usize> = (0..self.media.len())
                    .filter(|&i| self.media.get(i).is_some_and(|m| m.connections.is_empty()))
                    .collect();
                let n_relayed = deps.iter().filter(|&&i| relayed(i)).count();
                let all_relayed = !self.media.is_empty() && (0..self.media.len()).all(relayed);
                if (deps.is_empty() && all_relayed) || (!deps.is_empty() && n_relayed == deps.len())
                {
                    pl.address(&sc.addr);
                } else if n_relayed > 0 {
                    // Split: the session c= goes, each stream that relied on it gets its own.
                    pl.push(sc.line.start, sc.line.next - sc.line.start, Vec::new());
                    let mut original = b"c=".to_vec();
                    original.extend_from_slice(sc.value.of(body));
                    for &i in &deps {
                        let Some(m) = self.media.get(i) else { continue };
                        let line = if relayed(i) {
                            pl.relay_c_line()
                        } else {
                            original.clone()
                        };
                        pl.insert_line_after(m.line.end, m.line.next, line);
                    }
                }
            }
        }

        let prio = opts.ice_candidate.priority();
        for (i, m) in self.media.iter().enumerate() {
            let p = relay_port.get(i).copied().unwrap_or(0);
            if p == 0 {
                continue;
            }
            if m.port != 0 {
                let end = match (m.port_count, m.count_span) {
                    (Some(n), Some(cs)) if n != 1 => cs.end,
                    _ => m.port_span.end,
                };
                pl.push(
                    m.port_span.start,
                    end - m.port_span.start,
                    p.to_string().into_bytes(),
                );
            }
            for c in &m.connections {
                if !c.addr.is_unspecified() {
                    pl.address(&c.addr);
                }
            }
            for r in &m.rtcp {
                if r.port != 0 {
                    let rp = p
                        .checked_add(1)
                        .ok_or_else(|| Error::at(ErrorKind::RelayPort, body, r.line.start))?;
                    let len = r.port_span.end - r.port_span.start;
                    pl.push(r.port_span.start, len, rp.to_string().into_bytes());
                }
                if let Some(a) = &r.addr {
                    pl.address(a);
                }
            }
            if let (Some(prio), Some(at)) = (prio, m.first_candidate) {
                if self.stream_has_ice(m) {
                    let f = ice_foundation(&answer.ip);
                    let ip = &pl.ip_text;
                    let eol = String::from_utf8_lossy(pl.eol);
                    let mut s = String::new();
                    let _ = write!(
                        s,
                        "a=candidate:{f} 1 UDP {prio} {ip} {p} typ relay raddr {ip} rport {p}{eol}"
                    );
                    if m.rtcp_candidate {
                        let p2 = p
                            .checked_add(1)
                            .ok_or_else(|| Error::at(ErrorKind::RelayPort, body, at))?;
                        let prio2 = prio.saturating_sub(1);
                        let _ = write!(
                            s,
                            "a=candidate:{f} 2 UDP {prio2} {ip} {p2} typ relay raddr {ip} rport {p2}{eol}"
                        );
                    }
                    pl.push(at, 0, s.into_bytes());
                }
            }
        }
        normalize(pl.edits, body)
    }
}

/// Sorts edits by offset (stable: insertion order kept at one offset), merges insertions at
/// one offset, and checks that nothing overlaps or lies outside the body.
fn normalize(mut edits: Vec<Edit>, body: &[u8]) -> Result<Vec<Edit>, Error> {
    edits.sort_by_key(|e| e.offset);
    let mut out: Vec<Edit> = Vec::with_capacity(edits.len());
    for e in edits {
        let end = e.offset.checked_add(e.delete);
        if !end.is_some_and(|end| end <= body.len()) {
            return Err(Error::at(ErrorKind::Internal, body, e.offset));
        }
        match out.last_mut() {
            Some(prev) if prev.offset == e.offset && prev.delete == 0 => {
                prev.delete = e.delete;
                prev.insert.extend_from_slice(&e.insert);
            }
            Some(prev) if prev.offset + prev.delete > e.offset => {
                return Err(Error::at(ErrorKind::Internal, body, e.offset));
            }
            _ => out.push(e),
        }
    }
    Ok(out)
}

/// Applies edits to `input` and returns the result. Edits must be sorted and must not
/// overlap (as [`Sdp::plan`] returns them); one that does not fit (out of order, overlapping,
/// beyond the input) is skipped rather than trusted. No edits: a copy of the input.
pub fn apply(input: &[u8], edits: &[Edit]) -> Vec<u8> {
    let grow: usize = edits.iter().map(|e| e.insert.len()).sum();
    let mut out = Vec::with_capacity(input.len().saturating_add(grow));
    let mut pos = 0usize;
    for e in edits {
        let Some(end) = e.offset.checked_add(e.delete) else {
            continue;
        };
        if e.offset < pos || end > input.len() {
            continue;
        }
        out.extend_from_slice(input.get(pos..e.offset).unwrap_or(&[]));
        out.extend_from_slice(&e.insert);
        pos = end;
    }
    out.extend_from_slice(input.get(pos..).unwrap_or(&[]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn foundation_matches_c_module() {
        assert_eq!(
            ice_foundation(&IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5))),
            "R57100cb"
        );
        let v6: Ipv6Addr = "2001:db8::77".parse().unwrap();
        // words LE: 0xb80d0120, 0, 0, 0x77000000
        assert_eq!(ice_foundation(&IpAddr::V6(v6)), "Rcf0d0120");
    }

    #[test]
    fn priorities() {
        assert_eq!(IcePriority::High.priority(), Some(2197815295));
        assert_eq!(IcePriority::Low.priority(), Some(16777215));
        assert_eq!(IcePriority::None.priority(), None);
    }

    #[test]
    fn apply_skips_bad_edits() {
        let e = |offset, delete, insert: &[u8]| Edit {
            offset,
            delete,
            insert: insert.to_vec(),
        };
        assert_eq!(apply(b"hello", &[]), b"hello");
        assert_eq!(apply(b"hello", &[e(1, 3, b"EY"), e(5, 0, b"!")]), b"hEYo!");
        assert_eq!(apply(b"hello", &[e(3, 1, b"x"), e(1, 1, b"y")]), b"helxo");
        assert_eq!(
            apply(b"hello", &[e(4, 9, b"x"), e(usize::MAX, 2, b"")]),
            b"hello"
        );
    }
}
