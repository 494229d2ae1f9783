//! Every test message — the repository's own (`tests/messages/`, always) and the external
//! corpus's (`MPX_CORPUS`, by default `../shared/corpus`, when it is there): SIP scanning, SDP
//! parsing, the identity rewrite and real rewrites (IPv4 and IPv6 relay), checked line by line
//! against an independent, token-based model of the rewrite rules. Each set has its exact
//! figures (messages with SDP, bodies parsed, bodies rewritten), so a message that stops doing
//! what it was chosen for fails the test.

mod rewrite_model;
mod shared_corpus;

use std::collections::BTreeSet;
use std::net::IpAddr;

use mediaproxy::media::RelayAnswer;
use mediaproxy::sdp::{apply, IcePriority, RewriteOptions, Sdp};
use mediaproxy::sip::SipMsg;
use rewrite_model::{expected, split_lines};

/// One set of messages and what it must do.
struct Set {
    name: &'static str,
    sip: Vec<(String, Vec<u8>)>,
    sdp: Vec<(String, Vec<u8>)>,
    sip_error: fn(&str) -> bool,
    sdp_error: fn(&str) -> bool,
    /// messages carrying SDP, and those of them with it inside a multipart body
    with_sdp: usize,
    in_multipart: &'static [&'static str],
    /// SDP bodies parsed (sdp/ files and bodies inside sip/ messages)
    parsed: usize,
}

/// The own messages (always), then the external corpus (when it is there).
fn sets(test: &str) -> Vec<Set> {
    let mut v = vec![Set {
        name: "own",
        sip: shared_corpus::own("sip"),
        sdp: shared_corpus::own("sdp"),
        sip_error: |n| n.starts_with("bad-sip-"),
        sdp_error: |n| n.starts_with("bad-sdp-"),
        with_sdp: OWN_WITH_SDP,
        in_multipart: &[
            "invite-multipart-lf-only.sip",
            "invite-multipart-mixed-sdp.sip",
        ],
        parsed: OWN_PARSED,
    }];
    if shared_corpus::dir("", test).is_some() {
        let (sip, sdp) = (
            shared_corpus::files("sip", test).unwrap_or_default(),
            shared_corpus::files("sdp", test).unwrap_or_default(),
        );
        assert!(
            sip.len() >= 100,
            "external corpus has {} SIP files",
            sip.len()
        );
        v.push(Set {
            name: "external",
            sip,
            sdp,
            sip_error: |n| SIP_ERRORS.contains(&n),
            sdp_error: |n| SDP_ERRORS.contains(&n),
            // 49 messages carry SDP: 45 as the whole body, 4 inside multipart/mixed.
            with_sdp: 49,
            in_multipart: &[
                "pjproject-fuzzseed-multipart-mixed-sdp-lf.sip",
                "pjproject-sendto-multipart-mixed-sdp.sip",
                "pjproject-sendto-multipart-preamble-epilogue.sip",
                "sipp-invite-multipart-sdp.sip",
            ],
            parsed: 80 - 4 + 49 - 1,
        });
    }
    v
}

/// Own messages: 29 of the 42 SIP messages carry SDP (2 in multipart bodies; 8 are `bad-sip-*`,
/// 5 have no SDP); 34 of the 39 SDP files and 28 of those bodies parse (`bad-sdp-*` do not).
const OWN_WITH_SDP: usize = 29;
const OWN_PARSED: usize = 34 + 28;

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
    for set in sets("sip_files_scan_or_fail_as_expected") {
        check_sip(&set);
    }
}

fn check_sip(set: &Set) {
    let mut with_sdp = 0;
    let mut in_multipart = BTreeSet::new();
    let mut errors = 0;
    for (name, buf) in &set.sip {
        let res = SipMsg::scan(buf);
        let expect_err = (set.sip_error)(name);
        match res {
            Err(e) => {
                assert!(expect_err, "{name}: unexpected error {e}");
                assert!(e.offset <= buf.len(), "{name}");
                assert!(buf[e.offset..].starts_with(e.excerpt.as_bytes()), "{name}");
                errors += 1;
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
    let n = set.name;
    assert!(errors > 0, "{n}: no malformed message");
    assert_eq!(with_sdp, set.with_sdp, "{n}: messages with SDP");
    assert_eq!(
        in_multipart.into_iter().collect::<Vec<_>>(),
        set.in_multipart,
        "{n}"
    );
}

/// Every SDP of a set (its sdp/ files and the bodies inside its sip/ messages), with its name.
fn sdp_bodies(set: &Set) -> Vec<(String, Vec<u8>)> {
    let mut out = set.sdp.clone();
    for (name, buf) in &set.sip {
        if let Ok(m) = SipMsg::scan(buf) {
            if let Some((_, s)) = m.sdp_body() {
                out.push((name.clone(), s.to_vec()));
            }
        }
    }
    out
}

#[test]
fn sdp_bodies_parse_or_fail_as_expected_and_identity_is_exact() {
    for set in sets("sdp_bodies_parse_or_fail_as_expected_and_identity_is_exact") {
        check_sdp(&set);
    }
}

fn check_sdp(set: &Set) {
    let mut parsed = 0;
    let mut seen_err = BTreeSet::new();
    for (name, body) in sdp_bodies(set) {
        match Sdp::parse(&body) {
            Err(e) => {
                assert!((set.sdp_error)(&name), "{name}: {e}");
                assert!(body[e.offset.min(body.len())..].starts_with(e.excerpt.as_bytes()));
                seen_err.insert(name);
            }
            Ok(p) => {
                assert!(!(set.sdp_error)(&name), "{name} parsed");
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
    let expected_errors = set
        .sdp
        .iter()
        .chain(&set.sip)
        .filter(|(n, _)| (set.sdp_error)(n))
        .count();
    assert_eq!(
        seen_err.len(),
        expected_errors,
        "{}: {seen_err:?}",
        set.name
    );
    assert_eq!(parsed, set.parsed, "{}: bodies parsed", set.name);
}

#[test]
fn own_malformed_sdp_fail_where_they_are_broken() {
    use mediaproxy::sdp::ErrorKind;
    let cases: &[(&str, ErrorKind, &[u8])] = &[
        (
            "bad-sdp-corrupted-bytes.sdp",
            ErrorKind::BadMedia,
            b"\xff9700 RTP/AVP 0",
        ),
        (
            "bad-sdp-no-c-anywhere.sdp",
            ErrorKind::MissingConnection,
            b"m=audio 9500 RTP/AVP 0",
        ),
        (
            "bad-sdp-port-not-a-number.sdp",
            ErrorKind::BadMedia,
            b"RTP/AVP 0",
        ),
        (
            "bad-sdp-rtcp-unknown-addrtype.sdp",
            ErrorKind::BadRtcp,
            b"IP9 somewhere",
        ),
        (
            "bad-sdp-second-stream-without-c.sdp",
            ErrorKind::MissingConnection,
            b"m=video 9602 RTP/AVP 96",
        ),
    ];
    let bad = shared_corpus::own("sdp")
        .into_iter()
        .filter(|(n, _)| n.starts_with("bad-sdp-"))
        .count();
    assert_eq!(bad, cases.len(), "every bad-sdp-* body has its case");
    for &(name, kind, excerpt) in cases {
        let body = shared_corpus::own_file("sdp", name);
        let e = Sdp::parse(&body)
            .err()
            .unwrap_or_else(|| panic!("{name} parsed"));
        assert_eq!(e.kind, kind, "{name}");
        assert_eq!(e.excerpt.as_bytes(), excerpt, "{name}");
        assert!(body[e.offset..].starts_with(excerpt), "{name}");
    }
    // an empty c= inside a SIP message that scans
    let msg = shared_corpus::own_file("sip", "bad-sdp-in-invite-empty-c.sip");
    let m = SipMsg::scan(&msg).unwrap();
    let Err(e) = Sdp::parse(m.sdp_body().unwrap().1) else {
        panic!("empty c= parsed");
    };
    assert_eq!(e.kind, ErrorKind::BadConnection);
}

fn check_rewrite(test: &str, ip: &str, ice: IcePriority) {
    for set in sets(test) {
        let (rewritten, changed_lines) = rewrite_set(&set, ip, ice);
        // every body that parses is rewritten; the external corpus has 124 of them
        assert_eq!(rewritten, set.parsed, "{}", set.name);
        if set.name == "external" {
            assert_eq!(rewritten, 124);
            assert!(changed_lines > 200, "{changed_lines}");
        } else {
            assert!(changed_lines > 2 * rewritten, "{changed_lines}");
        }
    }
}

/// Rewrites every SDP of a set; (bodies rewritten, lines changed).
fn rewrite_set(set: &Set, ip: &str, ice: IcePriority) -> (usize, usize) {
    let ip: IpAddr = ip.parse().unwrap();
    let mut rewritten = 0;
    let mut changed_lines = 0;
    for (name, body) in sdp_bodies(set) {
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
    (rewritten, changed_lines)
}

#[test]
fn rewrite_every_sdp_ipv4_relay() {
    check_rewrite(
        "rewrite_every_sdp_ipv4_relay",
        "203.0.113.77",
        IcePriority::None,
    );
}

#[test]
fn rewrite_every_sdp_ipv6_relay_with_ice_candidates() {
    check_rewrite(
        "rewrite_every_sdp_ipv6_relay_with_ice_candidates",
        "2001:db8::77",
        IcePriority::High,
    );
}

#[test]
fn rewrite_every_sdp_ipv4_relay_with_ice_candidates() {
    check_rewrite(
        "rewrite_every_sdp_ipv4_relay_with_ice_candidates",
        "203.0.113.77",
        IcePriority::High,
    );
}
