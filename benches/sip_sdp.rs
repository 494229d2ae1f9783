//! SIP/SDP core benchmark (not a test): scan + parse + rewrite of test messages: the external
//! corpus's (`MPX_CORPUS`), whose figures BENCHMARKS.md shows, else the repository's own of the
//! same shape (`tests/messages/`).
//!
//! Run: `cargo bench --bench sip_sdp`. Reports ns/op (median and best of 7 rounds of about
//! 150 ms each) and heap allocations per op, counted with `allocation-counter` (its counting
//! global allocator is linked in, so allocation-heavy steps carry a few ns of counting cost).

use std::hint::black_box;
use std::time::{Duration, Instant};

use mediaproxy::media::RelayAnswer;
use mediaproxy::sdp::{apply, IcePriority, RewriteOptions, Sdp};
use mediaproxy::sip::SipMsg;

#[path = "../tests/shared_corpus/mod.rs"]
mod shared_corpus;

fn time<F: FnMut() -> usize>(name: &str, mut f: F) {
    let allocs = allocation_counter::measure(|| {
        black_box(f());
    })
    .count_total;
    // Calibrate: iterations for ~150 ms.
    let mut n: u64 = 1;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            black_box(f());
        }
        if t.elapsed() > Duration::from_millis(50) {
            break;
        }
        n *= 2;
    }
    n *= 3;
    let mut rounds: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                black_box(f());
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    rounds.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{name:<44} {:>9.0} ns/op (best {:>7.0})  {:>3} allocs/op  [{n} iters x 7]",
        rounds[3], rounds[0], allocs
    );
}

fn case(label: &str, external: &str, own: &str, ice: IcePriority) {
    let (file, msg) = match shared_corpus::file("sip", external, "benches/sip_sdp") {
        Some(m) => (external, m),
        None => (own, shared_corpus::own_file("sip", own)),
    };
    let m = SipMsg::scan(&msg).expect("scan");
    let (_, sdp) = m.sdp_body().expect("sdp");
    let parsed = Sdp::parse(sdp).expect("parse");
    let n = parsed.sdp.relay_streams().len();
    let answer = RelayAnswer {
        ip: "203.0.113.77".parse().unwrap(),
        ports: (0..n).map(|j| 40000 + 2 * j as u16).collect(),
    };
    let opts = RewriteOptions { ice_candidate: ice };
    let edits = parsed.sdp.plan(&answer, &opts).expect("plan");
    println!(
        "\n{label}: {file} ({} bytes, SDP {} bytes, {n} relayed streams, {} edits)",
        msg.len(),
        sdp.len(),
        edits.len()
    );
    time("scan (SipMsg::scan + accessors)", || {
        let m = SipMsg::scan(black_box(&msg)).unwrap();
        m.call_id().map_or(0, <[u8]>::len)
            + m.from_tag().map_or(0, <[u8]>::len)
            + m.cseq().map_or(0, |c| c.0 as usize)
            + m.top_via().map_or(0, |v| v.host.offset)
            + m.first_contact().map_or(0, |c| c.uri.offset)
            + m.sdp_body().map_or(0, |b| b.0)
    });
    time("parse (Sdp::parse)", || {
        Sdp::parse(black_box(sdp)).unwrap().sdp.media.len()
    });
    time("relay_streams", || {
        black_box(&parsed.sdp).relay_streams().len()
    });
    time("plan", || {
        black_box(&parsed.sdp).plan(&answer, &opts).unwrap().len()
    });
    time("apply", || apply(black_box(sdp), black_box(&edits)).len());
    time("all: scan+parse+relay_streams+plan+apply", || {
        let m = SipMsg::scan(black_box(&msg)).unwrap();
        let (_, body) = m.sdp_body().unwrap();
        let p = Sdp::parse(body).unwrap();
        let streams = p.sdp.relay_streams();
        let e = p.sdp.plan(&answer, &opts).unwrap();
        streams.len() + apply(body, &e).len()
    });
}

fn main() {
    // `cargo bench` passes "--bench"; any other argument filters nothing here.
    println!(
        "SIP/SDP core benchmark ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    case(
        "one-audio-stream INVITE",
        "sipp-uac-invite.sip",
        "invite-audio-behind-nat.sip",
        IcePriority::None,
    );
    case(
        "WebRTC offer (BUNDLE, rtcp-mux)",
        "asterisk-invite-bundle-4-streams.sip",
        "invite-webrtc-bundle.sip",
        IcePriority::High,
    );
    case(
        "ICE offer, two components (candidates inserted)",
        "pjproject-sendto-ice-rtcp-addr-two-components.sip",
        "invite-ice-two-components.sip",
        IcePriority::High,
    );
}
