//! A session's recording as the table keeps it: started by `record start` or (with
//! `record_all`) by the first answer, attached to every stream including those a re-offer adds,
//! closed by `stop` or the session's end, named in the statistics (also after a stop).

use super::*;
use crate::relay::session::recording::RecordError;

#[test]
fn a_started_recording_follows_new_streams_and_ends_with_the_session() {
    let (mut t, t0, _) = table(10);
    assert_eq!(
        t.start_recording("call-1", "ft", "tt"),
        Err(RecordError::NotFound)
    );
    answered_call(&mut t, t0);
    assert_eq!(
        t.start_recording("call-1", "ft", "tt"),
        Err(RecordError::Off),
        "a backend that records nothing"
    );
    t.backend_mut().recorder = true;
    // the callee's tags find the session too
    let path = t.start_recording("call-1", "tt", "ft").unwrap();
    assert_eq!(path, "/rec/call-1-1.pcap");
    assert_eq!(t.start_recording("call-1", "ft", "tt").unwrap(), path);
    assert_eq!(t.backend().rec_opened, 1, "one file");
    assert!(t
        .backend()
        .rec_streams
        .iter()
        .all(|&(id, k)| id == 1 && k == 1));
    // a re-offer adds video: its stream is recorded too
    let video = StreamDesc {
        media_type: "video".into(),
        ..audio("10.0.0.1", 4002)
    };
    t.update(
        &msg(Request, 2, "ft", "tt", vec![audio("10.0.0.1", 4000), video]),
        t0 + sec(1),
    )
    .unwrap();
    assert!(
        t.backend().rec_streams.contains(&(2, 1)),
        "{:?}",
        t.backend().rec_streams
    );
    let json = t.remove("call-1", "ft", "tt", t0 + sec(2)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["recording"], path.as_str());
    assert_eq!(t.backend().rec_closed, vec![1]);
}

#[test]
fn record_all_starts_at_the_answer_and_stop_closes() {
    let (mut t, t0, _) = table(10);
    t.backend_mut().recorder = true;
    t.set_record_all(true);
    t.update(
        &msg(Request, 1, "ft", "", vec![audio("10.0.0.1", 4000)]),
        t0,
    )
    .unwrap();
    assert_eq!(t.backend().rec_opened, 0, "not before the answer");
    t.update(
        &msg(Reply, 1, "ft", "tt", vec![audio("10.0.0.2", 5000)]),
        t0,
    )
    .unwrap();
    assert_eq!(t.backend().rec_opened, 1);
    assert_eq!(t.backend().rec_streams, vec![(1, 1)]);
    // a second answer does not start another
    t.update(
        &msg(Reply, 1, "ft", "tt", vec![audio("10.0.0.2", 5000)]),
        t0,
    )
    .unwrap();
    assert_eq!(t.backend().rec_opened, 1);
    assert!(t.stop_recording("call-1", "ft", "tt", t0));
    assert_eq!(t.backend().rec_closed, vec![1]);
    assert!(!t.stop_recording("call-2", "ft", "tt", t0));
    let json = t.remove("call-1", "ft", "tt", t0 + sec(1)).unwrap();
    assert!(
        json.contains("\"recording\":\"/rec/call-1-1.pcap\""),
        "the file stays named after the stop: {json}"
    );
    assert_eq!(t.backend().rec_closed, vec![1], "closed once");
}

#[test]
fn an_expired_session_closes_its_recording() {
    let (mut t, t0, _) = table(10);
    t.backend_mut().recorder = true;
    answered_call(&mut t, t0);
    t.start_recording("call-1", "ft", "tt").unwrap();
    let ended = t.tick(t0 + sec(3600));
    assert_eq!(ended.len(), 1);
    assert!(ended[0]
        .stats_json
        .contains("\"recording\":\"/rec/call-1-1.pcap\""));
    assert_eq!(t.backend().rec_closed, vec![1]);
}
