//! The edit-to-lump translation (`host::common::splice`) against the model of how the cores
//! count and write lumps: whatever region and edits come in, a planned splice lies inside the
//! region, deletes at least one byte, starts before the region's end, makes exactly the bytes
//! the edits mean, and every core path (OpenSIPS with the body unparsed or parsed, Kamailio)
//! computes the length it writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediaproxy::host::common::splice::model::{rebuild, Lump, Path};
use mediaproxy::host::common::splice::plan;
use mediaproxy::script::Edit;

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let (head, rest) = data.split_at(5);
    let n_edits = (head[4] % 8) as usize;
    if rest.len() < n_edits * 3 {
        return;
    }
    let (spec, tail) = rest.split_at(n_edits * 3);
    // the inserted texts come from the tail's start, the buffer is the whole tail
    let buf = tail;
    let len = buf.len();
    let a = u16::from_le_bytes([head[0], head[1]]) as usize % (len + 1);
    let b = u16::from_le_bytes([head[2], head[3]]) as usize % (len + 1);
    let region = a.min(b)..a.max(b);
    let mut edits = Vec::new();
    let mut at = region.start;
    for e in spec.chunks(3) {
        at += e[0] as usize % 8;
        let delete = e[1] as usize % 6;
        let ins = e[2] as usize % 5;
        edits.push(Edit {
            offset: at,
            delete,
            insert: buf[..ins.min(len)].to_vec(),
        });
        at += delete;
    }
    let naive = {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut ok = true;
        for e in &edits {
            if e.offset < pos || e.offset + e.delete > len {
                ok = false;
                break;
            }
            out.extend_from_slice(&buf[pos..e.offset]);
            out.extend_from_slice(&e.insert);
            pos = e.offset + e.delete;
        }
        ok.then(|| {
            out.extend_from_slice(&buf[pos..]);
            out
        })
    };
    match plan(buf, &edits, region.clone()) {
        Ok(None) => assert_eq!(naive.as_deref(), Some(buf)),
        Ok(Some(s)) => {
            let naive = naive.expect("a planned splice comes from valid edits");
            assert!(s.delete >= 1);
            assert!(s.offset >= region.start && s.offset < region.end);
            assert!(s.offset + s.delete <= region.end);
            assert_eq!(s.apply_to(buf), naive);
            let lumps = [Lump {
                offset: s.offset,
                delete: s.delete,
                insert: s.insert.clone(),
            }];
            let tail_len = len - region.end;
            for path in [Path::OpensipsUnparsed, Path::OpensipsParsed, Path::Kamailio] {
                let (computed, written) = rebuild(buf, &lumps, region.clone(), path);
                let written = written.expect("no negative copy");
                assert_eq!(computed, written.len() as isize, "{path:?}");
                let want = match path {
                    Path::Kamailio => &naive[region.start..],
                    _ => &naive[region.start..naive.len() - tail_len],
                };
                assert_eq!(written, want, "{path:?}");
            }
        }
        Err(_) => {}
    }
});
