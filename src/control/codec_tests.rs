//! Tests of [`super`]: the media header, requests and replies, the request reader's framing.
use super::*;
use crate::media::Direction;

fn sd(t: &str, a: &str, p: u16, d: Direction, ice: bool) -> StreamDesc {
    StreamDesc {
        media_type: t.into(),
        addr: a.into(),
        port: p,
        direction: d,
        ice,
    }
}

fn sample() -> UpdateRequest {
    UpdateRequest {
        kind: MessageType::Request,
        dialog_id: "15174680485658".into(),
        call_id: "a84b4c76e66710@pc33".into(),
        cseq: 314159,
        from_uri: "alice@example.com".into(),
        to_uri: "bob@example.net".into(),
        from_tag: "1928301774".into(),
        to_tag: String::new(),
        user_agent: "Foo/1.0".into(),
        signaling_ip: "198.51.100.7".into(),
        media_relay: String::new(),
        media: vec![
            sd("audio", "10.0.0.5", 49170, Direction::SendRecv, false),
            sd("video", "10.0.0.5", 51372, Direction::SendRecv, false),
        ],
        asymmetric: false,
        interfaces: Default::default(),
    }
}

#[test]
fn interfaces_header_only_when_named_and_read_back() {
    assert!(!encode_update(&sample()).unwrap().contains("interfaces"));
    let mut r = sample();
    r.interfaces = ["priv".into(), "pub".into()];
    let s = encode_update(&r).unwrap();
    assert!(
        s.ends_with("\r\ninterfaces: caller=priv;callee=pub\r\n\r\n"),
        "{s}"
    );
    let lines: Vec<String> = s
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    match parse_request("update", &lines).unwrap() {
        Request::Update(u) => assert_eq!(u, r),
        other => panic!("not an update: {other:?}"),
    }
    let bad: Vec<String> = lines
        .iter()
        .map(|l| {
            if l.starts_with("interfaces") {
                "interfaces: lan=x".to_string()
            } else {
                l.clone()
            }
        })
        .collect();
    assert!(parse_request("update", &bad).is_err());
}

#[test]
fn update_encodes_like_the_c_module() {
    let s = encode_update(&sample()).unwrap();
    assert_eq!(
        s,
        "update\r\ntype: request\r\ndialog_id: 15174680485658\r\ncall_id: a84b4c76e66710@pc33\r\n\
         cseq: 314159\r\nfrom_uri: alice@example.com\r\nto_uri: bob@example.net\r\n\
         from_tag: 1928301774\r\nto_tag: \r\nuser_agent: Foo/1.0\r\nsignaling_ip: 198.51.100.7\r\n\
         media_relay: \r\nmedia: audio:10.0.0.5:49170:sendrecv:ice=no,video:10.0.0.5:51372:sendrecv:ice=no\r\n\r\n"
    );
}

#[test]
fn update_roundtrips_through_the_reader() {
    let mut req = sample();
    req.media
        .push(sd("audio", "2001:db8::1", 4000, Direction::SendOnly, true));
    req.asymmetric = true;
    let wire = encode_update(&req).unwrap();
    assert!(wire.contains("audio:[2001:db8::1]:4000:sendonly:ice=yes:asymmetric=yes"));
    let mut r = RequestReader::new();
    r.push(wire.as_bytes());
    assert_eq!(r.next_request(), Some(Ok(Request::Update(req))));
    assert_eq!(r.next_request(), None);
    assert_eq!(r.pending(), 0);
}

#[test]
fn bodyless_update_has_no_media_header() {
    let mut req = sample();
    req.media.clear();
    let s = encode_update(&req).unwrap();
    assert!(!s.contains("media:"));
    assert!(s.ends_with("media_relay: \r\n\r\n"));
}

#[test]
fn values_with_line_ends_are_refused() {
    let mut req = sample();
    req.user_agent = "evil\r\nmedia: x".into();
    assert_eq!(
        encode_update(&req),
        Err(CodecError::Unencodable("user_agent"))
    );
    let mut req = sample();
    req.media[0].media_type = "au:dio".into();
    assert_eq!(encode_update(&req), Err(CodecError::Unencodable("media")));
}

#[test]
fn remove_encodes_in_order() {
    let r = RemoveRequest {
        call_id: "c".into(),
        from_tag: "f".into(),
        to_tag: String::new(),
        want_stats: false,
    };
    assert_eq!(
        encode_remove(&r).unwrap(),
        "remove\r\ncall_id: c\r\nfrom_tag: f\r\nto_tag: \r\n\r\n"
    );
    let r = RemoveRequest {
        want_stats: true,
        ..r
    };
    assert!(encode_remove(&r)
        .unwrap()
        .ends_with("to_tag: \r\nstats: yes\r\n\r\n"));
}

#[test]
fn media_decoding_variants() {
    let (m, asym) =
        decode_media("audio:10.0.0.1:4000:sendrecv:ice=no,video:10.0.0.1:4002:recvonly:ice=yes")
            .unwrap();
    assert!(!asym);
    assert_eq!(
        m[0],
        sd("audio", "10.0.0.1", 4000, Direction::SendRecv, false)
    );
    assert_eq!(
        m[1],
        sd("video", "10.0.0.1", 4002, Direction::RecvOnly, true)
    );
    // bracketed and unbracketed IPv6
    let (m, _) = decode_media("audio:[2001:db8::1]:4000:inactive:ice=no").unwrap();
    assert_eq!(m[0].addr, "2001:db8::1");
    let (m, _) = decode_media("audio:2001:db8::1:4000:sendonly:ice=no").unwrap();
    assert_eq!(m[0].addr, "2001:db8::1");
    assert_eq!(m[0].port, 4000);
    assert_eq!(m[0].direction, Direction::SendOnly);
    // no params at all, unknown params ignored
    let (m, asym) = decode_media("image:192.0.2.1:0:sendrecv:foo=bar:asymmetric=yes").unwrap();
    assert_eq!(m[0].port, 0);
    assert!(asym);
    let (m, _) = decode_media("audio:192.0.2.1:5000:sendrecv").unwrap();
    assert!(!m[0].ice);
    // hold address and FQDN pass as text
    let (m, _) = decode_media("audio:0.0.0.0:5000:sendrecv:ice=no").unwrap();
    assert_eq!(m[0].addr, "0.0.0.0");
}

#[test]
fn bad_media_is_an_error() {
    for bad in [
        "",
        "audio",
        "audio:1.2.3.4",
        "audio:1.2.3.4:port:sendrecv:ice=no",
        "audio:1.2.3.4:70000:sendrecv:ice=no",
        "audio:1.2.3.4:4000:sideways:ice=no",
        "audio:[2001:db8::1:4000:sendrecv",
        "audio::4000:sendrecv",
        ":1.2.3.4:4000:sendrecv",
        "audio:1.2.3.4:4000:sendrecv:ice",
        "audio:1.2.3.4:4000:sendrecv,",
        // brackets inside an address could not be written back the same
        "audio:[1.2.3.4:4000:x[2001:db8::1]:5000:sendonly:ice=yes",
        "audio:[[::1]]:4000:sendrecv",
        "audio:1.2.3.4 5:4000:sendrecv",
    ] {
        assert!(decode_media(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn an_address_that_cannot_travel_is_not_encoded() {
    let mut u = UpdateRequest {
        call_id: "c".into(),
        media: vec![crate::media::StreamDesc {
            media_type: "audio".into(),
            addr: "a[b:c".into(),
            port: 4000,
            direction: crate::media::Direction::SendRecv,
            ice: false,
        }],
        ..UpdateRequest::default()
    };
    assert!(matches!(
        encode_update(&u),
        Err(CodecError::Unencodable("media"))
    ));
    u.media[0].addr = "[2001:db8::1]".into();
    let text = encode_update(&u).unwrap();
    assert!(
        text.contains("media: audio:[2001:db8::1]:4000:sendrecv:ice=no\r\n"),
        "{text}"
    );
}

fn read_all(input: &[u8]) -> Vec<Result<Request, CodecError>> {
    let mut r = RequestReader::new();
    // byte by byte: framing must not depend on read boundaries
    let mut out = Vec::new();
    for b in input {
        r.push(std::slice::from_ref(b));
        while let Some(x) = r.next_request() {
            out.push(x);
        }
    }
    out
}

#[test]
fn empty_values_are_dropped_and_mandatory_headers_checked() {
    let out = read_all(
        b"update\r\ntype: reply\r\ncall_id: c1\r\ncseq: 2\r\nfrom_uri: a\r\nto_uri: b\r\n\
          from_tag: f\r\nto_tag: \r\nuser_agent: ua\r\nmedia_relay: \r\n\r\n",
    );
    match &out[..] {
        [Ok(Request::Update(u))] => {
            assert_eq!(u.kind, MessageType::Reply);
            assert_eq!(u.to_tag, "");
            assert_eq!(u.cseq, 2);
            assert!(u.media.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let out = read_all(b"update\r\ntype: request\r\ncall_id: \r\n\r\n");
    assert!(matches!(out[..], [Err(CodecError::MissingHeader(_))]));
}

#[test]
fn tags_asks_for_one_call_and_reads_its_pairs() {
    let wire = encode_tags("a\"b@host").unwrap();
    let mut r = RequestReader::new();
    r.push(wire.as_bytes());
    assert_eq!(
        r.next_request(),
        Some(Ok(Request::Tags {
            call_id: "a\"b@host".into()
        }))
    );
    assert!(encode_tags("x\r\ny").is_err());
    assert_eq!(
        parse_tags_reply("[[\"f1\",\"t1\"],[\"f2\",\"\"]]\r\n").unwrap(),
        [("f1".into(), "t1".into()), ("f2".into(), String::new())]
    );
    assert_eq!(parse_tags_reply("[]").unwrap(), []);
    assert_eq!(parse_tags_reply("error"), Err(ReplyError::Relay));
    assert!(parse_tags_reply("removed").is_err());
}

#[test]
fn every_request_gets_exactly_one_item() {
    let input = b"garbage\r\n\r\nsessions\r\n\r\nupdate\r\nno colon here\r\n\r\n\
        remove\r\ncall_id: x\r\nfrom_tag: y\r\n\r\nupdate\r\ntype: sideways\r\n\r\nsummary\nquit\r\n";
    let out = read_all(input);
    assert_eq!(out.len(), 7, "{out:?}");
    assert!(matches!(out[0], Err(CodecError::UnknownCommand(_))));
    assert_eq!(out[1], Ok(Request::Sessions));
    assert!(matches!(out[2], Err(CodecError::BadHeaderLine(_))));
    assert_eq!(
        out[3],
        Ok(Request::Remove(RemoveRequest {
            call_id: "x".into(),
            from_tag: "y".into(),
            to_tag: String::new(),
            want_stats: false
        }))
    );
    assert!(matches!(
        out[4],
        Err(CodecError::BadValue { header: "type", .. })
    ));
    assert_eq!(out[5], Ok(Request::Summary));
    assert_eq!(out[6], Ok(Request::Quit));
}

#[test]
fn overlong_line_is_one_error_and_the_stream_recovers() {
    let mut input = b"update\r\nuser_agent: ".to_vec();
    input.extend(std::iter::repeat_n(b'x', MAX_LINE * 2));
    input.extend_from_slice(b"\r\n\r\nsessions\r\n");
    let mut r = RequestReader::new();
    r.push(&input);
    assert_eq!(r.next_request(), Some(Err(CodecError::LineTooLong)));
    assert_eq!(r.next_request(), Some(Ok(Request::Sessions)));
    assert_eq!(r.next_request(), None);
}

#[test]
fn non_utf8_and_binary_garbage_is_an_error() {
    let out = read_all(b"\xff\xfe\x00\x01\r\nx: \xc3\r\n\r\n");
    assert_eq!(out.len(), 1);
    assert!(out[0].is_err());
}

#[test]
fn cseq_must_be_a_number() {
    let out = read_all(
        b"update\r\ntype: request\r\ncall_id: c\r\ncseq: 1a\r\nfrom_uri: a\r\nto_uri: b\r\n\
          from_tag: f\r\nuser_agent: u\r\n\r\n",
    );
    assert!(matches!(
        out[0],
        Err(CodecError::BadValue { header: "cseq", .. })
    ));
}

#[test]
fn reply_parsing_is_strict() {
    assert_eq!(
        parse_update_reply("203.0.113.10 40002 40006\r\n", 2),
        Ok(RelayAnswer {
            ip: "203.0.113.10".parse().unwrap(),
            ports: vec![40002, 40006]
        })
    );
    assert_eq!(
        parse_update_reply("2001:db8::10 40000", 1).map(|a| a.ip),
        Ok("2001:db8::10".parse().unwrap())
    );
    assert_eq!(parse_update_reply("error", 1), Err(ReplyError::Relay));
    assert_eq!(parse_update_reply("halting", 1), Err(ReplyError::Relay));
    for bad in [
        "None",
        "None 40000",
        "",
        "203.0.113.10",
        "203.0.113.10 40000 40002",
        "203.0.113.10 x",
        "203.0.113.10 70000",
        "0.0.0.0 40000",
        "example.com 40000",
    ] {
        assert!(
            matches!(parse_update_reply(bad, 1), Err(ReplyError::Malformed(_))),
            "{bad:?} accepted"
        );
    }
    assert_eq!(
        parse_update_reply("192.0.2.1", 0).map(|a| a.ports.len()),
        Ok(0)
    );
}

#[test]
fn remove_reply_parsing() {
    assert_eq!(parse_remove_reply("removed\r\n"), Ok(None));
    assert_eq!(
        parse_remove_reply("removed {\"a\":1}"),
        Ok(Some("{\"a\":1}".into()))
    );
    assert_eq!(parse_remove_reply("error"), Err(ReplyError::Relay));
    assert!(parse_remove_reply("None").is_err());
    assert!(parse_remove_reply("removedx").is_err());
}

#[test]
fn answer_encoding() {
    let a = RelayAnswer {
        ip: "2001:db8::10".parse().unwrap(),
        ports: vec![40000, 0],
    };
    assert_eq!(encode_answer(&a), "2001:db8::10 40000 0");
    assert_eq!(parse_update_reply(&encode_answer(&a), 2), Ok(a));
}

#[test]
fn drain_is_a_one_line_command_with_a_name() {
    let out = read_all(b"drain relay1\r\ndrain a b\r\nsummary\r\n");
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0], Ok(Request::Drain("relay1".into())));
    assert!(matches!(
        out[1],
        Err(CodecError::BadValue {
            header: "drain",
            ..
        })
    ));
    assert_eq!(out[2], Ok(Request::Summary));
}
