//! Timeouts under a fake clock: which timeout applies, and that a tick looks only at the
//! sessions that are due.

use super::super::*;
use super::{answered_call, audio, msg, sec, snap_media, table};
use crate::control::codec::MessageType::{Reply, Request};
use crate::media::Direction;

#[test]
fn setup_timeout_without_media() {
    let (mut t, t0, c) = table(10);
    let mut m = msg(Request, 1, "ft", "", vec![audio("10.0.0.1", 4000)]);
    m.dialog_id = "1234".into();
    t.update(&m, t0).unwrap();
    assert!(t.tick(t0 + sec(89)).is_empty());
    let e = t.tick(t0 + sec(90));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].call_id, "call-1");
    assert_eq!(e[0].dialog_id.as_deref(), Some("1234"));
    assert!(e[0].stats_json.contains("\"timed_out\":true"));
    assert_eq!(Counters::get(&c.sessions_timed_out), 1);
    assert_eq!(Counters::get(&c.sessions_active), 0);
    assert_eq!(t.backend().open.len(), 0);
    // the BYE's remove afterwards is still answered (from the tombstone)
    let j = t.remove("call-1", "ft", "", t0 + sec(100)).unwrap();
    assert_eq!(j, e[0].stats_json);
    assert!(t.remove("call-1", "ft", "", t0 + sec(100)).is_none());
}

#[test]
fn media_timeout_counts_from_the_last_packet() {
    let (mut t, t0, _) = table(10);
    t.update(
        &msg(Request, 1, "ft", "", vec![audio("10.0.0.1", 4000)]),
        t0,
    )
    .unwrap();
    t.update(
        &msg(Reply, 1, "ft", "tt", vec![audio("10.0.0.2", 5000)]),
        t0 + sec(1),
    )
    .unwrap();
    // media flows until t0+200 s
    for s in (2..=200).step_by(20) {
        snap_media(&mut t, 1, t0 + sec(s));
        assert!(t.tick(t0 + sec(s)).is_empty());
    }
    let last = t0 + sec(182);
    assert!(t.tick(last + sec(59)).is_empty());
    let e = t.tick(last + sec(60));
    assert_eq!(e.len(), 1);
    let j = &e[0].stats_json;
    assert!(j.contains("\"status\":\"no-traffic timeout\""), "{j}");
    // the stream had media: it waited the media timeout (60 s), not the setup one (90 s)
    assert!(j.contains("\"timeout_wait\":60"), "{j}");
    assert!(j.contains("\"caller_codec\":\"G711u\""));
    assert!(j.contains("\"callee_codec\":\"Dynamic(101)\""));
    assert!(j.contains("\"caller_packets\":10"));
    assert!(j.contains("\"caller_remote\":\"203.0.113.1:4000\""));
    assert!(j.contains("\"callee_remote\":\"Unknown\""));
    assert!(j.contains("\"post_dial_delay\":2.000"), "{j}");
}

#[test]
fn hold_gets_the_long_timeout() {
    let (mut t, t0, _) = table(10);
    answered_call(&mut t, t0);
    snap_media(&mut t, 1, t0 + sec(10));
    // caller puts the call on hold (sendonly), callee answers recvonly; media stops
    let mut hold = audio("10.0.0.1", 4000);
    hold.direction = Direction::SendOnly;
    let h0 = t0 + sec(20);
    t.update(&msg(Request, 2, "ft", "tt", vec![hold]), h0)
        .unwrap();
    let mut ro = audio("10.0.0.2", 5000);
    ro.direction = Direction::RecvOnly;
    t.update(&msg(Reply, 2, "ft", "tt", vec![ro]), h0).unwrap();
    let j = t.sessions_json(h0);
    assert!(j.contains("\"status\":\"on hold\""), "{j}");
    assert!(j.contains("\"timeout_wait\":7200"));
    assert!(
        t.tick(h0 + sec(3600)).is_empty(),
        "60 s media timeout must not apply on hold"
    );
    assert!(t.tick(h0 + sec(7199)).is_empty());
    let e = t.tick(h0 + sec(7200));
    assert_eq!(e.len(), 1);
    assert!(e[0].stats_json.contains("\"status\":\"on hold timeout\""));
}

#[test]
fn old_style_hold_with_zero_address() {
    let (mut t, t0, _) = table(10);
    answered_call(&mut t, t0);
    let n = t.backend().configs.len();
    t.update(
        &msg(Request, 2, "ft", "tt", vec![audio("0.0.0.0", 4000)]),
        t0,
    )
    .unwrap();
    // 0.0.0.0 is not an address to send to, and does not re-latch
    assert_eq!(t.backend().configs[n].2.sdp, None);
    assert!(t.tick(t0 + sec(1000)).is_empty());
}

#[test]
fn tick_visits_only_the_sessions_that_are_due() {
    let (mut t, t0, _) = table(1000);
    for i in 0..100 {
        let mut m = msg(
            Request,
            1,
            &format!("ft{i}"),
            "",
            vec![audio("10.0.0.1", 4000)],
        );
        m.call_id = format!("call-{i}");
        t.update(&m, t0).unwrap();
    }
    assert_eq!(t.timers.len(), 100, "one timer per session");
    // no media yet: nothing can expire before the media timeout counted from the offer
    assert_eq!(t.next_deadline(), Some(t0 + sec(60)));
    let before = t.backend().snapshots.get();
    for s in 1..60 {
        assert!(t.tick(t0 + sec(s)).is_empty());
    }
    assert_eq!(
        t.backend().snapshots.get(),
        before,
        "no stream looked at before a deadline"
    );
    // one session gets media at 30 s: at 60 s all are checked, it alone stays (until 90 s)
    snap_media(&mut t, 1, t0 + sec(30));
    assert!(t.tick(t0 + sec(60)).is_empty());
    assert!(t.backend().snapshots.get() > before);
    assert_eq!(t.next_deadline(), Some(t0 + sec(90)));
    let e = t.tick(t0 + sec(90));
    assert_eq!(e.len(), 100, "99 setup timeouts and one media timeout");
    assert_eq!(t.timers.len(), 0);
    // what is left is the tombstones, dropped an hour later
    assert_eq!(
        t.next_deadline(),
        Some(t0 + sec(90) + TOMBSTONE_TTL + Duration::from_millis(1))
    );
    assert!(t.remove("call-7", "ft7", "", t0 + sec(100)).is_some());
    t.tick(t0 + sec(90) + TOMBSTONE_TTL + Duration::from_millis(1));
    assert!(t.remove("call-8", "ft8", "", t0 + sec(100)).is_none());
    assert_eq!(t.next_deadline(), None);
}

#[test]
fn media_after_the_offer_moves_the_deadline_but_never_past_the_rule() {
    let (mut t, t0, _) = table(10);
    t.update(
        &msg(Request, 1, "ft", "", vec![audio("10.0.0.1", 4000)]),
        t0,
    )
    .unwrap();
    // media arrives at 1 s and stops: the media timeout (61 s) comes before the setup one (90 s)
    snap_media(&mut t, 1, t0 + sec(1));
    assert!(t.next_deadline().is_some_and(|d| d <= t0 + sec(61)));
    assert!(t.tick(t0 + sec(60)).is_empty());
    assert_eq!(t.next_deadline(), Some(t0 + sec(61)));
    assert_eq!(t.tick(t0 + sec(61)).len(), 1);
}

#[test]
fn removed_and_refused_sessions_leave_no_timer() {
    let (mut t, t0, _) = table(1);
    t.update(
        &msg(Request, 1, "ft", "", vec![audio("10.0.0.1", 4000)]),
        t0,
    )
    .unwrap();
    // a second call finds the port range exhausted: rolled back, no timer
    let mut m = msg(Request, 1, "ft2", "", vec![audio("10.0.0.1", 4000)]);
    m.call_id = "call-2".into();
    assert!(t.update(&m, t0).is_err());
    assert_eq!(t.timers.len(), 1);
    t.remove("call-1", "ft", "", t0 + sec(1)).unwrap();
    assert_eq!(t.timers.len(), 0);
    assert_eq!(t.next_deadline(), None);
}
