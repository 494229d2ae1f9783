//! A relay with several interfaces (`relay_interfaces`) on loopback addresses: each party's
//! port pair on the interface chosen for it (named in the `update`, else by its SDP's address
//! family, else its peer's), media relayed between the families and between two addresses,
//! each answer naming the address of the receiving party's side; an unknown interface name is
//! refused and leaves nothing behind.

mod common;
use common::*;
use mediaproxy::control::codec::MessageType;
use mediaproxy::settings::RelayInterface;
use std::net::{IpAddr, SocketAddr, UdpSocket};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// RTP both ways, one packet at a time: each arrives unchanged, from the relay's address on
/// the receiver's side. Returns the packets each receiver got.
fn media_both_ways(
    caller: &UdpSocket,
    callee: &UdpSocket,
    caller_sends_to: SocketAddr,
    callee_sends_to: SocketAddr,
) -> (u64, u64) {
    // one packet each to latch; what reaches the other side then is drained
    caller.send_to(&rtp(0, 0, 0xA, 0), caller_sends_to).unwrap();
    callee.send_to(&rtp(0, 0, 0xB, 0), callee_sends_to).unwrap();
    for s in [caller, callee] {
        s.set_read_timeout(Some(std::time::Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 2048];
        while s.recv_from(&mut buf).is_ok() {}
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
    }
    let (mut at_callee, mut at_caller) = (0, 0);
    for seq in 1..=10u16 {
        let p = rtp(0, seq, 0xA, 1);
        caller.send_to(&p, caller_sends_to).unwrap();
        let (got, from) = recv(callee);
        assert_eq!(got, p);
        assert_eq!(
            from, callee_sends_to,
            "from the relay's callee-side address"
        );
        at_callee += 1;
        let p = rtp(0, seq, 0xB, 2);
        callee.send_to(&p, callee_sends_to).unwrap();
        let (got, from) = recv(caller);
        assert_eq!(got, p);
        assert_eq!(
            from, caller_sends_to,
            "from the relay's caller-side address"
        );
        at_caller += 1;
    }
    (at_callee, at_caller)
}

fn ipv6_caller_ipv4_callee(io: RelayIo) {
    let r = TestRelay::start_io(io, "if-fam", (43000, 43099), |c| {
        c.interfaces = RelayInterface::parse_list("v4=127.0.0.1; v6=::1").unwrap();
    });
    let mut c = r.client();
    let caller = endpoint("::1");
    let callee = endpoint("127.0.0.1");
    // the caller's IPv6 SDP picks the IPv6 interface; the callee's is named
    let mut offer = update(
        MessageType::Request,
        "if-fam-1",
        1,
        "ft",
        "",
        vec![audio(caller.local_addr().unwrap())],
    );
    offer.interfaces = [String::new(), "v4".into()];
    let a = c.update(&offer).expect("offer answered");
    assert_eq!(a.ip, ip("127.0.0.1"), "the callee gets the IPv4 side");
    let b = c
        .update(&update(
            MessageType::Reply,
            "if-fam-1",
            1,
            "ft",
            "tt",
            vec![audio(callee.local_addr().unwrap())],
        ))
        .expect("answer answered");
    assert_eq!(b.ip, ip("::1"), "the caller gets the IPv6 side");
    let to_caller_side = SocketAddr::new(b.ip, b.ports[0]);
    let to_callee_side = SocketAddr::new(a.ip, a.ports[0]);
    assert_eq!(
        media_both_ways(&caller, &callee, to_caller_side, to_callee_side),
        (10, 10)
    );
}

fn two_addresses_named_per_party(io: RelayIo) {
    let r = TestRelay::start_io(io, "if-two", (43100, 43199), |c| {
        c.interfaces =
            RelayInterface::parse_list("inside=127.0.0.1; outside=127.0.0.2/192.0.2.77").unwrap();
    });
    let mut c = r.client();
    let caller = endpoint("127.0.0.1");
    let callee = endpoint("127.0.0.2");
    let mut offer = update(
        MessageType::Request,
        "if-two-1",
        1,
        "ft",
        "",
        vec![audio(caller.local_addr().unwrap())],
    );
    offer.interfaces = ["inside".into(), "outside".into()];
    let a = c.update(&offer).expect("offer answered");
    // the callee's side advertises its 1:1 NAT address
    assert_eq!(a.ip, ip("192.0.2.77"));
    let b = c
        .update(&update(
            MessageType::Reply,
            "if-two-1",
            1,
            "ft",
            "tt",
            vec![audio(callee.local_addr().unwrap())],
        ))
        .expect("answer answered");
    assert_eq!(b.ip, ip("127.0.0.1"));
    // the callee-facing sockets listen on 127.0.0.2 (what 192.0.2.77 maps to)
    let to_callee_side = SocketAddr::new(ip("127.0.0.2"), a.ports[0]);
    let to_caller_side = SocketAddr::new(b.ip, b.ports[0]);
    assert_eq!(
        media_both_ways(&caller, &callee, to_caller_side, to_callee_side),
        (10, 10)
    );
    // each side's sockets are bound to its own address, not the wildcard: the callee-side
    // port is taken on 127.0.0.2 and free on 127.0.0.1, the caller-side one the other way
    let taken = |addr: &str, port: u16| UdpSocket::bind((ip(addr), port)).is_err();
    assert!(taken("127.0.0.2", a.ports[0]) && !taken("127.0.0.1", a.ports[0]));
    assert!(taken("127.0.0.1", b.ports[0]) && !taken("127.0.0.2", b.ports[0]));
}

fn unknown_interface_is_refused(io: RelayIo) {
    let r = TestRelay::start_io(io, "if-bad", (43200, 43299), |c| {
        c.interfaces = RelayInterface::parse_list("a=127.0.0.1").unwrap();
    });
    let mut c = r.client();
    let caller = endpoint("127.0.0.1");
    let mut offer = update(
        MessageType::Request,
        "if-bad-1",
        1,
        "ft",
        "",
        vec![audio(caller.local_addr().unwrap())],
    );
    offer.interfaces = ["lan".into(), String::new()];
    assert!(c.update(&offer).is_err(), "an unknown name is refused");
    let summary = c.command("summary").expect("summary");
    assert!(summary.contains("\"session_count\":0"), "{summary}");
    // without a name: the one interface
    offer.interfaces = Default::default();
    let a = c.update(&offer).expect("offer answered");
    assert_eq!(a.ip, ip("127.0.0.1"));
}

backends!(
    ipv6_caller_ipv4_callee,
    two_addresses_named_per_party,
    unknown_interface_is_refused
);
