//! Media copies (the `copy` command) through a real relay on loopback: every packet forwarded
//! in a direction is also sent, unchanged, from the copy's own port to its destination (RTP to
//! the port, RTCP to port + 1); pausing and deleting stop the copies at once; the session's end
//! removes them and frees their ports; a destination on the relay's own ports is refused.

mod common;
use common::*;
use mediaproxy::control::client::Client;
use mediaproxy::control::copy::{CopyAction, CopyEntry, CopyRequest};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

fn copy(c: &mut Client, call_id: &str, action: CopyAction) -> Result<Vec<u16>, String> {
    c.copy(&CopyRequest {
        call_id: call_id.into(),
        from_tag: "ft".into(),
        to_tag: "tt".into(),
        copy_id: "rec-1".into(),
        action,
    })
    .map(|a| a.map(|a| a.ports).unwrap_or_default())
    .map_err(|e| e.to_string())
}

const CALLER: CopyEntry = CopyEntry {
    stream: 0,
    party: 0,
};
const CALLEE: CopyEntry = CopyEntry {
    stream: 0,
    party: 1,
};

/// Nothing arrives at `s` within a short wait.
fn silent(s: &UdpSocket) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let quiet = s.recv_from(&mut buf).is_err();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    quiet
}

fn stream_json(c: &mut Client) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&c.command("sessions").unwrap()).unwrap();
    v[0]["streams"][0].clone()
}

fn copies_follow_both_directions_and_stop(io: RelayIo) {
    copies_both_ways(io, "copy", (45000, 45099), 0);
}

/// The same with batched waits (`relay_batch_wait`): io_uring submits the forwarded packets
/// before it waits, and their copies go between the two.
fn copies_with_batched_waits(io: RelayIo) {
    copies_both_ways(io, "copybatch", (45400, 45499), 200);
}

fn copies_both_ways(io: RelayIo, tag: &str, ports: (u16, u16), batch_wait_us: u32) {
    let r = TestRelay::start_io(io, tag, ports, |c| c.batch_wait_us = batch_wait_us);
    let mut c = r.client();
    let Call {
        caller,
        callee,
        to_a,
        to_b,
    } = new_call(&mut c, "copy-1");
    let (srs_a, srs_a_rtcp) = endpoint_pair("127.0.0.5");
    let (srs_b, _srs_b_rtcp) = endpoint_pair("127.0.0.5");

    let ports = copy(
        &mut c,
        "copy-1",
        CopyAction::Offer {
            entries: vec![CALLER, CALLEE],
            paused: false,
        },
    )
    .unwrap();
    assert_eq!(ports.len(), 2);
    assert!(ports.iter().all(|p| *p != 0 && p % 2 == 0), "{ports:?}");
    assert_ne!(ports[0], ports[1]);
    assert!(![to_a.port(), to_b.port()].contains(&ports[0]));
    // the same offer again keeps the ports
    let again = copy(
        &mut c,
        "copy-1",
        CopyAction::Offer {
            entries: vec![CALLER, CALLEE],
            paused: false,
        },
    )
    .unwrap();
    assert_eq!(again, ports);
    // no destination yet: nothing is copied, the call goes on
    caller.send_to(&rtp(0, 1, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 1, 0xA, 1));
    callee.send_to(&rtp(8, 1, 0xB, 2), to_b).unwrap();
    assert_eq!(recv(&caller).0, rtp(8, 1, 0xB, 2));
    assert!(silent(&srs_a));

    copy(
        &mut c,
        "copy-1",
        CopyAction::Answer {
            targets: vec![
                (CALLER, Some(srs_a.local_addr().unwrap())),
                (CALLEE, Some(srs_b.local_addr().unwrap())),
            ],
        },
    )
    .unwrap();
    let ip = to_a.ip();
    for seq in 2..52u16 {
        caller.send_to(&rtp(0, seq, 0xA, 1), to_a).unwrap();
        assert_eq!(recv(&callee).0, rtp(0, seq, 0xA, 1));
        let (p, from) = recv(&srs_a);
        assert_eq!(p, rtp(0, seq, 0xA, 1), "the caller's packet, unchanged");
        assert_eq!(from, SocketAddr::new(ip, ports[0]), "from the copy's port");
        callee.send_to(&rtp(8, seq, 0xB, 2), to_b).unwrap();
        assert_eq!(recv(&caller).0, rtp(8, seq, 0xB, 2));
        let (p, from) = recv(&srs_b);
        assert_eq!(p, rtp(8, seq, 0xB, 2));
        assert_eq!(from, SocketAddr::new(ip, ports[1]));
    }
    // RTCP: from the copy's odd port to the destination's port + 1
    let caller_rtcp = endpoint("127.0.0.2");
    caller_rtcp
        .send_to(&rtcp_sr(0xA), SocketAddr::new(ip, to_a.port() + 1))
        .unwrap();
    let (p, from) = recv(&srs_a_rtcp);
    assert_eq!(p, rtcp_sr(0xA));
    assert_eq!(from, SocketAddr::new(ip, ports[0] + 1));

    assert!(eventually(Duration::from_secs(5), || {
        let s = stream_json(&mut c);
        s["caller_copied"] == 51 && s["callee_copied"] == 50
    }));
    assert!(counter(&r.counters.packets_copied) >= 101);
    assert_eq!(counter(&r.counters.packets_copy_failed), 0);

    // paused: the call goes on, the copies stop
    copy(
        &mut c,
        "copy-1",
        CopyAction::Offer {
            entries: vec![CALLER, CALLEE],
            paused: true,
        },
    )
    .unwrap();
    caller.send_to(&rtp(0, 60, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 60, 0xA, 1));
    assert!(silent(&srs_a));
    // resumed by the next answer
    copy(
        &mut c,
        "copy-1",
        CopyAction::Answer {
            targets: vec![(CALLER, Some(srs_a.local_addr().unwrap())), (CALLEE, None)],
        },
    )
    .unwrap();
    caller.send_to(&rtp(0, 61, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 61, 0xA, 1));
    assert_eq!(recv(&srs_a).0, rtp(0, 61, 0xA, 1));
    callee.send_to(&rtp(8, 61, 0xB, 2), to_b).unwrap();
    assert_eq!(recv(&caller).0, rtp(8, 61, 0xB, 2));
    assert!(silent(&srs_b), "the callee's copy has no destination now");

    // deleted: stops at once, the ports are free again
    let in_use = counter(&r.counters.ports_in_use);
    assert!(copy(&mut c, "copy-1", CopyAction::Delete)
        .unwrap()
        .is_empty());
    caller.send_to(&rtp(0, 62, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 62, 0xA, 1));
    assert!(silent(&srs_a));
    assert_eq!(counter(&r.counters.ports_in_use), in_use - 4);
    // deleting again is no error (the session may end first)
    assert!(copy(&mut c, "copy-1", CopyAction::Delete).is_ok());
    c.remove("copy-1", "ft", "tt").unwrap();
}

fn the_session_end_removes_its_copies(io: RelayIo) {
    let r = TestRelay::start_io(io, "copyend", (45100, 45199), |_| {});
    let mut c = r.client();
    let Call {
        caller,
        callee,
        to_a,
        ..
    } = new_call(&mut c, "copy-2");
    let srs = endpoint("127.0.0.5");
    let idle = counter(&r.counters.ports_in_use);
    copy(
        &mut c,
        "copy-2",
        CopyAction::Offer {
            entries: vec![CALLER],
            paused: false,
        },
    )
    .unwrap();
    assert_eq!(counter(&r.counters.ports_in_use), idle + 2);
    // the relay's own ports are no destination
    let own = copy(
        &mut c,
        "copy-2",
        CopyAction::Answer {
            targets: vec![(CALLER, Some(to_a))],
        },
    );
    assert!(own.is_err(), "{own:?}");
    copy(
        &mut c,
        "copy-2",
        CopyAction::Answer {
            targets: vec![(CALLER, Some(srs.local_addr().unwrap()))],
        },
    )
    .unwrap();
    caller.send_to(&rtp(0, 1, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 1, 0xA, 1));
    assert_eq!(recv(&srs).0, rtp(0, 1, 0xA, 1));
    c.remove("copy-2", "ft", "tt").unwrap();
    assert_eq!(
        counter(&r.counters.ports_in_use),
        0,
        "the stream's and the copy's ports are back"
    );
    caller.send_to(&rtp(0, 2, 0xA, 1), to_a).unwrap();
    assert!(silent(&srs));
    // a copy for a session that does not exist is refused
    assert!(copy(
        &mut c,
        "copy-2",
        CopyAction::Offer {
            entries: vec![CALLER],
            paused: false
        }
    )
    .is_err());
}

/// A stream takes at most eight copies (four recorders of both parties); a ninth is refused
/// and leaves nothing behind, the others go on.
fn a_stream_has_at_most_eight_copies(io: RelayIo) {
    let r = TestRelay::start_io(io, "copymax", (45300, 45399), |_| {});
    let mut c = r.client();
    let Call { .. } = new_call(&mut c, "copy-3");
    let offer = |c: &mut Client, id: &str| {
        c.copy(&CopyRequest {
            call_id: "copy-3".into(),
            from_tag: "ft".into(),
            to_tag: "tt".into(),
            copy_id: id.into(),
            action: CopyAction::Offer {
                entries: vec![CALLER, CALLEE],
                paused: false,
            },
        })
    };
    for n in 0..4 {
        offer(&mut c, &format!("rec-{n}")).expect("four recorders of both parties");
    }
    let in_use = counter(&r.counters.ports_in_use);
    assert!(offer(&mut c, "rec-4").is_err(), "a ninth and tenth copy");
    assert_eq!(
        counter(&r.counters.ports_in_use),
        in_use,
        "nothing left behind"
    );
    // the same copy again keeps its ports: no new entry
    offer(&mut c, "rec-0").expect("an offer of an existing copy");
    c.remove("copy-3", "ft", "tt").unwrap();
    assert_eq!(counter(&r.counters.ports_in_use), 0);
}

backends!(
    copies_follow_both_directions_and_stop,
    copies_with_batched_waits,
    the_session_end_removes_its_copies,
    a_stream_has_at_most_eight_copies
);

kernel_variants!(
    copies_follow_both_directions_and_stop,
    the_session_end_removes_its_copies,
);
