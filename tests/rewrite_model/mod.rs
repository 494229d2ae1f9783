//! An independent model of the SDP rewrite, line by line over whitespace tokens: what the
//! relay's address and ports make of each line (`tests/corpus.rs` compares the rewriter's
//! output with it for every test message).

use std::net::IpAddr;

pub struct Line<'a> {
    pub content: &'a [u8],
    pub eol: &'a [u8],
}

pub fn split_lines(b: &[u8]) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        match b[pos..].iter().position(|&c| c == b'\n') {
            Some(n) => {
                let lf = pos + n;
                let cr = lf > pos && b[lf - 1] == b'\r';
                let end = if cr { lf - 1 } else { lf };
                out.push(Line {
                    content: &b[pos..end],
                    eol: &b[end..=lf],
                });
                pos = lf + 1;
            }
            None => {
                out.push(Line {
                    content: &b[pos..],
                    eol: b"",
                });
                pos = b.len();
            }
        }
    }
    out
}

/// Whitespace tokens with their byte ranges.
fn toks(l: &[u8]) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut i = 0;
    while i < l.len() {
        while i < l.len() && (l[i] == b' ' || l[i] == b'\t') {
            i += 1;
        }
        let s = i;
        while i < l.len() && l[i] != b' ' && l[i] != b'\t' {
            i += 1;
        }
        if i > s {
            v.push((s, i));
        }
    }
    v
}

fn tok(l: &[u8], k: usize) -> &[u8] {
    toks(l).get(k).map_or(&[][..], |&(s, e)| &l[s..e])
}

/// `l` with token k replaced, every other byte kept.
fn replace(l: &[u8], subs: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let t = toks(l);
    let mut out = Vec::new();
    let mut pos = 0;
    for (k, new) in subs {
        let (s, e) = t[*k];
        out.extend_from_slice(&l[pos..s]);
        out.extend_from_slice(new);
        pos = e;
    }
    out.extend_from_slice(&l[pos..]);
    out
}

fn is_hold(addr_tok: &[u8]) -> bool {
    let a = addr_tok.split(|&b| b == b'/').next().unwrap();
    a == b"0.0.0.0" || a == b"::"
}

fn supported(proto: &[u8]) -> bool {
    [
        "RTP/AVP",
        "RTP/AVPF",
        "RTP/SAVP",
        "RTP/SAVPF",
        "UDP/TLS/RTP/SAVP",
        "UDP/TLS/RTP/SAVPF",
        "udptl",
        "udp",
    ]
    .iter()
    .any(|p| p.as_bytes().eq_ignore_ascii_case(proto))
}

fn starts_ci(l: &[u8], p: &str) -> bool {
    l.len() >= p.len() && l[..p.len()].eq_ignore_ascii_case(p.as_bytes())
}

/// What the rewrite must produce, computed from the lines alone.
pub fn expected(body: &[u8], ip: IpAddr, ice: bool) -> Vec<u8> {
    let lines = split_lines(body);
    let fam: &[u8] = if ip.is_ipv4() { b"IP4" } else { b"IP6" };
    let ip_s = ip.to_string().into_bytes();
    let eol: &[u8] = lines
        .iter()
        .find(|l| !l.content.iter().all(|&b| b == b' ' || b == b'\t'))
        .map(|l| {
            if l.eol.is_empty() {
                &b"\r\n"[..]
            } else {
                l.eol
            }
        })
        .unwrap();
    // block of each line: None = session, Some(k) = k-th media
    let mut block = Vec::new();
    let mut nm = 0usize;
    for l in &lines {
        if l.content.starts_with(b"m=") {
            nm += 1;
        }
        block.push(nm.checked_sub(1));
    }
    let in_block = |k: usize| {
        lines
            .iter()
            .zip(&block)
            .filter(move |(_, b)| **b == Some(k))
    };
    let session = || lines.iter().zip(&block).filter(|(_, b)| b.is_none());
    let mut port = vec![0u16; nm];
    let mut j = 0;
    for (k, p) in port.iter_mut().enumerate() {
        let m = in_block(k).next().unwrap().0.content;
        if supported(tok(m, 2)) {
            *p = 40000 + 2 * j as u16;
            j += 1;
        }
    }
    let own_c: Vec<bool> = (0..nm)
        .map(|k| in_block(k).any(|(l, _)| l.content.starts_with(b"c=")))
        .collect();
    let attr = |l: &Line, n: &str| {
        starts_ci(l.content, &format!("a={n}:")) && l.content.len() > n.len() + 3
    };
    let s_ufrag = session().any(|(l, _)| attr(l, "ice-ufrag"));
    let s_pwd = session().any(|(l, _)| attr(l, "ice-pwd"));
    let has_ice: Vec<bool> = (0..nm)
        .map(|k| {
            (s_ufrag || in_block(k).any(|(l, _)| attr(l, "ice-ufrag")))
                && (s_pwd || in_block(k).any(|(l, _)| attr(l, "ice-pwd")))
                && in_block(k).any(|(l, _)| starts_ci(l.content, "a=candidate:"))
        })
        .collect();
    let comp2: Vec<bool> = (0..nm)
        .map(|k| {
            in_block(k)
                .any(|(l, _)| starts_ci(l.content, "a=candidate:") && tok(l.content, 1) == b"2")
        })
        .collect();
    let sc_idx = lines
        .iter()
        .zip(&block)
        .position(|(l, b)| b.is_none() && l.content.starts_with(b"c="));
    // Session c= decision.
    let mut drop_sc = false;
    let mut replace_sc = false;
    if let Some(i) = sc_idx {
        if !is_hold(tok(&lines[i].content[2..], 2)) {
            let deps: Vec<usize> = (0..nm).filter(|&k| !own_c[k]).collect();
            let nrel = deps.iter().filter(|&&k| port[k] != 0).count();
            if deps.is_empty() {
                replace_sc = nm > 0 && port.iter().all(|&p| p != 0);
            } else if nrel == deps.len() {
                replace_sc = true;
            } else if nrel > 0 {
                drop_sc = true;
            }
        }
    }
    let c_value_subs = |c: &[u8]| -> Vec<(usize, Vec<u8>)> {
        // tokens of the whole line: "c=IN", addrtype, address
        let mut s = Vec::new();
        if !tok(c, 1).eq_ignore_ascii_case(fam) {
            s.push((1, fam.to_vec()));
        }
        s.push((2, ip_s.clone()));
        s
    };
    let mut out = Vec::new();
    let mut seen_cand = vec![false; nm];
    for (i, (l, b)) in lines.iter().zip(&block).enumerate() {
        let c = l.content;
        let mut new = c.to_vec();
        match b {
            None => {
                if Some(i) == sc_idx && drop_sc {
                    continue;
                }
                if Some(i) == sc_idx && replace_sc {
                    new = replace(c, &c_value_subs(c));
                }
            }
            Some(k) => {
                let k = *k;
                let p = port[k];
                if p != 0 {
                    if c.starts_with(b"m=") {
                        let pt = tok(c, 1);
                        let (digits, count) = match pt.iter().position(|&x| x == b'/') {
                            Some(s) => (&pt[..s], Some(&pt[s..])),
                            None => (pt, None),
                        };
                        if digits != b"0" && digits.iter().any(|&d| d != b'0') {
                            let mut np = p.to_string().into_bytes();
                            if count == Some(b"/1") {
                                np.extend_from_slice(b"/1");
                            }
                            new = replace(c, &[(1, np)]);
                        }
                    } else if c.starts_with(b"c=") && !is_hold(tok(c, 2)) {
                        new = replace(c, &c_value_subs(c));
                    } else if starts_ci(c, "a=rtcp:") {
                        let first = tok(c, 0);
                        let rport = &first[7..];
                        let mut subs = Vec::new();
                        if rport.iter().any(|&d| d != b'0') {
                            subs.push((
                                0,
                                format!("{}{}", String::from_utf8_lossy(&first[..7]), p + 1)
                                    .into_bytes(),
                            ));
                        }
                        if toks(c).len() == 4 {
                            if !tok(c, 2).eq_ignore_ascii_case(fam) {
                                subs.push((2, fam.to_vec()));
                            }
                            subs.push((3, ip_s.clone()));
                        }
                        new = replace(c, &subs);
                    } else if ice && has_ice[k] && !seen_cand[k] && starts_ci(c, "a=candidate:") {
                        seen_cand[k] = true;
                        let f = mediaproxy::sdp::ice_foundation(&ip);
                        let ip = ip.to_string();
                        out.extend_from_slice(format!("a=candidate:{f} 1 UDP 2197815295 {ip} {p} typ relay raddr {ip} rport {p}").as_bytes());
                        out.extend_from_slice(eol);
                        if comp2[k] {
                            let p2 = p + 1;
                            out.extend_from_slice(format!("a=candidate:{f} 2 UDP 2197815294 {ip} {p2} typ relay raddr {ip} rport {p2}").as_bytes());
                            out.extend_from_slice(eol);
                        }
                    }
                }
            }
        }
        out.extend_from_slice(&new);
        out.extend_from_slice(l.eol);
        if let (Some(k), true) = (b, c.starts_with(b"m=")) {
            if drop_sc && !own_c[*k] {
                let sc = lines[sc_idx.unwrap()].content;
                let ins: Vec<u8> = if port[*k] != 0 {
                    let mut v = b"c=IN ".to_vec();
                    v.extend_from_slice(fam);
                    v.push(b' ');
                    v.extend_from_slice(&ip_s);
                    v
                } else {
                    sc.to_vec()
                };
                if l.eol.is_empty() {
                    out.extend_from_slice(eol);
                    out.extend_from_slice(&ins);
                } else {
                    out.extend_from_slice(&ins);
                    out.extend_from_slice(eol);
                }
            }
        }
    }
    out
}
