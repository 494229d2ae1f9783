//! The worker core without a back end: commands through its channel, datagrams straight into
//! [`judge`], the flow life cycle as a [`FlowObserver`] sees it. (The core run by each real back
//! end, with packets on sockets, is `relay::io`'s tests.)

use super::flow::FlowObserver;
use super::*;
use crate::relay::packet::Datagram;
use std::net::UdpSocket;
use std::sync::Mutex;

/// A back end that only records what the core tells it.
#[derive(Default)]
struct NullIo {
    added: Vec<usize>,
    removed: Vec<usize>,
}

impl FlowIo for NullIo {
    fn added(&mut self, slot: usize, _flow: &Flow) -> io::Result<()> {
        self.added.push(slot);
        Ok(())
    }

    fn removed(&mut self, slot: usize, _flow: Flow) {
        self.removed.push(slot);
    }
}

/// Writes down every life-cycle point as text.
struct Recorder(Arc<Mutex<Vec<String>>>);

impl FlowObserver for Recorder {
    fn latched(&mut self, flow: &Flow, sources: [SocketAddr; 2]) {
        let line = format!("latched {} {} {}", flow.slot, sources[0], sources[1]);
        self.0.lock().unwrap().push(line);
    }
    fn relatched(&mut self, flow: &Flow, sources: [SocketAddr; 2]) {
        let line = format!("relatched {} {} {}", flow.slot, sources[0], sources[1]);
        self.0.lock().unwrap().push(line);
    }
    fn unlatched(&mut self, flow: &Flow) {
        self.0
            .lock()
            .unwrap()
            .push(format!("unlatched {}", flow.slot));
    }
    fn removed(&mut self, flow: &Flow) {
        self.0
            .lock()
            .unwrap()
            .push(format!("removed {}", flow.slot));
    }
}

struct Bench {
    core: Core,
    tx: Sender<Cmd>,
    io: NullIo,
    _latches: Receiver<LatchEvent>,
    _events: Receiver<crate::relay::events::RelayEvent>,
}

fn bench() -> Bench {
    let (sink, events) = EventSink::new().unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let (latch_tx, latches) = crossbeam_channel::bounded(64);
    let core = Core::new(
        0,
        Arc::new(EventFd::new().unwrap()),
        rx,
        LatchPolicy {
            learn_window_ms: 0,
            ..LatchPolicy::default()
        },
        Arc::new(Guard::new("127.0.0.1".parse().unwrap(), None, 0)),
        Instant::now(),
        Counters::leak(),
        latch_tx,
        sink,
    );
    Bench {
        core,
        tx,
        io: NullIo::default(),
        _latches: latches,
        _events: events,
    }
}

impl Bench {
    fn apply(&mut self, cmds: Vec<Cmd>) {
        for c in cmds {
            self.tx.send(c).unwrap();
        }
        assert!(self.core.commands(&mut self.io));
    }

    /// Judges `payload` from `src` as received on side `side` of the flow in `slot`.
    fn judge(&mut self, slot: usize, side: usize, payload: &[u8], src: &str) -> Option<Forward> {
        let now_ms = self.core.now_ms();
        let flow = self.core.flows[slot].as_mut().unwrap();
        let d = Datagram {
            payload,
            src: src.parse().unwrap(),
            truncated: false,
        };
        judge(flow, side, &d, now_ms, &mut self.core.pkt)
    }
}

fn sock() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut v = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    v[2..4].copy_from_slice(&seq.to_be_bytes());
    v[8..12].copy_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(&[0; 160]);
    v
}

fn configure(slot: u32, party: usize, sdp: Option<&str>, signaling_ip: Option<&str>) -> Cmd {
    Cmd::Configure {
        slot,
        party,
        cfg: SideConfig {
            sdp: sdp.map(|s| s.parse().unwrap()),
            signaling_ip: signaling_ip.map(|s| s.parse().unwrap()),
            ..SideConfig::default()
        },
    }
}

/// A flow is reported latched once both sides are, re-latched when a side follows a NAT
/// rebinding, unlatched when signalling moves a side elsewhere, removed when it goes; a
/// one-sided latch is not reported.
#[test]
fn the_observer_sees_each_point_of_a_flows_life() {
    let mut b = bench();
    let seen = Arc::new(Mutex::new(Vec::new()));
    b.core.observe(Box::new(Recorder(seen.clone())));
    let taken = || std::mem::take(&mut *seen.lock().unwrap());
    b.apply(vec![
        Cmd::Add {
            slot: 3,
            flow: Box::new(FlowInit {
                socks: [sock(), sock()],
                shared: Arc::new(StreamShared::default()),
                stream_id: 7,
                rtcp: false,
                v6: false,
            }),
        },
        configure(3, 0, None, Some("127.0.0.2")),
        configure(3, 1, Some("127.0.0.3:4000"), None),
    ]);
    assert_eq!(b.io.added, [3]);

    let to_callee = b.judge(3, 0, &rtp(1, 0), "127.0.0.2:5000");
    assert_eq!(
        to_callee,
        Some(Forward {
            side: 1,
            to: "127.0.0.3:4000".parse().unwrap()
        })
    );
    assert_eq!(taken(), Vec::<String>::new(), "only the caller latched");

    let to_caller = b.judge(3, 1, &rtp(2, 0), "127.0.0.3:4000");
    assert_eq!(
        to_caller,
        Some(Forward {
            side: 0,
            to: "127.0.0.2:5000".parse().unwrap()
        })
    );
    assert_eq!(taken(), ["latched 3 127.0.0.2:5000 127.0.0.3:4000"]);

    for seq in 1..5 {
        assert!(b.judge(3, 1, &rtp(2, seq), "127.0.0.3:4000").is_some());
    }
    assert_eq!(
        taken(),
        Vec::<String>::new(),
        "steady media changes nothing"
    );

    // the callee's NAT rebinds: the same stream from another port
    assert!(b.judge(3, 1, &rtp(2, 5), "127.0.0.3:4002").is_some());
    assert_eq!(taken(), ["relatched 3 127.0.0.2:5000 127.0.0.3:4002"]);

    // new signalling moves the callee: its latch is reset
    b.apply(vec![configure(3, 1, Some("127.0.0.4:4000"), None)]);
    assert_eq!(taken(), ["unlatched 3"]);

    b.apply(vec![Cmd::Remove { slot: 3 }]);
    assert_eq!(taken(), ["removed 3"]);
    assert_eq!(b.io.removed, [3]);
    assert!(b.core.flows[3].is_none());
}
