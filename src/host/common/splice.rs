//! Byte edits as the one host change that every core rebuilds exactly: the translation from
//! the script layer's [`Edit`]s to lumps, host-independent so that it can be tested and
//! fuzzed against a model of the cores' rules ([`model`]).
//!
//! # The cores' rules this relies on
//! Read in OpenSIPS 4.0.1 and 3.6.8 (`data_lump.c`, `msg_translator.c` and
//! `parser/msg_parser.h`, identical in both) and Kamailio 5.6 (`core/data_lump.c`,
//! `core/msg_translator.c`):
//!
//! - **R1 (filing).** `del_lump()`/`anchor_lump()` file a lump under the body
//!   (`msg->body_lumps`) when its offset is past `msg->eoh`, else under the headers
//!   (`msg->add_rm`). Headers must be parsed to the end first (`parse_headers(HDR_EOH_F)`).
//! - **R2 (the body).** The body the cores send is `get_body()`'s: from after the empty line
//!   (CRLF, or a lone LF/CR) to the smaller of Content-Length and the rest of the buffer; bytes
//!   after it are cut from the forwarded message (`build_req_buf_from_sip_req`,
//!   `build_res_buf_from_sip_res`: `len -= msg->buf + msg->len - body.s - body.len`).
//! - **R3 (the crash).** OpenSIPS sizes the new message with the body lumps counted by
//!   `lumps_len(.., max_offset = -1)` — every body lump — when the body was not parsed into
//!   parts (`calculate_body_diff`), but writes them with `process_lumps(.., max_offset = end of
//!   the body)`, whose loop stops at the first lump with `offset >= max_offset`
//!   (`apply_msg_changes`). A lump anchored exactly at the end of the body (an insert after the
//!   last line) is counted and not written: `len mismatch`, then `abort()` — the whole proxy
//!   goes down. Kamailio writes every body lump up to `msg->len` and has no such gap.
//! - **R4 (parsed bodies).** When a module parsed the body into parts (`msg->body`), OpenSIPS
//!   both counts and writes only the lumps with `part start <= offset < part end` of each kept
//!   part (`prep_reassemble_body_parts`, `reassemble_body_parts`; a part's end excludes the line
//!   end before the next delimiter); a lump outside is silently dropped, and a delete that
//!   reaches past the part's end makes the copy of the part's rest negative.
//! - **R5 (overlaps).** A lump whose offset lies inside an earlier delete is skipped unless it
//!   starts where that delete starts (`lumps_len`/`process_lumps`: "is this lump still
//!   valid?"). Several lumps of ours could meet this with another module's lumps.
//!
//! # The translation
//! Every change becomes **one delete lump of at least one byte** over the span from the first
//! changed byte to the last, with the whole replacement text inserted after it. The span lies
//! inside the region the core will rebuild (the body or the SDP part containing the edits, or
//! the header section), **starts before the region's end** and ends at or before it; an insert
//! at the very end is widened backwards to take the region's last byte along (and write it
//! again), an insert elsewhere forwards by one byte. Such a lump is counted and written alike
//! by every path above, whatever the anchor position, and one lump cannot meet itself under
//! R5. A region with no byte (an empty body) cannot carry a lump: refused.
//!
//! Anything the host's own check of the region finds wrong (edits outside it, a changed body
//! structure) refuses the whole change before any lump is made: a partial edit is never
//! applied.

use std::fmt;
use std::ops::Range;

use crate::script::Edit;

/// One replacement: delete `delete` (≥ 1) bytes at `offset`, insert `insert` after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pub offset: usize,
    pub delete: usize,
    pub insert: Vec<u8>,
}

impl Splice {
    /// The bytes `buf` becomes with this splice applied.
    pub fn apply_to(&self, buf: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(buf.len() + self.insert.len());
        out.extend_from_slice(&buf[..self.offset]);
        out.extend_from_slice(&self.insert);
        out.extend_from_slice(&buf[self.offset + self.delete..]);
        out
    }
}

/// Why edits cannot become a splice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpliceError {
    /// Edits overlap, are out of order, or overflow.
    Unordered,
    /// An edit lies (partly) outside the region the core rebuilds.
    OutsideRegion {
        offset: usize,
        len: usize,
        region: Range<usize>,
    },
    /// The region has no byte to anchor a lump at (an empty body).
    EmptyRegion,
    /// The region lies outside the message.
    BadRegion {
        region: Range<usize>,
        msg_len: usize,
    },
}

impl fmt::Display for SpliceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpliceError::Unordered => f.write_str("edits overlap or are not in order"),
            SpliceError::OutsideRegion {
                offset,
                len,
                region,
            } => write!(
                f,
                "edit at {offset}+{len} is outside the bytes the proxy rebuilds ({}..{})",
                region.start, region.end
            ),
            SpliceError::EmptyRegion => f.write_str("the part to change is empty"),
            SpliceError::BadRegion { region, msg_len } => write!(
                f,
                "the part to change ({}..{}) lies outside the message ({msg_len} bytes)",
                region.start, region.end
            ),
        }
    }
}

/// Plans the one splice that makes `edits` (ordered, non-overlapping, offsets into `buf`)
/// inside `region` of `buf`. `Ok(None)`: nothing changes (no edit, or the edits write back
/// the bytes they delete).
pub fn plan(
    buf: &[u8],
    edits: &[Edit],
    region: Range<usize>,
) -> Result<Option<Splice>, SpliceError> {
    if region.start > region.end || region.end > buf.len() {
        return Err(SpliceError::BadRegion {
            region,
            msg_len: buf.len(),
        });
    }
    let mut end = region.start;
    for e in edits {
        let stop = e
            .offset
            .checked_add(e.delete)
            .ok_or(SpliceError::Unordered)?;
        if e.offset < region.start || stop > region.end {
            return Err(SpliceError::OutsideRegion {
                offset: e.offset,
                len: e.delete,
                region,
            });
        }
        if e.offset < end {
            return Err(SpliceError::Unordered);
        }
        end = stop;
    }
    let (Some(first), Some(last)) = (edits.first(), edits.last()) else {
        return Ok(None);
    };
    if region.is_empty() {
        return Err(SpliceError::EmptyRegion);
    }
    let mut start = first.offset;
    let mut stop = last.offset + last.delete;
    // at least one byte, and never starting at the region's end (R3, R4)
    if start == region.end {
        start -= 1;
    } else if start == stop {
        stop += 1;
    }
    let mut insert =
        Vec::with_capacity(stop - start + edits.iter().map(|e| e.insert.len()).sum::<usize>());
    let mut at = start;
    for e in edits {
        insert.extend_from_slice(&buf[at..e.offset]);
        insert.extend_from_slice(&e.insert);
        at = e.offset + e.delete;
    }
    insert.extend_from_slice(&buf[at..stop]);
    if insert == buf[start..stop] {
        return Ok(None);
    }
    Ok(Some(Splice {
        offset: start,
        delete: stop - start,
        insert,
    }))
}

/// A model of how the cores count and write body lumps (the rules above), for tests and the
/// fuzz target: the lumps are `(offset, delete, insert)` in offset order, as the core keeps
/// them; `region` is what the core rebuilds. Returns `(computed length, written bytes)` for
/// one core path; the two must agree for the core not to abort.
pub mod model {
    use std::ops::Range;

    /// One lump as the core keeps it: a delete (`delete` > 0) or an anchor, with a text
    /// inserted after it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Lump {
        pub offset: usize,
        pub delete: usize,
        pub insert: Vec<u8>,
    }

    /// Which of the core's ways to rebuild a body.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Path {
        /// OpenSIPS, body not parsed into parts: counted with no limit, written up to the
        /// region's end (R3).
        OpensipsUnparsed,
        /// OpenSIPS, body parsed: counted and written within the part (R4).
        OpensipsParsed,
        /// Kamailio: counted and written up to the end of the message.
        Kamailio,
    }

    /// `lumps_len`: the size change of the lumps with `offset < max` (R5 skips included).
    fn count(lumps: &[Lump], max: usize) -> isize {
        let (mut s_offset, mut last_del, mut delta) = (0usize, 0usize, 0isize);
        for t in lumps.iter().take_while(|t| t.offset < max) {
            if t.offset < s_offset && t.offset != last_del {
                continue;
            }
            delta += t.insert.len() as isize;
            if t.delete > 0 {
                last_del = t.offset;
                if t.offset < s_offset {
                    if t.offset + t.delete > s_offset {
                        delta -= (t.delete - (s_offset - t.offset)) as isize;
                        s_offset = t.offset + t.delete;
                    }
                } else {
                    delta -= t.delete as isize;
                    s_offset = t.offset + t.delete;
                }
            }
        }
        delta
    }

    /// `process_lumps` from `from` up to `max`, then the copy of the rest up to `end`;
    /// `None` where the core would copy a negative length (memory corruption).
    fn write(buf: &[u8], lumps: &[Lump], from: usize, max: usize, end: usize) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut s_offset = from;
        let mut last_del = 0usize;
        for t in lumps.iter().take_while(|t| t.offset < max) {
            if t.offset < s_offset && t.offset != last_del {
                continue;
            }
            if t.offset >= s_offset {
                out.extend_from_slice(buf.get(s_offset..t.offset)?);
                s_offset = t.offset;
            }
            out.extend_from_slice(&t.insert);
            if t.delete > 0 {
                last_del = t.offset;
                s_offset = s_offset.max(t.offset + t.delete);
            }
        }
        out.extend_from_slice(buf.get(s_offset..end)?);
        Some(out)
    }

    /// What the core computes and writes for the region `region` of `buf` with `lumps` (all
    /// inside or around it): `(expected length, written)`, `written` `None` on a negative copy.
    pub fn rebuild(
        buf: &[u8],
        lumps: &[Lump],
        region: Range<usize>,
        path: Path,
    ) -> (isize, Option<Vec<u8>>) {
        let inside: Vec<Lump> = lumps
            .iter()
            .filter(|l| l.offset >= region.start)
            .cloned()
            .collect();
        let base = (region.end - region.start) as isize;
        match path {
            Path::OpensipsUnparsed => (
                base + count(&inside, usize::MAX),
                write(buf, &inside, region.start, region.end, region.end),
            ),
            Path::OpensipsParsed => (
                base + count(&inside, region.end),
                write(buf, &inside, region.start, region.end, region.end),
            ),
            Path::Kamailio => {
                let end = buf.len().max(region.end);
                (
                    (end - region.start) as isize + count(&inside, usize::MAX),
                    write(buf, &inside, region.start, usize::MAX, end),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::model::{rebuild, Lump, Path};
    use super::*;

    fn e(offset: usize, delete: usize, insert: &'static [u8]) -> Edit {
        Edit {
            offset,
            delete,
            insert: insert.to_vec(),
        }
    }

    /// What the edits mean: applied one by one to the region.
    fn naive(buf: &[u8], edits: &[Edit]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0;
        for x in edits {
            out.extend_from_slice(&buf[at..x.offset]);
            out.extend_from_slice(&x.insert);
            at = x.offset + x.delete;
        }
        out.extend_from_slice(&buf[at..]);
        out
    }

    fn check_all_paths(buf: &[u8], region: Range<usize>, lumps: &[Lump]) -> Vec<Vec<u8>> {
        let mut outs = Vec::new();
        for path in [Path::OpensipsUnparsed, Path::OpensipsParsed, Path::Kamailio] {
            let (len, written) = rebuild(buf, lumps, region.clone(), path);
            let written = written.expect("no negative copy");
            assert_eq!(len, written.len() as isize, "{path:?}: len mismatch");
            outs.push(written);
        }
        outs
    }

    #[test]
    fn an_insert_at_the_end_widens_backwards() {
        let buf = b"HDR\r\n\r\nv=0\r\nm=audio 1 RTP/AVP 0\r\n";
        let region = 7..buf.len();
        let edits = [e(buf.len(), 0, b"c=IN IP4 1.2.3.4\r\n")];
        let s = plan(buf, &edits, region.clone()).unwrap().unwrap();
        assert_eq!((s.offset, s.delete), (buf.len() - 1, 1));
        assert_eq!(s.insert, b"\nc=IN IP4 1.2.3.4\r\n");
        assert_eq!(s.apply_to(buf), naive(buf, &edits));
        let lumps = [Lump {
            offset: s.offset,
            delete: s.delete,
            insert: s.insert.clone(),
        }];
        for out in check_all_paths(buf, region.clone(), &lumps) {
            assert_eq!(out, naive(buf, &edits)[7..]);
        }
    }

    #[test]
    fn the_old_anchor_at_the_end_miscounts_in_opensips() {
        // what the module did before: an anchor lump at the end of the body
        let buf = b"HDR\r\n\r\nv=0\r\n";
        let lumps = [Lump {
            offset: buf.len(),
            delete: 0,
            insert: b"c=x\r\n".to_vec(),
        }];
        let (len, written) = rebuild(buf, &lumps, 7..buf.len(), Path::OpensipsUnparsed);
        assert_ne!(len, written.unwrap().len() as isize);
    }

    #[test]
    fn edits_become_one_span() {
        let buf = b"0123456789";
        let edits = [e(1, 2, b"x"), e(5, 0, b"y"), e(6, 1, b"")];
        let s = plan(buf, &edits, 0..10).unwrap().unwrap();
        assert_eq!((s.offset, s.delete), (1, 6));
        assert_eq!(s.insert, b"x34y5");
        assert_eq!(s.apply_to(buf), b"0x34y5789");
        // a pure insert in the middle takes the next byte along
        let s = plan(buf, &[e(4, 0, b"ab")], 2..8).unwrap().unwrap();
        assert_eq!((s.offset, s.delete, &s.insert[..]), (4, 1, &b"ab4"[..]));
        // no change at all
        assert_eq!(plan(buf, &[e(4, 2, b"45")], 0..10), Ok(None));
        assert_eq!(plan(buf, &[], 0..10), Ok(None));
    }

    #[test]
    fn refusals() {
        let buf = b"0123456789";
        assert_eq!(
            plan(buf, &[e(1, 2, b""), e(2, 1, b"")], 0..10),
            Err(SpliceError::Unordered)
        );
        assert!(matches!(
            plan(buf, &[e(8, 3, b"")], 0..10),
            Err(SpliceError::OutsideRegion { .. })
        ));
        assert!(matches!(
            plan(buf, &[e(1, 1, b"")], 2..10),
            Err(SpliceError::OutsideRegion { .. })
        ));
        assert_eq!(
            plan(buf, &[e(10, 0, b"x")], 10..10),
            Err(SpliceError::EmptyRegion)
        );
        assert!(matches!(
            plan(buf, &[e(1, 1, b"")], 5..11),
            Err(SpliceError::BadRegion { .. })
        ));
        assert_eq!(
            plan(buf, &[e(usize::MAX, 2, b"")], 0..10),
            Err(SpliceError::Unordered)
        );
    }

    #[test]
    fn every_anchor_position_rebuilds_alike() {
        let buf = b"H: 1\r\n\r\nab\r\ncd\r\n";
        let region = 8..buf.len();
        for at in region.clone().chain(std::iter::once(region.end)) {
            for del in 0..=(region.end - at) {
                let edits = [e(at, del, b"XY")];
                let Some(s) = plan(buf, &edits, region.clone()).unwrap() else {
                    continue;
                };
                assert!(s.offset >= region.start && s.offset < region.end && s.delete >= 1);
                let lumps = [Lump {
                    offset: s.offset,
                    delete: s.delete,
                    insert: s.insert,
                }];
                for out in check_all_paths(buf, region.clone(), &lumps) {
                    assert_eq!(out, naive(buf, &edits)[8..], "at {at} del {del}");
                }
            }
        }
    }
}
