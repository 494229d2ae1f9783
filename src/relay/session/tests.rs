//! Signalling state machine under a fake clock and a fake backend.

use super::*;
use crate::control::codec::MessageType;
use crate::media::StreamDesc;
use std::collections::HashMap;

#[derive(Default)]
struct Fake {
    next_base: u16,
    limit: usize,
    open: HashMap<u64, StreamHandle>,
    configs: Vec<(u64, Party, SideConfig)>,
    snaps: HashMap<u64, Snapshot>,
    closed: Vec<u64>,
    discarded: Vec<u64>,
    next_id: u64,
    ifaces: Vec<[usize; 2]>,
    opened_on: Vec<[usize; 2]>,
    /// Snapshots taken (what a timer check costs).
    snapshots: std::cell::Cell<usize>,
    /// Recording: whether the backend records, recordings opened, streams attached (stream,
    /// key), recordings closed.
    recorder: bool,
    rec_opened: u64,
    rec_streams: Vec<(u64, u64)>,
    rec_closed: Vec<u64>,
}

impl Backend for Fake {
    fn facing(&mut self, _: Option<IpAddr>, want: &Want) -> io::Result<Facing> {
        // interface 1: 2001:db8::100, for a party named "v6" or with an IPv6 SDP
        let iface = [0, 1].map(|p| usize::from(want.names[p] == "v6" || want.v6[p] == Some(true)));
        let ips = ["192.0.2.100", "2001:db8::100"].map(|t| t.parse::<IpAddr>().unwrap());
        self.ifaces.push(iface);
        Ok(Facing {
            iface,
            ip: iface.map(|i| ips[i]),
        })
    }
    fn open(&mut self, _now: Instant, iface: [usize; 2]) -> Result<StreamHandle, OpenError> {
        self.opened_on.push(iface);
        if self.open.len() >= self.limit {
            return Err(OpenError::Exhausted);
        }
        self.next_id += 1;
        let base = 40000 + self.next_base;
        self.next_base += 4;
        let h = StreamHandle {
            id: self.next_id,
            ports: [base, base + 2],
        };
        self.open.insert(h.id, h);
        Ok(h)
    }
    fn configure(&mut self, h: &StreamHandle, party: Party, cfg: SideConfig) {
        self.configs.push((h.id, party, cfg));
    }
    fn close(&mut self, h: &StreamHandle, _now: Instant) {
        assert!(self.open.remove(&h.id).is_some(), "double close");
        self.closed.push(h.id);
    }
    fn discard(&mut self, h: &StreamHandle) {
        assert!(self.open.remove(&h.id).is_some(), "double discard");
        self.discarded.push(h.id);
    }
    fn snapshot(&self, h: &StreamHandle) -> Snapshot {
        self.snapshots.set(self.snapshots.get() + 1);
        self.snaps.get(&h.id).copied().unwrap_or_default()
    }
    fn record_open(&mut self, call_id: &str) -> Option<(u64, String)> {
        if !self.recorder {
            return None;
        }
        self.rec_opened += 1;
        Some((
            self.rec_opened,
            format!("/rec/{call_id}-{}.pcap", self.rec_opened),
        ))
    }
    fn record_stream(&mut self, h: &StreamHandle, key: u64, _relay_ip: [IpAddr; 2]) {
        self.rec_streams.push((h.id, key));
    }
    fn record_close(&mut self, key: u64, _now: Instant) {
        self.rec_closed.push(key);
    }
}

fn table(limit: usize) -> (SessionTable<Fake>, Instant, &'static Counters) {
    let t0 = Instant::now();
    let c = Counters::leak();
    let fake = Fake {
        limit,
        ..Fake::default()
    };
    (
        SessionTable::new(fake, Timeouts::default(), c, (t0, SystemTime::now())),
        t0,
        c,
    )
}

fn audio(addr: &str, port: u16) -> StreamDesc {
    StreamDesc {
        media_type: "audio".into(),
        addr: addr.into(),
        port,
        direction: Direction::SendRecv,
        ice: false,
    }
}

fn msg(
    kind: MessageType,
    cseq: u32,
    from: &str,
    to: &str,
    media: Vec<StreamDesc>,
) -> UpdateRequest {
    UpdateRequest {
        kind,
        call_id: "call-1".into(),
        cseq,
        from_uri: "alice@a".into(),
        to_uri: "bob@b".into(),
        from_tag: from.into(),
        to_tag: to.into(),
        user_agent: if kind == MessageType::Request {
            "UA-A"
        } else {
            "UA-B"
        }
        .into(),
        signaling_ip: "198.51.100.1".into(),
        media,
        ..UpdateRequest::default()
    }
}

use MessageType::{Reply, Request};

fn sec(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn last_cfg(t: &SessionTable<Fake>, id: u64, party: Party) -> Option<SocketAddr> {
    t.backend()
        .configs
        .iter()
        .rev()
        .find(|(i, p, _)| *i == id && *p == party)
        .and_then(|(_, _, c)| c.sdp)
}

/// A call with one audio stream, offered by the caller ("ft") and answered by the callee
/// ("tt") at `t0`.
fn answered_call(t: &mut SessionTable<Fake>, t0: Instant) {
    t.update(
        &msg(Request, 1, "ft", "", vec![audio("10.0.0.1", 4000)]),
        t0,
    )
    .unwrap();
    t.update(
        &msg(Reply, 1, "ft", "tt", vec![audio("10.0.0.2", 5000)]),
        t0,
    )
    .unwrap();
}

#[test]
fn offer_answer_directions_and_remove() {
    let (mut t, t0, c) = table(10);
    // caller's INVITE: the answer carries the callee-facing port
    let a = t
        .update(
            &msg(Request, 1, "ft", "", vec![audio("10.0.0.1", 4000)]),
            t0,
        )
        .unwrap();
    assert_eq!(a.ip, "192.0.2.100".parse::<IpAddr>().unwrap());
    assert_eq!(a.ports, vec![40002]);
    // callee's 200 OK: the caller-facing port
    let b = t
        .update(
            &msg(Reply, 1, "ft", "tt", vec![audio("10.0.0.2", 5000)]),
            t0,
        )
        .unwrap();
    assert_eq!(b.ports, vec![40000]);
    assert_eq!(t.backend().open.len(), 1);
    assert_eq!(
        last_cfg(&t, 1, Party::Caller),
        Some("10.0.0.1:4000".parse().unwrap())
    );
    assert_eq!(
        last_cfg(&t, 1, Party::Callee),
        Some("10.0.0.2:5000".parse().unwrap())
    );
    // callee's re-INVITE (its own CSeq space) is an offer towards the caller
    let r = t
        .update(
            &msg(Request, 7, "tt", "ft", vec![audio("10.0.0.2", 5000)]),
            t0,
        )
        .unwrap();
    assert_eq!(r.ports, vec![40000]);
    let r = t
        .update(
            &msg(Reply, 7, "tt", "ft", vec![audio("10.0.0.1", 4000)]),
            t0,
        )
        .unwrap();
    assert_eq!(r.ports, vec![40002]);
    assert_eq!(t.backend().open.len(), 1, "re-INVITE keeps the ports");
    assert_eq!(Counters::get(&c.sessions_active), 1);
    assert_eq!(Counters::get(&c.streams_active), 1);
    // remove with the callee's tags (BYE from the callee) finds it too
    let json = t.remove("call-1", "tt", "ft", t0 + sec(5)).unwrap();
    assert!(json.contains("\"call_id\":\"call-1\""), "{json}");
    assert!(json.contains("\"to_tag\":\"tt\""));
    assert!(json.contains("\"caller_ua\":\"UA-A\""));
    assert!(json.contains("\"callee_ua\":\"UA-B\""));
    assert!(json.contains("\"duration\":5"));
    assert!(json.contains("\"status\":\"closed\""));
    assert!(json.contains("\"caller_local\":\"192.0.2.100:40000\""));
    assert_eq!(t.backend().closed, vec![1]);
    assert_eq!(Counters::get(&c.sessions_active), 0);
    assert_eq!(Counters::get(&c.sessions_ended), 1);
    assert_eq!(Counters::get(&c.streams_active), 0);
    assert!(t.remove("call-1", "ft", "tt", t0).is_none());
}

#[test]
fn late_offer_in_200_answer_in_ack() {
    let (mut t, t0, _) = table(10);
    // INVITE without SDP never reaches the relay; the 200 OK offers
    let a = t
        .update(
            &msg(Reply, 1, "ft", "tt", vec![audio("10.0.0.2", 5000)]),
            t0,
        )
        .unwrap();
    assert_eq!(
        a.ports,
        vec![40000],
        "callee's SDP goes to the caller: caller-facing port"
    );
    let b = t
        .update(
            &msg(Request, 1, "ft", "tt", vec![audio("10.0.0.1", 4000)]),
            t0,
        )
        .unwrap();
    assert_eq!(b.ports, vec![40002]);
    assert_eq!(t.backend().open.len(), 1);
    assert_eq!(
        last_cfg(&t, 1, Party::Caller),
        Some("10.0.0.1:4000".parse().unwrap())
    );
}

#[test]
fn answer_in_prack_is_not_a_new_offer() {
    let (mut t, t0, _) = table(10);
    // INVITE (CSeq 1) without SDP; reliable 183 offers; PRACK (CSeq 2) answers
    let a = t
        .update(
            &msg(Reply, 1, "ft", "tt", vec![audio("10.0.0.2", 5000)]),
            t0,
        )
        .unwrap();
    let b = t
        .update(
            &msg(Request, 2, "ft", "tt", vec![audio("10.0.0.1", 4000)]),
            t0,
        )
        .unwrap();
    assert_eq!((a.ports[0], b.ports[0]), (40000, 40002));
    assert_eq!(
        t.backend().open.len(),
        1,
        "no fresh ports for the PRACK answer"
    );
    // the 200 OK of the INVITE repeats the offer: same ports
    let c = t
        .update(
            &msg(Reply, 1, "ft", "tt", vec![audio("10.0.0.2", 5000)]),
            t0,
        )
        .unwrap();
    assert_eq!(c.ports, vec![40000]);
    // a later UPDATE from the caller is a real offer (previous one answered)
    let d = t
        .update(
            &msg(Request, 3, "ft", "tt", vec![audio("10.0.0.1", 4100)]),
            t0,
        )
        .unwrap();
    assert_eq!(d.ports, vec![40002]);
    assert_eq!(
        last_cfg(&t, 1, Party::Caller),
        Some("10.0.0.1:4100".parse().unwrap())
    );
    let e = t
        .update(
            &msg(Reply, 3, "ft", "tt", vec![audio("10.0.0.2", 5000)]),
            t0,
        )
        .unwrap();
    assert_eq!(e.ports, vec![40000]);
    assert_eq!(t.backend().open.len(), 1);
}

#[test]
fn forked_early_media_last_answer_wins() {
    let (mut t, t0, _) = table(10);
    t.update(
        &msg(Request, 1, "ft", "", vec![audio("10.0.0.1", 4000)]),
        t0,
    )
    .unwrap();
    // two branches answer in 183s (the C module sends an empty To tag for 1xx; other
    // clients send theirs)
    let a = t
        .update(
            &msg(Reply, 1, "ft", "branchA", vec![audio("10.1.0.1", 6000)]),
            t0,
        )
        .unwrap();
    let b = t
        .update(
            &msg(
                Reply,
                1,
                "ft",
                "branchB",
                vec![audio("10.2.0.1", 7000), audio("10.2.0.1", 7002)],
            ),
            t0,
        )
        .unwrap();
    assert_eq!(a.ports, vec![40000]);
    assert_eq!(
        b.ports,
        vec![40000, 0],
        "an extra answered stream gets port 0, never None"
    );
    assert_eq!(
        last_cfg(&t, 1, Party::Callee),
        Some("10.2.0.1:7000".parse().unwrap())
    );
    let c = t
        .update(
            &msg(Reply, 1, "ft", "branchA", vec![audio("10.1.0.1", 6000)]),
            t0,
        )
        .unwrap();
    assert_eq!(c.ports, vec![40000]);
    assert_eq!(
        last_cfg(&t, 1, Party::Callee),
        Some("10.1.0.1:6000".parse().unwrap())
    );
    assert_eq!(t.backend().open.len(), 1);
    let json = t.session_stats("call-1", "ft", "", t0).unwrap();
    assert!(json.contains("\"to_tag\":\"branchA\""), "{json}");
}

#[test]
fn reinvite_adds_changes_and_removes_streams() {
    let (mut t, t0, c) = table(10);
    answered_call(&mut t, t0);
    // add video, change the audio port
    let mut video = audio("10.0.0.1", 4002);
    video.media_type = "video".into();
    let r = t
        .update(
            &msg(
                Request,
                2,
                "ft",
                "tt",
                vec![audio("10.0.0.1", 4010), video.clone()],
            ),
            t0,
        )
        .unwrap();
    assert_eq!(r.ports, vec![40002, 40006]);
    assert_eq!(Counters::get(&c.streams_active), 2);
    assert_eq!(
        last_cfg(&t, 1, Party::Caller),
        Some("10.0.0.1:4010".parse().unwrap())
    );
    let mut vb = audio("10.0.0.2", 5002);
    vb.media_type = "video".into();
    let r = t
        .update(
            &msg(Reply, 2, "ft", "tt", vec![audio("10.0.0.2", 5000), vb]),
            t0,
        )
        .unwrap();
    assert_eq!(r.ports, vec![40000, 40004]);
    // drop video again (port 0 in the offer), then a stale old-CSeq message
    let mut v0 = video.clone();
    v0.port = 0;
    let r = t
        .update(
            &msg(Request, 3, "ft", "tt", vec![audio("10.0.0.1", 4010), v0]),
            t0,
        )
        .unwrap();
    assert_eq!(r.ports, vec![40002, 0]);
    assert_eq!(t.backend().closed, vec![2]);
    assert_eq!(Counters::get(&c.streams_active), 1);
    let old = t
        .update(
            &msg(Request, 2, "ft", "tt", vec![audio("10.0.0.1", 4010), video]),
            t0,
        )
        .unwrap();
    assert_eq!(
        old.ports,
        vec![40002, 0],
        "old CSeq: current ports, no change"
    );
    assert_eq!(t.backend().open.len(), 1);
    // a stream with another media type at the same index gets fresh ports
    let mut image = audio("10.0.0.1", 4020);
    image.media_type = "image".into();
    let r = t
        .update(&msg(Request, 4, "ft", "tt", vec![image]), t0)
        .unwrap();
    assert_eq!(r.ports, vec![40010]);
    assert_eq!(t.backend().closed, vec![2, 1]);
}

fn snap_media(t: &mut SessionTable<Fake>, id: u64, at: Instant) {
    let s = t.backend_mut().snaps.entry(id).or_default();
    s.packets = [s.packets[0] + 1, s.packets[1] + 1];
    s.bytes = [172 * s.packets[0], 172 * s.packets[1]];
    s.first_media[0].get_or_insert(at);
    s.first_media[1].get_or_insert(at);
    s.last_media = [Some(at), Some(at)];
    s.codec = [Some(0), Some(101)];
    s.remote = [Some("203.0.113.1:4000".parse().unwrap()), None];
}

mod edges;
mod recording;
mod timers;
