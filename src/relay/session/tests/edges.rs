//! Edges of the signalling state machine: port 0 and rejected streams, exhaustion, unknown
//! sessions, forks by From-tag, the sessions listing and per-party interfaces.

use super::super::*;
use super::{audio, msg, sec, table};
use crate::control::codec::MessageType::{Reply, Request};

#[test]
fn port_zero_offer_and_rejected_answer() {
    let (mut t, t0, c) = table(10);
    let mut v = audio("10.0.0.1", 0);
    v.media_type = "video".into();
    let r = t
        .update(
            &msg(Request, 1, "ft", "", vec![audio("10.0.0.1", 4000), v]),
            t0,
        )
        .unwrap();
    assert_eq!(r.ports, vec![40002, 0]);
    assert_eq!(t.backend().open.len(), 1);
    // callee rejects the audio too
    let r = t
        .update(
            &msg(
                Reply,
                1,
                "ft",
                "tt",
                vec![audio("10.0.0.2", 0), audio("10.0.0.2", 0)],
            ),
            t0,
        )
        .unwrap();
    assert_eq!(r.ports, vec![0, 0]);
    assert_eq!(t.backend().open.len(), 0);
    assert_eq!(Counters::get(&c.streams_active), 0);
    // a session without live streams still expires (setup timeout since the last signalling)
    assert!(t.tick(t0 + sec(89)).is_empty());
    assert_eq!(t.tick(t0 + sec(90)).len(), 1);
}

#[test]
fn exhaustion_is_an_error_and_leaves_nothing_behind() {
    let (mut t, t0, c) = table(1);
    t.update(
        &msg(Request, 1, "ft", "", vec![audio("10.0.0.1", 4000)]),
        t0,
    )
    .unwrap();
    let mut m = msg(Request, 1, "ft2", "", vec![audio("10.0.0.3", 4000)]);
    m.call_id = "call-2".into();
    assert!(matches!(t.update(&m, t0), Err(TableError::NoPorts)));
    assert_eq!(t.session_count(), 1);
    assert_eq!(Counters::get(&c.sessions_active), 1);
    // a two-stream offer that cannot get its second stream gives the first one back at once
    // (discarded: no quarantine for ports that never carried a call)
    t.remove("call-1", "ft", "", t0).unwrap();
    let closed = t.backend().closed.clone();
    let mut two = msg(
        Request,
        1,
        "ft2",
        "",
        vec![audio("10.0.0.3", 4000), audio("10.0.0.3", 4002)],
    );
    two.call_id = "call-2".into();
    assert!(matches!(t.update(&two, t0), Err(TableError::NoPorts)));
    assert_eq!(t.backend().open.len(), 0);
    assert_eq!(t.backend().closed, closed, "nothing closed into quarantine");
    assert_eq!(t.backend().discarded.len(), 1);
    assert_eq!(t.session_count(), 0);
    assert_eq!(t.update(&m, t0).unwrap().ports.len(), 1);
}

#[test]
fn bodyless_200_for_unknown_session_is_an_error() {
    let (mut t, t0, _) = table(1);
    assert!(matches!(
        t.update(&msg(Reply, 1, "ft", "tt", vec![]), t0),
        Err(TableError::NotFound)
    ));
    t.update(
        &msg(Request, 1, "ft", "", vec![audio("10.0.0.1", 4000)]),
        t0,
    )
    .unwrap();
    let r = t
        .update(&msg(Reply, 1, "ft", "tt", vec![]), t0 + sec(2))
        .unwrap();
    assert!(r.ports.is_empty());
    let json = t.session_stats("call-1", "ft", "", t0 + sec(3)).unwrap();
    assert!(json.contains("\"duration\":1"), "{json}");
}

#[test]
fn same_call_id_different_from_tags_are_different_sessions() {
    let (mut t, t0, _) = table(10);
    t.update(
        &msg(Request, 1, "ft1", "", vec![audio("10.0.0.1", 4000)]),
        t0,
    )
    .unwrap();
    let r = t
        .update(
            &msg(Request, 1, "ft2", "", vec![audio("10.0.0.1", 4000)]),
            t0,
        )
        .unwrap();
    assert_eq!(r.ports, vec![40006]);
    assert_eq!(t.session_count(), 2);
    let all = t.sessions_json(t0);
    assert_eq!(all.matches("\"call_id\":\"call-1\"").count(), 2);
    assert!(t.remove("call-1", "ft2", "", t0).is_some());
    assert_eq!(t.session_count(), 1);
}

#[test]
fn sessions_json_lists_only_answered_streams() {
    let (mut t, t0, _) = table(10);
    t.update(
        &msg(Request, 1, "ft", "", vec![audio("10.0.0.1", 4000)]),
        t0,
    )
    .unwrap();
    let j = t.sessions_json(t0);
    assert!(j.contains("\"streams\":[]"), "{j}");
    assert!(j.contains("\"start_time\":null"));
    t.update(
        &msg(Reply, 1, "ft", "tt", vec![audio("10.0.0.2", 5000)]),
        t0,
    )
    .unwrap();
    let j = t.sessions_json(t0);
    // `tags`: one Call-ID's sessions without the statistics
    assert_eq!(t.tags_json("call-1"), r#"[["ft","tt"]]"#);
    assert_eq!(t.tags_json("call-2"), "[]");
    for f in [
        "media_type",
        "status",
        "timeout_wait",
        "caller_codec",
        "callee_codec",
        "start_time",
        "end_time",
        "post_dial_delay",
        "caller_bytes",
        "callee_bytes",
        "caller_packets",
        "callee_packets",
        "caller_local",
        "callee_local",
        "caller_remote",
        "callee_remote",
    ] {
        assert!(j.contains(&format!("\"{f}\":")), "{f} missing in {j}");
    }
}

#[test]
fn each_party_gets_the_address_of_its_own_interface() {
    let (mut t, t0, _) = table(10);
    // the caller's IPv6 SDP: the caller faces interface 1, the callee the one it is named
    let mut offer = msg(Request, 1, "ft", "", vec![audio("[2001:db8::1]", 4000)]);
    offer.interfaces = [String::new(), "v4".into()];
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        t.update(&offer, t0).unwrap().ip,
        ip("192.0.2.100"),
        "to the callee"
    );
    assert_eq!(
        (t.backend().ifaces.clone(), t.backend().opened_on.clone()),
        (vec![[1, 0]], vec![[1, 0]])
    );
    let ok = msg(Reply, 1, "ft", "tt", vec![audio("10.0.0.2", 5000)]);
    assert_eq!(
        t.update(&ok, t0).unwrap().ip,
        ip("2001:db8::100"),
        "to the caller"
    );
    // chosen once: a re-INVITE does not ask again
    let re = msg(Request, 2, "ft", "tt", vec![audio("[2001:db8::1]", 4002)]);
    assert_eq!(t.update(&re, t0).unwrap().ip, ip("192.0.2.100"));
    assert_eq!(t.backend().ifaces.len(), 1);
    let json = t.sessions_json(t0);
    assert!(
        json.contains("\"caller_local\":\"[2001:db8::100]:")
            && json.contains("\"callee_local\":\"192.0.2.100:"),
        "{json}"
    );
}
