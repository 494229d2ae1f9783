//! SIP scanning: exact values from the repository's own messages (`tests/messages/sip`), from
//! the external corpus's when it is there, and synthetic edge cases.

use mediaproxy::sip::{ErrorKind, Kind, Method, SipMsg, Warnings};

mod shared_corpus;

/// One of the repository's own SIP messages.
fn own(name: &str) -> &'static [u8] {
    Vec::leak(shared_corpus::own_file("sip", name))
}

/// A SIP message of the external corpus; `None` (SKIPPED) when the corpus is not there.
fn corpus(name: &str) -> Option<&'static [u8]> {
    shared_corpus::file("sip", name, name).map(|b| &*Vec::leak(b))
}

fn s(b: Option<&[u8]>) -> Option<&str> {
    b.map(|b| std::str::from_utf8(b).unwrap())
}

#[test]
fn rfc4475_wsinv_tortuous_invite() {
    let Some(buf) = corpus("resiprocate-rfc4475-wsinv.sip") else {
        return;
    };
    let m = SipMsg::scan(buf).unwrap();
    assert!(matches!(
        m.kind(),
        Kind::Request { method: Method::Invite, uri, .. } if uri == b"sip:vivekg@chair-dnrc.example.com;unknownparam"
    ));
    assert_eq!(s(m.to_uri()), Some("sip:vivekg@chair-dnrc.example.com"));
    assert_eq!(s(m.to_tag()), Some("1918181833n"));
    assert_eq!(s(m.from_uri()), Some("sip:jdrosen@example.com"));
    assert_eq!(s(m.from_tag()), Some("98asjd8"));
    assert_eq!(s(m.call_id()), Some("wsinv.ndaksdj@192.0.2.1"));
    assert_eq!(m.cseq(), Some((9, &b"INVITE"[..])));
    let via = m.top_via().unwrap();
    assert_eq!(via.transport, b"UDP");
    assert_eq!(via.host.bytes, b"192.0.2.2");
    assert_eq!(via.port, None);
    assert_eq!(s(via.branch), Some("390skdjuw"));
    let c = m.first_contact().unwrap();
    assert_eq!(c.display, Some(&br#""Quoted string \"\"""#[..]));
    assert_eq!(c.uri.bytes, b"sip:jdrosen@example.com");
    assert_eq!(c.param("newparam"), Some(Some(&b"newvalue"[..])));
    assert_eq!(c.param("secondparam"), Some(None));
    assert_eq!(c.param("q"), Some(Some(&b"0.33"[..])));
    assert_eq!(m.content_length(), Some(150));
    assert!(m.content_type().unwrap().is("application", "sdp"));
    let (off, sdp) = m.sdp_body().unwrap();
    assert!(sdp.starts_with(b"v=0\r\no=mhandley 29739"));
    assert_eq!(off + sdp.len(), buf.len());
    assert!(m.warnings().is_empty());
}

#[test]
fn rfc4475_esc01_compact_forms_and_folded_contact() {
    let Some(buf) = corpus("resiprocate-rfc4475-esc01.sip") else {
        return;
    };
    let m = SipMsg::scan(buf).unwrap();
    assert_eq!(s(m.call_id()), Some("esc01.239409asdfakjkn23onasd0-3234"));
    assert_eq!(m.content_type().unwrap().raw, b"application/sdp");
    let c = m.first_contact().unwrap();
    assert_eq!(
        c.uri.bytes,
        b"sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"
    );
    assert_eq!(c.host.unwrap().bytes, b"host5.example.net");
    assert_eq!(s(m.to_uri()), Some("sip:%75se%72@example.com"));
    assert_eq!(m.to_tag(), None);
}

#[test]
fn ipv6_contact_offsets_allow_an_in_place_fix() {
    let Some(buf) = corpus("asterisk-ipv6-ack-with-sdp.sip") else {
        return;
    };
    ipv6_contact_fix(buf, b"2001:db8::10", "test");
}

/// The first Contact and the top Via of `buf` are `[addr]:5060`, and what `fix_contact` would
/// do (replace host..port end with the source address) leaves `sip:<user>@198.51.100.9:40123;
/// transport=UDP`.
fn ipv6_contact_fix(buf: &[u8], addr: &[u8], user: &str) {
    let m = SipMsg::scan(buf).unwrap();
    let c = m.first_contact().unwrap();
    let (host, port) = (c.host.unwrap(), c.port.unwrap());
    assert!(c.ipv6);
    assert_eq!(host.bytes, [&b"["[..], addr, b"]"].concat());
    assert_eq!(c.host_addr(), Some(addr));
    assert_eq!((port.bytes, c.port_value), (&b"5060"[..], Some(5060)));
    let mut fixed = buf[..host.offset].to_vec();
    fixed.extend_from_slice(b"198.51.100.9:40123");
    fixed.extend_from_slice(&buf[port.offset + port.bytes.len()..]);
    let m2 = SipMsg::scan(&fixed).unwrap();
    let c2 = m2.first_contact().unwrap();
    assert_eq!(
        c2.uri.bytes,
        format!("sip:{user}@198.51.100.9:40123;transport=UDP").as_bytes()
    );
    assert!(!c2.ipv6);
    let via = m.top_via().unwrap();
    assert!(via.ipv6);
    assert_eq!((via.host_addr(), via.port), (addr, Some(5060)));
}

#[test]
fn rfc5118_bracketed_received_and_ambiguous_port() {
    let Some(buf) = corpus("sipsorcery-rfc5118-ipv6-via-received-bracketed.sip") else {
        return;
    };
    let m = SipMsg::scan(buf).unwrap();
    let via = m.top_via().unwrap();
    assert_eq!(via.host.bytes, b"[2001:db8::9:1]");
    assert_eq!(s(via.received), Some("[2001:db8::9:255]"));
    let Some(buf) = corpus("sipsorcery-rfc5118-ipv6-port-ambiguous.sip") else {
        return;
    };
    let m = SipMsg::scan(buf).unwrap();
    assert_eq!(m.top_via().unwrap().port, None);
    assert_eq!(m.top_via().unwrap().host.bytes, b"[2001:db8::9:1]");
}

#[test]
fn replies_and_user_agent_fallback_to_server() {
    let Some(buf) = corpus("resiprocate-rfc4475-noreason.sip") else {
        return;
    };
    let m = SipMsg::scan(buf).unwrap();
    assert!(matches!(
        m.kind(),
        Kind::Reply {
            status: 100,
            reason: b""
        }
    ));
    let msg =
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;rport=5062;received=198.51.100.1\r\n\
Server: Foo/2.0\r\nContent-Length: 0\r\n\r\n";
    let m = SipMsg::scan(msg).unwrap();
    assert_eq!(m.status(), Some(200));
    assert_eq!(s(m.user_agent()), Some("Foo/2.0"));
    let via = m.top_via().unwrap();
    assert_eq!(via.rport, Some(Some(5062)));
    assert_eq!(s(via.received), Some("198.51.100.1"));
    assert_eq!(m.body(), None);
    let both = b"OPTIONS sip:a@b SIP/2.0\r\nServer: S\r\nUser-Agent: U\r\n\r\n";
    assert_eq!(s(SipMsg::scan(both).unwrap().user_agent()), Some("U"));
}

#[test]
fn multipart_preamble_epilogue_quoted_boundary() {
    let Some(buf) = corpus("pjproject-sendto-multipart-preamble-epilogue.sip") else {
        return;
    };
    let m = SipMsg::scan(buf).unwrap();
    let (off, sdp) = m.sdp_body().unwrap();
    assert_eq!(&buf[off..off + sdp.len()], sdp);
    assert!(sdp.starts_with(b"v=0\no=- 0 0 IN IP4 127.0.0.1\n"));
    assert!(sdp.ends_with(b"a=fmtp:101 0-15\n"));
    assert!(m
        .warnings()
        .contains(Warnings::BODY_SHORTER_THAN_CONTENT_LENGTH));
    let Some(buf) = corpus("pjproject-sendto-multipart-no-sdp-part.sip") else {
        return;
    };
    let m = SipMsg::scan(buf).unwrap();
    assert_eq!(m.sdp_body(), None);
    assert!(m.body().is_some());
    assert!(m.warnings().contains(Warnings::MULTIPART_NO_SDP));
    let Some(buf) = corpus("sipp-invite-multipart-sdp.sip") else {
        return;
    };
    let m = SipMsg::scan(buf).unwrap();
    let (_, sdp) = m.sdp_body().unwrap();
    assert!(sdp.starts_with(b"v=0\r\n"));
    assert!(sdp.ends_with(b"a=rtpmap:0 PCMU/8000\r\n"));
}

#[test]
fn malformed_messages_fail_with_offset_and_excerpt() {
    let cases: &[(&str, ErrorKind, usize, &[u8])] = &[
        (
            "resiprocate-rfc4475-quotbal.sip",
            ErrorKind::To,
            37,
            b"To: \"Mr. J. User <sip:j.user@exa",
        ),
        (
            "resiprocate-rfc4475-lwsruri.sip",
            ErrorKind::Version,
            29,
            b"lr SIP/2.0",
        ),
        (
            "resiprocate-rfc4475-ltgtruri.sip",
            ErrorKind::StartLine,
            7,
            b"<sip:user@example.com> SIP/2.0",
        ),
        (
            "resiprocate-rfc4475-mcl01.sip",
            ErrorKind::ConflictingContentLength,
            268,
            b"Content-Length: 5",
        ),
        (
            "resiprocate-rfc4475-ncl.sip",
            ErrorKind::ContentLength,
            310,
            b"Content-Length: -999",
        ),
        (
            "resiprocate-rfc4475-scalar02.sip",
            ErrorKind::CSeq,
            168,
            b"CSeq: 36893488147419103232 REGIS",
        ),
        (
            "pjproject-fuzzseed-bare-cr-line-ends.sip",
            ErrorKind::BareCr,
            99,
            b"",
        ),
        (
            "kamailio-malformed-request-line.sip",
            ErrorKind::StartLine,
            24,
            b"/UDP",
        ),
    ];
    for &(name, kind, offset, excerpt) in cases {
        let Some(buf) = corpus(name) else {
            return;
        };
        let e = SipMsg::scan(buf).unwrap_err();
        assert_eq!(
            (e.kind, e.offset, e.excerpt.as_bytes()),
            (kind, offset, excerpt),
            "{name}"
        );
        assert!(e.to_string().contains(&format!("at byte {offset}")));
    }
}

#[test]
fn own_compact_folded_invite() {
    let buf = own("invite-compact-folded.sip");
    let m = SipMsg::scan(buf).unwrap();
    assert!(matches!(
        m.kind(),
        Kind::Request { method: Method::Invite, uri, .. } if uri == b"sip:bob@example.org;transport=udp"
    ));
    assert_eq!(s(m.from_uri()), Some("sip:alice@example.org"));
    assert_eq!(s(m.from_tag()), Some("cf-a"));
    assert_eq!(s(m.to_uri()), Some("sip:bob@example.org"));
    assert_eq!(m.to_tag(), None);
    assert_eq!(s(m.call_id()), Some("c20-compact@192.168.9.9"));
    assert_eq!(m.cseq(), Some((9, &b"INVITE"[..])));
    let via = m.top_via().unwrap();
    assert_eq!(
        (via.host.bytes, via.port),
        (&b"192.168.9.9"[..], Some(5060))
    );
    assert_eq!(s(via.branch), Some("z9hG4bK-cf1"));
    assert_eq!(via.rport, Some(None));
    let c = m.first_contact().unwrap();
    assert_eq!(c.uri.bytes, b"sip:alice@192.168.9.9:5060");
    assert_eq!(c.param("expires"), Some(Some(&b"3600"[..])));
    assert_eq!(c.param("q"), Some(Some(&b"0.5"[..])));
    assert!(m.content_type().unwrap().is("application", "sdp"));
    let (off, sdp) = m.sdp_body().unwrap();
    assert_eq!(sdp, shared_corpus::own_file("sdp", "audio-basic.sdp"));
    assert_eq!(m.content_length(), Some(sdp.len()));
    assert_eq!(off + sdp.len(), buf.len());
    assert!(m.warnings().is_empty());
}

#[test]
fn own_ipv6_contact_offsets_allow_an_in_place_fix() {
    ipv6_contact_fix(own("ack-ipv6-late-answer.sip"), b"2001:db8::20", "alice");
    // an IPv4-mapped IPv6 address, no port
    let m = SipMsg::scan(own("invite-ipv4-mapped-ipv6.sip")).unwrap();
    let via = m.top_via().unwrap();
    assert_eq!(
        (via.host.bytes, via.port),
        (&b"[::ffff:192.0.2.20]"[..], None)
    );
    let c = m.first_contact().unwrap();
    assert!(c.ipv6);
    assert_eq!(c.host_addr(), Some(&b"::ffff:192.0.2.20"[..]));
}

#[test]
fn own_multipart_bodies() {
    // quoted boundary, a preamble and an epilogue, SDP first
    let m = SipMsg::scan(own("invite-multipart-mixed-sdp.sip")).unwrap();
    let (_, sdp) = m.sdp_body().unwrap();
    assert_eq!(sdp, shared_corpus::own_file("sdp", "audio-basic.sdp"));
    assert!(m.warnings().is_empty(), "{:?}", m.warnings());
    // LF-only message and parts
    let m = SipMsg::scan(own("invite-multipart-lf-only.sip")).unwrap();
    let (_, sdp) = m.sdp_body().unwrap();
    assert_eq!(sdp, shared_corpus::own_file("sdp", "lf-only.sdp"));
    // no SDP part
    let m = SipMsg::scan(own("invite-multipart-without-sdp.sip")).unwrap();
    assert_eq!(m.sdp_body(), None);
    assert!(m.body().is_some());
    assert!(m.warnings().contains(Warnings::MULTIPART_NO_SDP));
}

#[test]
fn own_replies_truncated_bodies_and_line_ends() {
    let m = SipMsg::scan(own("reply-100-empty-reason.sip")).unwrap();
    assert!(matches!(
        m.kind(),
        Kind::Reply {
            status: 100,
            reason: b""
        }
    ));
    let m = SipMsg::scan(own("reply-200-audio-answer.sip")).unwrap();
    assert_eq!(m.status(), Some(200));
    assert_eq!(s(m.user_agent()), Some("mpx-test-pbx/2.1"));
    let via = m.top_via().unwrap();
    assert_eq!(via.rport, Some(Some(40312)));
    assert_eq!(s(via.received), Some("198.51.100.20"));
    // the body stops before Content-Length says: what arrived is the SDP, with a warning
    let m = SipMsg::scan(own("invite-body-shorter-than-content-length.sip")).unwrap();
    assert!(m
        .warnings()
        .contains(Warnings::BODY_SHORTER_THAN_CONTENT_LENGTH));
    let whole = shared_corpus::own_file("sdp", "audio-basic.sdp");
    assert_eq!(m.sdp_body().map(|(_, b)| b), Some(&whole[..120]));
    // LF-only message; a body without its last line end
    for (name, sdp) in [
        ("invite-lf-only.sip", "lf-only.sdp"),
        ("invite-body-without-final-eol.sip", "no-final-eol.sdp"),
        (
            "invite-sdp-no-final-eol-in-lf-message.sip",
            "no-final-eol-after-m.sdp",
        ),
    ] {
        let buf = own(name);
        let m = SipMsg::scan(buf).unwrap();
        let (off, body) = m.sdp_body().unwrap();
        assert_eq!(body, shared_corpus::own_file("sdp", sdp), "{name}");
        assert_eq!(off + body.len(), buf.len(), "{name}");
        assert!(m.warnings().is_empty(), "{name}: {:?}", m.warnings());
    }
}

#[test]
fn own_malformed_messages_fail_with_offset_and_excerpt() {
    let cases: &[(&str, ErrorKind, usize, &[u8])] = &[
        (
            "bad-sip-angle-brackets-request-uri.sip",
            ErrorKind::StartLine,
            7,
            b"<sip:bob@example.org> SIP/2.0",
        ),
        ("bad-sip-bare-cr-line-ends.sip", ErrorKind::BareCr, 32, b""),
        (
            "bad-sip-cseq-beyond-32-bits.sip",
            ErrorKind::CSeq,
            94,
            b"CSeq: 99999999999 INFO",
        ),
        (
            "bad-sip-negative-content-length.sip",
            ErrorKind::ContentLength,
            140,
            b"Content-Length: -12",
        ),
        (
            "bad-sip-space-inside-request-uri.sip",
            ErrorKind::Version,
            28,
            b"lr SIP/2.0",
        ),
        (
            "bad-sip-two-content-lengths.sip",
            ErrorKind::ConflictingContentLength,
            159,
            b"l: 5",
        ),
        (
            "bad-sip-unterminated-quote.sip",
            ErrorKind::To,
            81,
            b"To: \"Bob <sip:bob@example.org>",
        ),
        (
            "bad-sip-version-in-request-line.sip",
            ErrorKind::StartLine,
            31,
            b"/UDP",
        ),
    ];
    let bad: Vec<String> = shared_corpus::own("sip")
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("bad-sip-"))
        .collect();
    assert_eq!(
        bad.len(),
        cases.len(),
        "every bad-sip-* message has its case"
    );
    for &(name, kind, offset, excerpt) in cases {
        let e = SipMsg::scan(own(name)).unwrap_err();
        assert_eq!(
            (e.kind, e.offset, e.excerpt.as_bytes()),
            (kind, offset, excerpt),
            "{name}"
        );
        assert!(e.to_string().contains(&format!("at byte {offset}")));
    }
}

#[test]
fn synthetic_edge_cases() {
    use ErrorKind::*;
    let err = |m: &[u8]| SipMsg::scan(m).unwrap_err().kind;
    assert_eq!(err(b""), Empty);
    assert_eq!(err(b"\r\n\r\n"), Empty);
    assert_eq!(err(b"INVITE sip:a@b SIP/3.0\r\n\r\n"), Version);
    assert_eq!(err(b"SIP/2.0 2000 OK\r\n\r\n"), Status);
    assert_eq!(err(b"SIP/2.0 099 Low\r\n\r\n"), Status);
    assert_eq!(
        err(b"INVITE sip:a@b SIP/2.0\r\nNoColonHere\r\n\r\n"),
        HeaderLine
    );
    assert_eq!(
        err(b"INVITE sip:a@b SIP/2.0\r\n folded-first: x\r\n\r\n"),
        HeaderLine
    );
    assert_eq!(
        err(b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h:99999\r\n\r\n"),
        Via
    );
    assert_eq!(err(b"INVITE sip:a@b SIP/2.0\r\nVia: garbage\r\n\r\n"), Via);
    assert_eq!(
        err(b"INVITE sip:a@b SIP/2.0\r\nContact: <sip:a@b\r\n\r\n"),
        Contact
    );
    assert_eq!(err(b"INVITE sip:a@b SIP/2.0\r\nCall-ID:  \r\n\r\n"), CallId);
    assert_eq!(
        err(b"INVITE sip:a@b SIP/2.0\r\nl: 12abc\r\n\r\n"),
        ContentLength
    );
    assert_eq!(
        err(b"INVITE sip:a@b SIP/2.0\r\nc: application\r\n\r\n"),
        ContentType
    );

    // Keep-alive line ends before the start line; star contact; no blank line at the end.
    let m = SipMsg::scan(b"\r\n\r\nREGISTER sip:b SIP/2.0\r\nContact: *\r\nExpires: 0").unwrap();
    assert!(m.warnings().contains(Warnings::LEADING_LINE_ENDS));
    assert!(m.warnings().contains(Warnings::NO_BLANK_LINE));
    assert!(m.first_contact().unwrap().star);
    assert_eq!(m.first_contact().unwrap().host, None);

    // addr-spec Contact: parameters after the URI are header parameters.
    let m =
        SipMsg::scan(b"INVITE sip:a@b SIP/2.0\nm: sip:u@10.0.0.1:5070;expires=60, <sip:x@y>\n\n")
            .unwrap();
    let c = m.first_contact().unwrap();
    assert_eq!(c.uri.bytes, b"sip:u@10.0.0.1:5070");
    assert_eq!(c.port_value, Some(5070));
    assert_eq!(c.param("expires"), Some(Some(&b"60"[..])));

    // tel: URI: no host.
    let m = SipMsg::scan(
        b"INVITE tel:+1-212-555-0101 SIP/2.0\r\nContact: <tel:+1-212-555-0101>\r\n\r\n",
    )
    .unwrap();
    assert_eq!(m.first_contact().unwrap().host, None);

    // No Content-Type: the body is taken as SDP; another type is not.
    let m =
        SipMsg::scan(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 5\r\n\r\nv=0\r\nEXTRA").unwrap();
    assert_eq!(m.sdp_body(), Some((45, &b"v=0\r\n"[..])));
    assert!(m.warnings().contains(Warnings::NO_CONTENT_TYPE));
    assert!(m.warnings().contains(Warnings::TRAILING_BYTES));
    let m = SipMsg::scan(b"MESSAGE sip:a@b SIP/2.0\r\nc: text/plain\r\n\r\nv=0\r\n").unwrap();
    assert_eq!(m.sdp_body(), None);
    assert_eq!(m.body().map(|(_, b)| b), Some(&b"v=0\r\n"[..]));

    // Multipart with an LF-only body and a quoted boundary.
    let mp = b"INVITE sip:a@b SIP/2.0\nContent-Type: multipart/mixed; boundary=\"b:1\"\n\n\
--b:1\nContent-Type: text/plain\n\nhi\n--b:1\ncontent-type: Application/SDP\n\nv=0\nm=audio 1 RTP/AVP 0\n--b:1--\n";
    let m = SipMsg::scan(mp).unwrap();
    assert_eq!(
        m.sdp_body().map(|(_, b)| b),
        Some(&b"v=0\nm=audio 1 RTP/AVP 0"[..])
    );

    // Methods are case-sensitive.
    let m = SipMsg::scan(b"invite sip:a@b SIP/2.0\r\n\r\n").unwrap();
    assert!(matches!(
        m.kind(),
        Kind::Request {
            method: Method::Other,
            method_bytes: b"invite",
            ..
        }
    ));
    // Duplicate Content-Length with the same value: a warning only.
    let m = SipMsg::scan(b"BYE sip:a@b SIP/2.0\r\nl: 0\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert!(m.warnings().contains(Warnings::DUPLICATE_CONTENT_LENGTH));
}
