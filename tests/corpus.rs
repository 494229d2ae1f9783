//! Every file of the shared corpus (`../shared/corpus`): SIP scanning, SDP parsing, the
//! identity rewrite and real rewrites (IPv4 and IPv6 relay), checked line by line against an
//! independent, token-based model of the rewrite rules.

mod shared_corpus;

use std::collections::BTreeSet;
use std::net::IpAddr;

use mediaproxy::media::RelayAnswer;
use mediaproxy::sdp::{apply, IcePriority, RewriteOptions, Sdp};
use mediaproxy::sip::SipMsg;

/// Whether the corpus is there (else the test says SKIPPED; CI requires it).
fn corpus_present(test: &str) -> bool {
    shared_corpus::dir("", test).is_some()
}

/// Every file of the corpus's `sub` directory (present: checked first by each test).
fn files(sub: &str) -> Vec<(String, Vec<u8>)> {
    shared_corpus::files(sub, sub).unwrap_or_default()
}

/// SIP files the scanner must reject.
const SIP_ERRORS: &[&str] = &[
    "kamailio-malformed-request-line.sip", // version SIP/2.0/UDP
    "pjproject-fuzzseed-bare-cr-line-ends.sip", // CR without LF
    "pjproject-fuzzseed-intmeth-truncated.sip", // To cut inside a quoted string
    "resiprocate-rfc4475-ltgtruri.sip",    // <> around the Request-URI
    "resiprocate-rfc4475-lwsruri.sip",     // LWS inside the Request-URI
    "resiprocate-rfc4475-mcl01.sip",       // two different Content-Length values
    "resiprocate-rfc4475-ncl.sip",         // negative Content-Length
    "resiprocate-rfc4475-quotbal.sip",     // unterminated quoted display name
    "resiprocate-rfc4475-scalar02.sip",    // CSeq beyond 32 bits
    "resiprocate-rfc4475-scalarlg.sip",    // CSeq beyond 32 bits (reply)
];

/// SDP bodies (files in sdp/, or bodies inside sip/) the parser must reject.
const SDP_ERRORS: &[&str] = &[
    "pjproject-fuzzseed-corrupted-bytes.sdp", // m= port is "RTP/AVP"
    "sdptransform-invalid.sdp",               // a=rtcp:1 IN IP7 X
    "webrtcrs-media-out-of-order-lines.sdp",  // m=video without any c=
    "webrtcrs-no-c-line-anywhere-k-prompt.sdp", // no c= at all
    "pjproject-sendto-sdp-empty-values.sip",  // empty c=
];

fn at(buf: &[u8], off: usize, len: usize) -> &[u8] {
    &buf[off..off + len]
}

#[test]
fn sip_files_scan_or_fail_as_expected() {
    if !corpus_present("sip_files_scan_or_fail_as_expected") {
        return;
    }
    let all = files("sip");
    assert!(all.len() >= 100, "corpus has {} SIP files", all.len());
    let mut with_sdp = 0;
    let mut in_multipart = BTreeSet::new();
    for (name, buf) in &all {
        let res = SipMsg::scan(buf);
        let expect_err = SIP_ERRORS.contains(&name.as_str());
        match res {
            Err(e) => {
                assert!(expect_err, "{name}: unexpected error {e}");
                assert!(e.offset <= buf.len(), "{name}");
                assert!(buf[e.offset..].starts_with(e.excerpt.as_bytes()), "{name}");
            }
            Ok(m) => {
                assert!(!expect_err, "{name}: scanned but should fail");
                if let Some(v) = m.top_via() {
                    assert_eq!(at(buf, v.host.offset, v.host.bytes.len()), v.host.bytes);
                }
                if let Some(c) = m.first_contact() {
                    assert_eq!(at(buf, c.uri.offset, c.uri.bytes.len()), c.uri.bytes);
                    if let Some(h) = c.host {
                        assert_eq!(at(buf, h.offset, h.bytes.len()), h.bytes, "{name}");
                        assert!(c.uri.bytes.windows(h.bytes.len()).any(|w| w == h.bytes));
                    }
                    if let Some(p) = c.port {
                        assert_eq!(at(buf, p.offset, p.bytes.len()), p.bytes);
                        assert_eq!(
                            std::str::from_utf8(p.bytes).unwrap().parse::<u16>().ok(),
                            c.port_value
                        );
                    }
                }
                if let Some((off, b)) = m.body() {
                    assert_eq!(at(buf, off, b.len()), b);
                    assert!(off >= m.headers_end());
                }
                if let Some((off, s)) = m.sdp_body() {
                    with_sdp += 1;
                    assert_eq!(at(buf, off, s.len()), s);
                    let (boff, b) = m.body().unwrap();
                    assert!(off >= boff && off + s.len() <= boff + b.len(), "{name}");
                    if off != boff {
                        in_multipart.insert(name.as_str());
                    }
                }
            }
        }
    }
    // 49 messages carry SDP: 45 as the whole body, 4 inside multipart/mixed.
    assert_eq!(with_sdp, 49);
    assert_eq!(
        in_multipart.into_iter().collect::<Vec<_>>(),
        [
            "pjproject-fuzzseed-multipart-mixed-sdp-lf.sip",
            "pjproject-sendto-multipart-mixed-sdp.sip",
            "pjproject-sendto-multipart-preamble-epilogue.sip",
            "sipp-invite-multipart-sdp.sip",
        ]
    );
}

/// Every parseable SDP in the corpus, with its name.
fn sdp_bodies() -> Vec<(String, Vec<u8>)> {
    let mut out = files("sdp");
    for (name, buf) in files("sip") {
        if let Ok(m) = SipMsg::scan(&buf) {
            if let Some((_, s)) = m.sdp_body() {
                out.push((name, s.to_vec()));
            }
        }
    }
    out
}

#[test]
fn sdp_bodies_parse_or_fail_as_expected_and_identity_is_exact() {
    if !corpus_present("sdp_bodies_parse_or_fail_as_expected_and_identity_is_exact") {
        return;
    }
    let mut parsed = 0;
    let mut seen_err = BTreeSet::new();
    for (name, body) in sdp_bodies() {
        match Sdp::parse(&body) {
            Err(e) => {
                assert!(SDP_ERRORS.contains(&name.as_str()), "{name}: {e}");
                assert!(body[e.offset.min(body.len())..].starts_with(e.excerpt.as_bytes()));
                seen_err.insert(name);
            }
            Ok(p) => {
                assert!(!SDP_ERRORS.contains(&name.as_str()), "{name} parsed");
                parsed += 1;
                assert_eq!(apply(&body, &[]), body, "{name}");
                let none = RelayAnswer {
                    ip: "203.0.113.77".parse().unwrap(),
                    ports: vec![0; p.sdp.relay_streams().len()],
                };
                let edits = p.sdp.plan(&none, &RewriteOptions::default()).unwrap();
                assert!(edits.is_empty(), "{name}: {edits:?}");
                assert_eq!(apply(&body, &edits), body);
            }
        }
    }
    assert_eq!(seen_err.len(), SDP_ERRORS.len(), "{seen_err:?}");
    assert_eq!(parsed, 80 - 4 + 49 - 1);
}

// ----- an independent model of the rewrite, line by line ---------------------------------

struct Line<'a> {
    content: &'a [u8],
    eol: &'a [u8],
}

fn split_lines(b: &[u8]) -> Vec<Line<'_>> {
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
fn expected(body: &[u8], ip: IpAddr, ice: bool) -> Vec<u8> {
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

fn check_rewrite(ip: &str, ice: IcePriority) {
    let ip: IpAddr = ip.parse().unwrap();
    let mut rewritten = 0;
    let mut changed_lines = 0;
    for (name, body) in sdp_bodies() {
        let Ok(p) = Sdp::parse(&body) else { continue };
        let streams = p.sdp.relay_streams();
        let ports: Vec<u16> = (0..streams.len()).map(|j| 40000 + 2 * j as u16).collect();
        let answer = RelayAnswer {
            ip,
            ports: ports.clone(),
        };
        let opts = RewriteOptions { ice_candidate: ice };
        let edits = p.sdp.plan(&answer, &opts).unwrap();
        for w in edits.windows(2) {
            assert!(w[0].offset + w[0].delete <= w[1].offset, "{name}: overlap");
            assert!(w[0].offset < w[1].offset, "{name}: two edits at one offset");
        }
        let out = apply(&body, &edits);
        let want = expected(&body, ip, ice != IcePriority::None);
        if out != want {
            let (o, w) = (split_lines(&out), split_lines(&want));
            for (a, b) in o.iter().zip(w.iter()) {
                assert_eq!(
                    (a.content.escape_ascii().to_string(), a.eol),
                    (b.content.escape_ascii().to_string(), b.eol),
                    "{name}"
                );
            }
            panic!("{name}: {} lines out, {} expected", o.len(), w.len());
        }
        if streams.iter().any(|s| s.port != 0) {
            assert!(out != body, "{name}: relayed streams but nothing changed");
        }
        changed_lines += split_lines(&body)
            .iter()
            .zip(split_lines(&out).iter())
            .filter(|(a, b)| a.content != b.content)
            .count();
        // Re-parse: every relayed stream now points at the relay (unless on hold / port 0).
        let again = Sdp::parse(&out).unwrap_or_else(|e| panic!("{name}: re-parse: {e}"));
        let new_streams = again.sdp.relay_streams();
        assert_eq!(new_streams.len(), streams.len(), "{name}");
        for ((old, new), &p) in streams.iter().zip(&new_streams).zip(&ports) {
            assert_eq!(new.media_type, old.media_type);
            assert_eq!(new.direction, old.direction);
            assert_eq!(new.ice, old.ice);
            if old.port == 0 {
                assert_eq!(new.port, 0, "{name}");
            } else {
                assert_eq!(new.port, p, "{name}");
            }
            let hold = old.addr == "0.0.0.0" || old.addr == "::";
            if hold {
                assert_eq!(new.addr, old.addr, "{name}");
            } else {
                assert_eq!(new.addr, ip.to_string(), "{name}");
            }
        }
        // Unsupported streams keep port and address.
        let old_other: Vec<_> = p
            .sdp
            .media
            .iter()
            .filter(|m| !m.is_supported())
            .map(|m| {
                (
                    m.port,
                    p.sdp.stream_connection(m).map(|c| c.addr.text.to_vec()),
                )
            })
            .collect();
        let new_other: Vec<_> = again
            .sdp
            .media
            .iter()
            .filter(|m| !m.is_supported())
            .map(|m| {
                (
                    m.port,
                    again.sdp.stream_connection(m).map(|c| c.addr.text.to_vec()),
                )
            })
            .collect();
        assert_eq!(old_other, new_other, "{name}");
        rewritten += 1;
    }
    assert_eq!(rewritten, 124);
    assert!(changed_lines > 200, "{changed_lines}");
}

#[test]
fn rewrite_every_sdp_ipv4_relay() {
    if !corpus_present("rewrite_every_sdp_ipv4_relay") {
        return;
    }
    check_rewrite("203.0.113.77", IcePriority::None);
}

#[test]
fn rewrite_every_sdp_ipv6_relay_with_ice_candidates() {
    if !corpus_present("rewrite_every_sdp_ipv6_relay_with_ice_candidates") {
        return;
    }
    check_rewrite("2001:db8::77", IcePriority::High);
}

#[test]
fn rewrite_every_sdp_ipv4_relay_with_ice_candidates() {
    if !corpus_present("rewrite_every_sdp_ipv4_relay_with_ice_candidates") {
        return;
    }
    check_rewrite("203.0.113.77", IcePriority::High);
}
