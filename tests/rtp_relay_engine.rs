//! The rtp_relay engine's offer, answer and delete, host-independent: a fake message against a
//! real relay on a loopback control socket (what the OpenSIPS host layer hands over is checked
//! with real OpenSIPS in `opensips_rtp_relay.rs`).

mod fakemsg;

use fakemsg::*;
use mediaproxy::rtp_relay::{self, Body, Call, Done, Flags, Op, Output};
use mediaproxy::script;

const PORTS: (u16, u16) = (43400, 43499);

/// A call as the framework asks it about a message of the call (`real`), the SDP found in it
/// and rewritten into it.
fn call<'a>(op: Op, node: Option<&'a [u8]>) -> Call<'a> {
    Call {
        op,
        call_id: Some(b"rr1@x"),
        from_tag: Some(b"a1"),
        to_tag: None,
        branch: -1,
        node,
        real_msg: true,
        body: Body::Find,
        output: Output::Message,
        flags: Flags::default(),
        msg_key: Some((1, 1)),
    }
}

fn port_of(sdp: &str) -> u16 {
    let m = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .expect("m=audio");
    m.split(' ').next().unwrap().parse().unwrap()
}

fn relay_sessions(cfg: &mediaproxy::config::Config) -> serde_json::Value {
    serde_json::from_str(&script::relay_command(cfg, "sessions").unwrap()).unwrap()
}

#[test]
fn a_proxied_call_offer_answer_and_delete_through_the_node() {
    let e = env("rr-flow", PORTS);
    let inv = initial_invite("rr1@x", "", &offer("192.168.1.40", 4000));
    let mut m = Fake::new(&inv, "198.51.100.7", 61000);
    let done = rtp_relay::offer_answer(&mut m, &e.cfg, &call(Op::Offer, None)).unwrap();
    // the node names the relay session: the default label and the caller's From tag
    assert_eq!(done.node.as_deref(), Some("mediaproxy/a1"));
    assert_eq!(done.body, None);
    let out = m.output();
    assert!(out.contains("c=IN IP4 127.0.0.1\r\n"), "{out}");
    let to_callee = port_of(&out);
    assert!((PORTS.0..=PORTS.1).contains(&to_callee), "{out}");

    // the callee's 200 OK: same node, nothing to store again
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.1.40:5080;branch=z9hG4bK1\r\n\
         From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.net>;tag=b1\r\n\
         Call-ID: rr1@x\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{}",
        offer("10.0.0.9", 5000).len(),
        offer("10.0.0.9", 5000)
    );
    let mut r = Fake::new(&ok, "203.0.113.20", 5060);
    let node = b"mediaproxy/a1";
    let mut answer = call(Op::Answer, Some(node));
    answer.msg_key = Some((2, 2));
    let done = rtp_relay::offer_answer(&mut r, &e.cfg, &answer).unwrap();
    assert_eq!(done, Done::default(), "nothing new to store");
    let to_caller = port_of(&r.output());
    assert!(to_caller != to_callee && (PORTS.0..=PORTS.1).contains(&to_caller));
    let s = relay_sessions(&e.cfg);
    assert_eq!(s[0]["call_id"], "rr1@x", "{s}");
    assert_eq!(s[0]["from_tag"], "a1", "{s}");

    // delete: the framework gives the Call-ID and the node only
    assert_eq!(
        rtp_relay::delete(&m, &e.cfg, Some(b"rr1@x"), Some(node), None),
        1
    );
    assert_eq!(relay_sessions(&e.cfg), serde_json::json!([]));
    // nothing was ever offered on a session without a node: nothing to end
    assert_eq!(rtp_relay::delete(&m, &e.cfg, Some(b"rr1@x"), None, None), 1);
    // no Call-ID from the framework: the message's
    let inv2 = initial_invite("rr2@x", "", &offer("192.168.1.40", 4002));
    let mut m2 = Fake::new(&inv2, "198.51.100.7", 61000);
    let mut c2 = call(Op::Offer, None);
    c2.call_id = None;
    c2.msg_key = Some((3, 3));
    rtp_relay::offer_answer(&mut m2, &e.cfg, &c2).unwrap();
    assert_eq!(relay_sessions(&e.cfg)[0]["call_id"], "rr2@x");
    assert_eq!(
        rtp_relay::delete(&m2, &e.cfg, None, Some(b"mediaproxy/a1"), Some(&m2.buf)),
        1
    );
    assert_eq!(relay_sessions(&e.cfg), serde_json::json!([]));
}

#[test]
fn the_framework_view_new_bytes_and_the_ip_flag() {
    let e = env("rr-bytes", (43500, 43599));
    // the core's dummy message: tags and kind from the framework, the SDP handed over
    let mut d = Fake::new("DUMMY", "0.0.0.0", 0);
    let sdp_a = offer("192.168.1.40", 4000);
    let sdp_b = offer("10.0.0.9", 5000);
    let mut c = Call {
        op: Op::Offer,
        call_id: Some(b"rr3@x"),
        from_tag: Some(b"from_tag"),
        to_tag: Some(b"to_tag"),
        branch: -1,
        node: None,
        real_msg: false,
        body: Body::Given(sdp_a.as_bytes()),
        output: Output::Bytes,
        flags: Flags {
            ip: Some("203.0.113.9".into()),
            iface: None,
            in_iface: None,
            words: vec!["asymmetric".into(), "via-branch=2".into()],
        },
        msg_key: None,
    };
    let done = rtp_relay::offer_answer(&mut d, &e.cfg, &c).unwrap();
    assert_eq!(done.node.as_deref(), Some("mediaproxy/from_tag"));
    let offered = String::from_utf8(done.body.unwrap()).unwrap();
    // the receiver's ip flag is written instead of the relay's address
    assert!(offered.contains("c=IN IP4 203.0.113.9\r\n"), "{offered}");
    assert!(d.out.borrow().is_none(), "the message is not touched");
    // the answer, as the offer's reply (same tags), gets the other side's port
    c.op = Op::Answer;
    c.node = Some(b"mediaproxy/from_tag");
    c.body = Body::Given(sdp_b.as_bytes());
    c.flags = Flags::default();
    let done = rtp_relay::offer_answer(&mut d, &e.cfg, &c).unwrap();
    let answered = String::from_utf8(done.body.unwrap()).unwrap();
    assert!(answered.contains("c=IN IP4 127.0.0.1\r\n"), "{answered}");
    assert_ne!(port_of(&answered), port_of(&offered));
    let s = relay_sessions(&e.cfg);
    assert_eq!(s.as_array().map(Vec::len), Some(1), "one session: {s}");
    assert_eq!(s[0]["streams"][0]["status"], "active", "answered: {s}");

    // an operator's new node: a relay session of its own, new ports
    c.op = Op::Offer;
    c.node = Some(b"fresh");
    c.body = Body::Given(sdp_a.as_bytes());
    let done = rtp_relay::offer_answer(&mut d, &e.cfg, &c).unwrap();
    assert_eq!(done.node.as_deref(), Some("fresh/from_tag"));
    let moved = String::from_utf8(done.body.unwrap()).unwrap();
    assert_ne!(port_of(&moved), port_of(&offered));
    let s = relay_sessions(&e.cfg);
    assert!(
        s.as_array()
            .unwrap()
            .iter()
            .any(|x| x["call_id"] == "rr3@x;fresh"),
        "{s}"
    );

    let mut answer_fresh = c.clone();
    answer_fresh.op = Op::Answer;
    answer_fresh.node = Some(b"fresh/from_tag");
    answer_fresh.body = Body::Given(sdp_b.as_bytes());
    rtp_relay::offer_answer(&mut d, &e.cfg, &answer_fresh).unwrap();
    // the party that offered first on the new session re-offers in a message of the call
    // (hold): its CSeq goes on after the framework's offer, a new offer the relay takes
    let hold = offer("192.168.1.40", 4000).replace("a=sendrecv", "a=sendonly");
    let reinvite = fakemsg::sip(
        "INVITE sip:bob@192.168.1.50 SIP/2.0",
        "rr3@x",
        "from_tag",
        Some("to_tag"),
        "2 INVITE",
        "",
        Some(&hold),
    );
    let mut r = Fake::new(&reinvite, "198.51.100.7", 61000);
    let re = Call {
        op: Op::Offer,
        node: Some(b"fresh/from_tag"),
        real_msg: true,
        body: Body::Find,
        output: Output::Message,
        flags: Flags::default(),
        msg_key: Some((5, 5)),
        ..c.clone()
    };
    rtp_relay::offer_answer(&mut r, &e.cfg, &re).unwrap();
    assert_eq!(port_of(&r.output()), port_of(&moved), "same ports");
    let s = relay_sessions(&e.cfg);
    let fresh = s
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["call_id"] == "rr3@x;fresh")
        .unwrap();
    assert_eq!(fresh["streams"][0]["status"], "on hold", "{fresh}");

    // bad flags and nodes fail the offer with a log line, the relay untouched
    c.node = None;
    c.flags.iface = Some("eth0:1".into());
    c.flags.ip = None;
    assert_eq!(rtp_relay::offer_answer(&mut d, &e.cfg, &c), Err(-1));
    assert!(
        d.logged("iface flag \"eth0:1\" is neither an IP address nor an interface name"),
        "{:?}",
        d.logs
    );
    c.flags.iface = None;
    c.node = Some(b"bad node/x");
    assert_eq!(rtp_relay::offer_answer(&mut d, &e.cfg, &c), Err(-1));
    assert_eq!(relay_sessions(&e.cfg).as_array().map(Vec::len), Some(2));
}

#[test]
fn a_rewrite_of_ours_for_another_branch_is_not_already_rewritten() {
    let e = env("rr-branch", (43600, 43699));
    let inv = initial_invite("rr4@x", "", &offer("192.168.1.40", 4000));
    let mut m = Fake::new(&inv, "198.51.100.7", 61000);
    let c = call(Op::Offer, None);
    rtp_relay::offer_answer(&mut m, &e.cfg, &c).unwrap();
    assert!(m.rewritten);
    // tm forwards the next branch from the same message: offered again, same relay ports
    let first = m.output();
    rtp_relay::offer_answer(&mut m, &e.cfg, &c).unwrap();
    assert_eq!(port_of(&m.output()), port_of(&first));
    // another message whose SDP someone else rewrote is refused
    let mut other = Fake::new(&inv, "198.51.100.7", 61000);
    other.rewritten = true;
    let mut c2 = call(Op::Offer, None);
    c2.msg_key = Some((9, 9));
    assert_eq!(rtp_relay::offer_answer(&mut other, &e.cfg, &c2), Err(-1));
    assert!(other.logged("already rewritten"), "{:?}", other.logs);
}
