//! Recording with OpenSIPS's siprec module through the `mediaproxy` rtp_relay engine: OpenSIPS
//! runs `cfg-examples/opensips-siprec.cfg` (`rtp_relay_engage("mediaproxy")` and
//! `siprec_start_recording()` on the initial INVITE) in the NAT lab of `opensips_rtp_relay.rs`:
//! a SIPp caller behind NAT A, a SIPp callee behind NAT B, the proxy and its embedded relay on
//! 198.51.100.1. The recording server (SRS) is a SIPp UAS in the proxy's namespace on port
//! 5090 (`uas_srs.xml`) that answers with two receive-only streams whose ports are sockets of
//! this test, which count what arrives.
//!
//! 1. The SRS gets the recording INVITE: an SDP with one m-line per party, the relay's address,
//!    copy ports of the relay's own range, `a=label:1` (the caller's media) and `a=label:2`
//!    (the callee's), and siprec's metadata.
//! 2. While the call runs, both sinks receive RTP from the relay's copy ports, unchanged (the
//!    caller's payload at sink A, the callee's at sink B).
//! 3. `media_exchange` forks the running call (MI `fork_from_call_to_uri`, both parties) to a
//!    second SIPp media server: its sinks receive both directions too.
//! 4. The callee hangs up: the relay's session report (logged by the rtp_relay delete) shows,
//!    per direction, how many packets were forwarded and copied; the SRS received within 1 % of
//!    what the relay forwarded in that direction, and the SRS and the fork together exactly
//!    what it copied.
//! 5. The SRS and the media server get a BYE; after it nothing more arrives at any sink; no
//!    session is left and every relay port (the call's and the copies') is free.
//!
//! Needs OpenSIPS with its rtp_relay, siprec, media_exchange and b2b_entities modules (OPENSIPS_BIN or
//! opensips on PATH), root with `ip netns`, nft and SIPp: `#[ignore]`d, included by
//! `scripts/test.sh` when all of that is there (the OpenSIPS build only).
#![cfg(not(feature = "kamailio"))]

mod support;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::natlab::{body, prerequisites, Lab, Side};
use support::netns;
use support::opensips;
use support::process::{loud, Host, Site};
use support::sipp::{Run, Sipp};

const TEST: &str = "siprec_records_a_call_through_the_engine";
const RELAY_PORTS: (u16, u16) = (40300, 40399);
/// The SRS's SIP port in the proxy's namespace (its SIPp's own media port 7000).
const SRS_SIP_PORT: u16 = 5090;
/// Where the SRS wants the caller's and the callee's media (sockets of this test).
const SRS_SINKS: [u16; 2] = [7200, 7202];
/// The same for the media server `media_exchange` forks the call to.
const FORK_SIP_PORT: u16 = 5092;
const FORK_SINKS: [u16; 2] = [7300, 7302];
/// Packets each way the relay must have copied before the call ends (about 12 s of 20 ms RTP):
/// the few packets before the recording starts stay well under 1 %.
const MIN_COPIED: u64 = 600;

/// `opensips-siprec.cfg` rendered as the other examples are, recording to the lab's SRS.
fn render_siprec(host: &Host, site: &Site, extra: &str) -> PathBuf {
    let path = opensips::render_cfg(host, site, "opensips-siprec.cfg", extra);
    let cfg = std::fs::read_to_string(&path).expect("read the rendered cfg");
    let srs = format!("sip:srs@{}:{SRS_SIP_PORT}", netns::PROXY_IP);
    assert!(
        cfg.contains("sip:srs@127.0.0.1:5090"),
        "the example names its SRS"
    );
    std::fs::write(&path, cfg.replace("sip:srs@127.0.0.1:5090", &srs)).expect("write cfg");
    path
}

/// A datagram and where it came from.
type Datagram = (Vec<u8>, std::net::SocketAddr);

/// A media sink: counts datagrams (and remembers the first one and its source) on a thread.
struct Sink {
    count: Arc<AtomicU64>,
    first: Arc<std::sync::Mutex<Option<Datagram>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sink {
    fn start(sock: UdpSocket) -> Sink {
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("sink timeout");
        let count = Arc::new(AtomicU64::new(0));
        let first = Arc::new(std::sync::Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, f, s) = (count.clone(), first.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            // bounded: the test stops it; a lost test ends with the process
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    if c.fetch_add(1, Ordering::Relaxed) == 0 {
                        if let Ok(mut g) = f.lock() {
                            *g = Some((buf[..n].to_vec(), from));
                        }
                    }
                }
            }
        });
        Sink {
            count,
            first,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The session report the rtp_relay delete logged for `call_id` (its first stream).
fn final_stream(log: &str, call_id: &str) -> Option<serde_json::Value> {
    let marker = format!("Call-ID {call_id} (rtp_relay): ");
    let line = log.lines().rev().find(|l| l.contains(&marker))?;
    let json = &line[line.find(&marker)? + marker.len()..];
    let v: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    v["streams"].get(0).cloned()
}

/// A SIPp SRS (`uas_srs.xml`) on `sip_port` in the proxy's namespace, answering with the
/// sinks' ports (the caller's media to the first, the callee's to the second); its run index
/// and the sinks, once it listens.
fn start_srs(w: &mut Lab, name: &str, sip_port: u16, sink_ports: [u16; 2]) -> (usize, [Sink; 2]) {
    let sinks = sink_ports.map(|p| {
        Sink::start(
            w.topo
                .udp_socket_in(&w.topo.proxy, &format!("{}:{p}", netns::PROXY_IP)),
        )
    });
    let srs_keys = [
        ("srs_port_a", sink_ports[0].to_string()),
        ("srs_port_b", sink_ports[1].to_string()),
    ];
    let keys: Vec<(&str, &str)> = srs_keys.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let proxy_ns = w.topo.proxy.clone();
    let run = Sipp::start(
        &w.site.dir,
        &Run {
            name,
            netns: &proxy_ns,
            scenario: "uas_srs.xml",
            ip: netns::PROXY_IP,
            sip_port,
            media_port: 7000 + (sip_port - SRS_SIP_PORT) * 50,
            remote: None,
            service: "srs",
            call_id: None,
            keys: &keys,
            timeout_s: 60,
        },
    );
    w.sipps.push(run);
    w.wait_for(&format!("{name} listens"), |l| {
        let port = format!("= :{sip_port}");
        let out = netns::exec(&l.topo.proxy, &["ss", "-Hlun", "sport", &port]);
        (!out.stdout.is_empty()).then_some(())
    });
    (w.sipps.len() - 1, sinks)
}

#[test]
#[ignore = "needs the proxy with siprec, media_exchange and b2b_entities, root, ip netns, nft and SIPp"]
fn siprec_records_a_call_through_the_engine() {
    let mut proxy = prerequisites(TEST);
    proxy.use_config(render_siprec);
    loud(&format!(
        "{TEST}: {} ({}) with {}",
        proxy.name,
        proxy.host.version,
        proxy.host.module_so.display()
    ));
    let mut w = Lab::start("srec", proxy, RELAY_PORTS, "");
    let (srs, sinks) = start_srs(&mut w, "srs", SRS_SIP_PORT, SRS_SINKS);
    w.register_callee();
    let call = w.start_call("call", true);
    let cid = call.call_id.clone();
    w.media_through_the_nats(&cid, 10);

    // ---- 1. the recording INVITE ----------------------------------------------------------
    let invite = w.wait_for("the SRS receives the recording INVITE", |l| {
        l.received(srs)
            .into_iter()
            .find(|m| m.starts_with("INVITE "))
    });
    let b = body(&invite);
    let ports: Vec<u16> = b
        .lines()
        .filter_map(|l| l.strip_prefix("m=audio "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    let mut problems = Vec::new();
    if ports.len() != 2
        || ports
            .iter()
            .any(|p| *p < RELAY_PORTS.0 || *p > RELAY_PORTS.1 || p % 2 != 0)
    {
        problems.push(format!(
            "the SRS's SDP has no two copy ports of the relay's range: {ports:?}"
        ));
    }
    for want in [
        format!("c=IN IP4 {}", netns::PROXY_IP),
        "a=label:1".into(),
        "a=label:2".into(),
        "a=sendonly".into(),
        "rs-metadata".into(),
    ] {
        if !b.contains(&want) {
            problems.push(format!("the recording INVITE lacks {want:?}"));
        }
    }
    if !problems.is_empty() {
        w.fail(&format!("{}\n{invite}", problems.join("\n")));
    }

    // ---- 2. both directions reach the SRS while the call runs -----------------------------
    let copied = w.wait_for(
        &format!("the relay copies at least {MIN_COPIED} packets each way"),
        |l| {
            let st = l.stream(&cid)?;
            let c = (st["caller_copied"].as_u64()?, st["callee_copied"].as_u64()?);
            (c.0 >= MIN_COPIED && c.1 >= MIN_COPIED).then_some(c)
        },
    );
    loud(&format!("{TEST}: copied so far {copied:?}"));
    for (i, s) in sinks.iter().enumerate() {
        let first = s.first.lock().ok().and_then(|g| g.clone());
        match first {
            Some((pkt, from)) => {
                let want_from = format!("{}:{}", netns::PROXY_IP, ports[i]);
                // the lab's RTP: PCMU (payload type 0) carrying 0xff silence
                if from.to_string() != want_from || pkt.len() < 13 || pkt[1] & 0x7f != 0 {
                    problems.push(format!(
                        "sink {i}: first packet from {from} ({} bytes, pt {}), wanted RTP from \
                         {want_from}",
                        pkt.len(),
                        pkt.get(1).map_or(0, |b| b & 0x7f)
                    ));
                }
                if pkt[12..].iter().any(|&b| b != 0xff) {
                    problems.push(format!("sink {i}: the payload was changed"));
                }
            }
            None => problems.push(format!("sink {i} received nothing")),
        }
    }
    if !problems.is_empty() {
        w.fail(&problems.join("\n"));
    }

    // ---- 3. media_exchange forks the call to a media server, both parties ----------------
    let (fork, fork_sinks) = start_srs(&mut w, "fork", FORK_SIP_PORT, FORK_SINKS);
    let mi = if w.proxy.host.version.contains(" 4.0.") {
        "media_exchange:fork_from_call_to_uri"
    } else {
        "media_fork_from_call_to_uri"
    };
    let params = format!(
        "{{\"callid\":\"{cid}\",\"uri\":\"sip:fork@{}:{FORK_SIP_PORT}\",\"leg\":\"both\"}}",
        netns::PROXY_IP
    );
    if let Err(e) = opensips::mi(&w.site, mi, &params) {
        w.fail(&format!("MI {mi}: {e}"));
    }
    w.wait_for(
        "the forked media reaches the media server both ways",
        |_| (fork_sinks[0].count() >= 50 && fork_sinks[1].count() >= 50).then_some(()),
    );

    // ---- 4. the callee hangs up; the counts -----------------------------------------------
    w.pace(Side::Callee, &cid);
    w.expect_success(call.callee);
    w.expect_success(call.caller);
    // ---- 5. the SRS's BYE, then silence ---------------------------------------------------
    w.expect_success(srs);
    w.expect_success(fork);
    w.expect_all_released("the callee's BYE");
    let log = w.run.log_text();
    let Some(st) = final_stream(&log, &cid) else {
        w.fail(&format!("the log has no session report for {cid}"));
    };
    // let stragglers arrive, then nothing more may come
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let at_end = [sinks[0].count(), sinks[1].count()];
    let fork_end = [fork_sinks[0].count(), fork_sinks[1].count()];
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let later = [sinks[0].count(), sinks[1].count()];
    let fork_later = [fork_sinks[0].count(), fork_sinks[1].count()];
    loud(&format!(
        "{TEST}: relay forwarded caller {} callee {}, copied caller {} callee {}; the SRS \
         received {at_end:?}, the fork {fork_end:?}",
        st["caller_packets"], st["callee_packets"], st["caller_copied"], st["callee_copied"]
    ));
    if later != at_end || fork_later != fork_end {
        problems.push(format!(
            "media arrived after the call ended: SRS {at_end:?} then {later:?}, fork \
             {fork_end:?} then {fork_later:?}"
        ));
    }
    for (i, who) in ["caller", "callee"].iter().enumerate() {
        let forwarded = st[&format!("{who}_packets")].as_u64().unwrap_or(0);
        let copied = st[&format!("{who}_copied")].as_u64().unwrap_or(0);
        let got = at_end[i];
        if forwarded < MIN_COPIED || got.abs_diff(forwarded) * 100 > forwarded {
            problems.push(format!(
                "the {who}'s media: the SRS received {got}, the relay forwarded {forwarded} \
                 (more than 1 % apart)"
            ));
        }
        if got + fork_end[i] != copied {
            problems.push(format!(
                "the {who}'s media: the SRS received {got} and the fork {}, the relay copied \
                 {copied}",
                fork_end[i]
            ));
        }
    }
    for (who, run) in [("the SRS", srs), ("the fork's media server", fork)] {
        if !w.received(run).iter().any(|m| m.starts_with("BYE ")) {
            problems.push(format!("{who} never received a BYE"));
        }
    }
    if !problems.is_empty() {
        w.fail(&problems.join("\n"));
    }
    let stats = opensips::statistics(&w.site);
    let (all, failed) = (
        opensips::stat(&stats, "copied_packets"),
        opensips::stat(&stats, "copy_failed_packets"),
    );
    let copied_here =
        st["caller_copied"].as_u64().unwrap_or(0) + st["callee_copied"].as_u64().unwrap_or(0);
    if all < copied_here || failed != 0 {
        w.fail(&format!(
            "statistics: copied_packets {all} (the call copied {copied_here}), copy_failed_packets {failed}"
        ));
    }
    // the call's dialog is gone too (nothing kept a reference to it: the engine reads the
    // parties' SDPs for the copies from the dialog and lets it go). OpenSIPS (4.0.1, 3.6.8)
    // would free a recording's B2B record twice when stopped while a recorded call's dialog
    // is still kept (destroy_dlg_table > src_free_session > b2b_entity_delete).
    w.wait_for("no transaction and no dialog left", |l| {
        let s = opensips::mi(
            &l.site,
            "get_statistics",
            "{\"statistics\":[\"inuse_transactions\",\"active_dialogs\"]}",
        )
        .ok()?;
        let zero = |k: &str| s.contains(&format!("\"{k}\":0"));
        let listed = opensips::mi(&l.site, "dlg_list", "{}").ok()?;
        (zero("tm:inuse_transactions")
            && zero("dialog:active_dialogs")
            && listed.contains("\"Dialogs\":[]"))
        .then_some(())
    });
    w.stop_proxy();
    w.finish();
}
