//! The rtp_relay engine's media copies (what siprec and media_exchange ask), host-independent:
//! a call set up through the engine's offer and answer against a real relay on loopback, then
//! copy offer, answer and delete as the framework would call them; media sent by real sockets
//! reaches the recorder's sockets (the same through real OpenSIPS and siprec:
//! `opensips_siprec.rs`).

mod fakemsg;

use fakemsg::*;
use mediaproxy::config::Config;
use mediaproxy::rtp_relay::{self, Body, Call, Flags, Op, Output};
use mediaproxy::rtp_relay_copy::{
    self as copy, CopyCtx, MapEntry, Target, COPY_LEG_CALLEE, COPY_LEG_CALLER, COPY_MODE_DISABLE,
    COPY_MODE_SIPREC,
};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

const PORTS: (u16, u16) = (45200, 45299);
const CID: &[u8] = b"rc1@x";
const NODE: &[u8] = b"mediaproxy/a1";

fn sock(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s
}

fn recv(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut b = [0u8; 2048];
    s.recv_from(&mut b).ok().map(|(n, a)| (b[..n].to_vec(), a))
}

fn m_ports(sdp: &str) -> Vec<u16> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("m=audio "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

fn oa(cfg: &Config, op: Op, msg: &str, src: &str, node: Option<&[u8]>, key: usize) -> String {
    let mut m = Fake::new(msg, src, 5060);
    let c = Call {
        op,
        call_id: Some(CID),
        from_tag: Some(b"a1"),
        to_tag: None,
        branch: -1,
        node,
        real_msg: true,
        body: Body::Find,
        output: Output::Message,
        flags: Flags::default(),
        msg_key: Some((key, key as u32)),
    };
    rtp_relay::offer_answer(&mut m, cfg, &c).unwrap();
    m.output()
}

fn rtp(seq: u8, fill: u8) -> Vec<u8> {
    let mut v = vec![0x80, 0, 0, seq, 0, 0, 0, 0, 0, 0, 0, 7];
    v.extend_from_slice(&[fill; 160]);
    v
}

#[test]
fn siprec_copies_both_parties_media_to_the_recorder() {
    let e = env("rr-copy", PORTS);
    let (caller, callee) = (sock("127.0.0.2"), sock("127.0.0.3"));
    let (pa, pb) = (
        caller.local_addr().unwrap().port(),
        callee.local_addr().unwrap().port(),
    );
    let caller_sdp = offer("127.0.0.2", pa);
    let callee_sdp = offer("127.0.0.3", pb);
    let inv = initial_invite("rc1@x", "", &caller_sdp);
    let to_callee = oa(&e.cfg, Op::Offer, &inv, "127.0.0.2", None, 1);
    let ok = sip(
        "SIP/2.0 200 OK",
        "rc1@x",
        "a1",
        Some("b1"),
        "1 INVITE",
        "",
        Some(&callee_sdp),
    );
    let to_caller = oa(&e.cfg, Op::Answer, &ok, "127.0.0.3", Some(NODE), 2);
    let relay_a: SocketAddr = format!("127.0.0.1:{}", m_ports(&to_caller)[0])
        .parse()
        .unwrap();
    let relay_b: SocketAddr = format!("127.0.0.1:{}", m_ports(&to_callee)[0])
        .parse()
        .unwrap();

    // ---- the copy offer: one m-line per party, siprec's labels --------------------------
    let log = Fake::new(&inv, "127.0.0.2", 5060);
    let t = Target {
        call_id: Some(CID),
        node: Some(NODE),
    };
    let sdps = [Some(caller_sdp.as_bytes()), Some(callee_sdp.as_bytes())];
    let flags = COPY_MODE_SIPREC | COPY_LEG_CALLER | COPY_LEG_CALLEE;
    let first = copy::copy_offer(&log, &e.cfg, &t, None, flags, u32::MAX, sdps).unwrap();
    let body = String::from_utf8(first.body.clone()).unwrap();
    let ports = m_ports(&body);
    assert_eq!(ports.len(), 2, "{body}");
    assert!(
        ports.iter().all(|p| (PORTS.0..=PORTS.1).contains(p)),
        "{body}"
    );
    for want in [
        "c=IN IP4 127.0.0.1\r\n",
        "m=audio ",
        " RTP/AVP 0 8\r\n",
        "a=label:1\r\na=sendonly\r\n",
        "a=label:2\r\na=sendonly\r\n",
    ] {
        assert!(body.contains(want), "{want:?} in {body}");
    }
    assert_eq!(
        first.map,
        vec![
            MapEntry {
                leg: 0,
                medianum: 0,
                label: 1
            },
            MapEntry {
                leg: 1,
                medianum: 0,
                label: 2
            }
        ]
    );
    let ctx = first.ctx.text();
    assert_eq!(CopyCtx::parse(&ctx), Some(first.ctx.clone()));

    // ---- the recorder's answer; media both ways is copied -------------------------------
    let (srs_a, srs_b) = (sock("127.0.0.5"), sock("127.0.0.5"));
    let srs_sdp = format!(
        "v=0\r\no=srs 1 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=recvonly\r\nm=audio {} RTP/AVP 0\r\na=recvonly\r\n",
        srs_a.local_addr().unwrap().port(),
        srs_b.local_addr().unwrap().port()
    );
    assert_eq!(
        copy::copy_answer(&log, &e.cfg, &t, Some(&ctx), srs_sdp.as_bytes()),
        1
    );
    for seq in 1..=5 {
        caller.send_to(&rtp(seq, 0xaa), relay_a).unwrap();
        assert_eq!(recv(&callee).unwrap().0, rtp(seq, 0xaa));
        let (p, from) = recv(&srs_a).expect("the caller's copy");
        assert_eq!(p, rtp(seq, 0xaa));
        assert_eq!(from.port(), ports[0]);
        callee.send_to(&rtp(seq, 0xbb), relay_b).unwrap();
        assert_eq!(recv(&caller).unwrap().0, rtp(seq, 0xbb));
        let (p, from) = recv(&srs_b).expect("the callee's copy");
        assert_eq!(p, rtp(seq, 0xbb));
        assert_eq!(from.port(), ports[1]);
    }

    // ---- a later offer (a paused recording): same ports, next version, inactive ---------
    let paused = copy::copy_offer(
        &log,
        &e.cfg,
        &t,
        Some(&ctx),
        flags | COPY_MODE_DISABLE,
        u32::MAX,
        sdps,
    )
    .unwrap();
    let pbody = String::from_utf8(paused.body).unwrap();
    assert_eq!(m_ports(&pbody), ports);
    assert!(
        pbody.contains(" 2 IN IP4 ") && pbody.contains("a=inactive"),
        "{pbody}"
    );
    assert_eq!(paused.ctx.copy_id, first.ctx.copy_id);
    caller.send_to(&rtp(9, 0xaa), relay_a).unwrap();
    assert_eq!(recv(&callee).unwrap().0, rtp(9, 0xaa));
    srs_a
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(recv(&srs_a).is_none(), "paused: no copy");

    // ---- delete: nothing is copied any more ---------------------------------------------
    let resumed = paused.ctx.text();
    assert_eq!(
        copy::copy_answer(&log, &e.cfg, &t, Some(&resumed), srs_sdp.as_bytes()),
        1
    );
    assert_eq!(copy::copy_delete(&log, &e.cfg, &t, Some(&resumed)), 1);
    caller.send_to(&rtp(10, 0xaa), relay_a).unwrap();
    assert_eq!(recv(&callee).unwrap().0, rtp(10, 0xaa));
    assert!(recv(&srs_a).is_none(), "deleted: no copy");

    // ---- one party only (media_exchange's leg flags), no stream map wanted --------------
    let one = copy::copy_offer(&log, &e.cfg, &t, None, COPY_LEG_CALLER, 1, sdps).unwrap();
    let obody = String::from_utf8(one.body).unwrap();
    assert_eq!(m_ports(&obody).len(), 1, "{obody}");
    assert!(obody.contains("a=label:1\r\n") && !obody.contains("a=label:2"));
    assert_eq!(
        copy::copy_delete(&log, &e.cfg, &t, Some(&one.ctx.text())),
        1
    );

    // ---- refusals -------------------------------------------------------------------------
    let unknown = Target {
        call_id: Some(b"nope@x"),
        node: Some(NODE),
    };
    assert!(copy::copy_offer(&log, &e.cfg, &unknown, None, flags, u32::MAX, sdps).is_none());
    assert!(log.logged("no such session") || log.logged("relay answered error"));
    let mut external = e.cfg.clone();
    external.relay_mode = mediaproxy::config::RelayMode::External;
    assert!(copy::copy_offer(&log, &external, &t, None, flags, u32::MAX, sdps).is_none());
    assert!(log.logged("relay_mode=external"));
    assert_eq!(
        copy::copy_answer(&log, &external, &t, Some(&ctx), srs_sdp.as_bytes()),
        -1
    );
}
