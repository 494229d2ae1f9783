//! The script's choice of relay interfaces reaches the relay: `caller_interface_avp` /
//! `callee_interface_avp` with `use_media_proxy()`, and the rtp_relay engine's `iface` flag;
//! the SDP each party receives names the address of its own interface, in its family.
//! A fake message (`fakemsg`) against a real relay with two loopback interfaces.

mod fakemsg;

use fakemsg::*;
use mediaproxy::rtp_relay::{self, Body, Call, Flags, Op, Output};
use mediaproxy::script::{self, Avp, Ctx};

fn two_interfaces(name: &str, ports: (u16, u16)) -> Env {
    env_with(name, ports, |raw, _| {
        raw.insert("relay_interfaces", "lo4=127.0.0.1; lo6=::1");
    })
}

fn c_line(sdp: &str) -> String {
    sdp.lines()
        .find(|l| l.starts_with("c="))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn callee_interface_avp_gives_the_callee_an_ipv6_address() {
    let e = two_interfaces("ifavp", (43900, 43949));
    let inv = initial_invite("ifavp@x", "", &offer("192.168.1.40", 4000));
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    m.avps.push((Avp::CalleeInterface, "lo6".into()));
    assert_eq!(
        script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()),
        1,
        "{:?}",
        m.logs
    );
    let out = m.output();
    assert_eq!(c_line(&out), "c=IN IP6 ::1", "{out}");
    assert!(
        out.contains("a=rtcp:") && !out.contains("127.0.0.1"),
        "{out}"
    );

    // without the AVP, the caller's IPv4 SDP puts both parties on the IPv4 interface
    let inv = initial_invite("ifavp2@x", "", &offer("192.168.1.40", 4002));
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), 1);
    assert_eq!(c_line(&m.output()), "c=IN IP4 127.0.0.1");

    // an unknown name: the relay refuses, the function fails and the SDP stays
    let inv = initial_invite("ifavp3@x", "", &offer("192.168.1.40", 4004));
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    m.avps.push((Avp::CallerInterface, "lan".into()));
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), -1);
    assert!(m.out.borrow().is_none(), "the message is left as it was");
    assert!(!m.logs.borrow().is_empty(), "the failure is logged");
}

#[test]
fn rtp_relay_iface_flag_names_the_receivers_interface() {
    let e = two_interfaces("ifrr", (43950, 43999));
    let inv = initial_invite("ifrr@x", "", &offer("192.168.1.40", 4000));
    let mut m = Fake::new(&inv, "198.51.100.7", 61000);
    let call = Call {
        op: Op::Offer,
        call_id: Some(b"ifrr@x"),
        from_tag: Some(b"a1"),
        to_tag: None,
        branch: -1,
        node: None,
        real_msg: true,
        body: Body::Find,
        output: Output::Message,
        flags: Flags {
            iface: Some("lo6".into()),
            ..Flags::default()
        },
        msg_key: Some((1, 1)),
    };
    rtp_relay::offer_answer(&mut m, &e.cfg, &call).expect("offer relayed");
    let out = m.output();
    assert_eq!(c_line(&out), "c=IN IP6 ::1", "{out}");
}
