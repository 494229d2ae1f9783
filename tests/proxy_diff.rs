//! Differential test through the real proxy: every body of the test messages (the own ones and
//! the external corpus's when it is there) and thousands of seeded structural variations of
//! them (`support::sdpgen`), each sent through the running proxy with the module — as an
//! INVITE, as a 200 OK answer, and in turn as a re-INVITE, an UPDATE, an ACK with a late
//! answer, inside a multipart body, and (on OpenSIPS) with the body parsed into parts by
//! another module first, plain or multipart. For each message:
//! - the proxy is still alive;
//! - the body it forwards is byte for byte what the pure rewriter makes of the input with the
//!   stand-in dispatcher's answer (`support::dispatcher`: for every third body an IPv6 relay
//!   address, so `c=IN IP4` lines become `c=IN IP6`), or the input itself when
//!   `use_media_proxy()` returned -1 or -2 (the return code travels in a header the script
//!   adds);
//! - Content-Length matches the forwarded body.
//!
//! Runs against OpenSIPS (`OPENSIPS_BIN`) in the default build and against Kamailio with
//! `--features kamailio`; `#[ignore]`d, and `scripts/test.sh` includes it when the proxy is
//! there (CI requires Kamailio). `MPX_DIFF_VARIATIONS` (default 2000) and
//! `MPX_DIFF_SEED` set the variations; the seed of a failing case is printed so it replays.
//! The same test with a large `MPX_DIFF_VARIATIONS` is the soak run (doc/mediaproxy.md,
//! "Reliability").

mod shared_corpus;
mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use mediaproxy::control::codec::encode_update;
use mediaproxy::control::UpdateRequest;
use mediaproxy::sdp::{apply, IcePriority, RewriteOptions, Sdp};
use mediaproxy::sip::SipMsg;
use support::dispatcher::{answer_for, Dispatcher, V6_CALL};
use support::process::Site;
use support::sdpgen;

/// How a body travels.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Invite,
    Ok200,
    ReInvite,
    Update,
    LateAck,
    Multipart,
    /// An INVITE whose body another module parsed into parts before ours ran (OpenSIPS's
    /// `has_body_part()`; the core then rebuilds the body part by part).
    ParsedInvite,
    /// The same with a multipart body.
    ParsedMultipart,
}

const BOUNDARY: &str = "mpx-diff-boundary";

/// The SIP message carrying `body` in `shape`; requests go to the proxy from the caller's
/// socket, replies from the callee's (with the proxy's Via on top, as a reply to a request it
/// forwarded statelessly).
fn message(shape: Shape, body: &[u8], call_id: &str, proxy: u16, uac: u16) -> Vec<u8> {
    let (first, cseq, to_tag, via) = match shape {
        Shape::Invite | Shape::Multipart | Shape::ParsedInvite | Shape::ParsedMultipart => (
            "INVITE sip:bob@127.0.0.1 SIP/2.0",
            "1 INVITE",
            "",
            String::new(),
        ),
        Shape::ReInvite => (
            "INVITE sip:bob@127.0.0.1 SIP/2.0",
            "2 INVITE",
            ";tag=b1",
            String::new(),
        ),
        Shape::Update => (
            "UPDATE sip:bob@127.0.0.1 SIP/2.0",
            "3 UPDATE",
            ";tag=b1",
            String::new(),
        ),
        Shape::LateAck => (
            "ACK sip:bob@127.0.0.1 SIP/2.0",
            "1 ACK",
            ";tag=b1",
            String::new(),
        ),
        Shape::Ok200 => (
            "SIP/2.0 200 OK",
            "1 INVITE",
            ";tag=b1",
            format!("Via: SIP/2.0/UDP 127.0.0.1:{proxy};branch=z9hG4bKpx{call_id}\r\n"),
        ),
    };
    let (ctype, body) = match shape {
        Shape::Multipart | Shape::ParsedMultipart => {
            let mut b = format!(
                "--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--{BOUNDARY}\r\nContent-Type: application/sdp\r\n\r\n"
            )
            .into_bytes();
            b.extend_from_slice(body);
            b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
            (format!("multipart/mixed;boundary={BOUNDARY}"), b)
        }
        _ => ("application/sdp".to_string(), body.to_vec()),
    };
    let mut m = format!(
        "{first}\r\n{via}Via: SIP/2.0/UDP 127.0.0.1:{uac};branch=z9hG4bKua{call_id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>{to_tag}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq}\r\nContact: <sip:alice@127.0.0.1:{uac}>\r\n\
         Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    m.extend_from_slice(&body);
    m
}

/// What the module must make of `wire`'s body when it rewrites: the pure scanner, parser and
/// planner with the stand-in dispatcher's answer. `None` when the pure path leaves it alone
/// (no SDP, malformed, nothing to relay, an ICE re-offer).
fn pure_rewrite(wire: &[u8], request: bool) -> Option<Vec<u8>> {
    let msg = SipMsg::scan(wire).ok()?;
    let (body_start, full) = msg.body()?;
    let (off, sdp_bytes) = msg.sdp_body()?;
    let sdp = Sdp::parse(sdp_bytes).ok()?.sdp;
    if request && sdp.has_remote_candidates() {
        return None;
    }
    let media = sdp.relay_streams();
    // what the control protocol cannot carry, the module refuses (-1)
    let request = UpdateRequest {
        media: media.clone(),
        ..UpdateRequest::default()
    };
    if media.is_empty() || encode_update(&request).is_err() {
        return None;
    }
    let opts = RewriteOptions {
        ice_candidate: IcePriority::None,
    };
    let call_id = std::str::from_utf8(msg.call_id()?).ok()?;
    let edits = sdp.plan(&answer_for(call_id, &media), &opts).ok()?;
    let rel = off - body_start;
    let mut out = full[..rel].to_vec();
    out.extend_from_slice(&apply(sdp_bytes, &edits));
    out.extend_from_slice(&full[rel + sdp_bytes.len()..]);
    Some(out)
}

/// The forwarded message's body, its Content-Length and the return code header.
fn forwarded(buf: &[u8]) -> Result<(Vec<u8>, usize, i32), String> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let clen = header("Content-Length")
        .ok_or("no Content-Length")?
        .parse()
        .map_err(|_| "bad Content-Length")?;
    let rc = header("X-Mpx-Rc")
        .ok_or("no X-Mpx-Rc header")?
        .parse()
        .map_err(|_| "bad X-Mpx-Rc")?;
    Ok((buf[end + 4..].to_vec(), clen, rc))
}

/// The bodies to send: the test messages' (SDP files and the bodies of SIP files: the
/// repository's own, and the external corpus's when it is there), the project's own bases,
/// then `n` seeded variations of them all.
fn bodies(seed: u64, n: usize) -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<(String, Vec<u8>)> = sdpgen::BASES
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("base-{i}"), b.as_bytes().to_vec()))
        .collect();
    seeds.extend(shared_corpus::all("sdp", "proxy_diff (corpus SDP)"));
    for (name, buf) in shared_corpus::all("sip", "proxy_diff (corpus SIP)") {
        if let Some((_, body)) = SipMsg::scan(&buf).ok().and_then(|m| m.body()) {
            seeds.push((name, body.to_vec()));
        }
    }
    let mut out = seeds.clone();
    for i in 0..n {
        let s = seed.wrapping_add(i as u64);
        let (name, base) = &seeds[sdpgen::Rng::new(s).below(seeds.len())];
        let (body, what) = sdpgen::vary(base, s);
        out.push((format!("seed {s} ({name}: {})", what.join(", ")), body));
    }
    out
}

/// The module's settings and the routes, alike on both hosts but for the request route's
/// name, what runs before the module (OpenSIPS parses the `Parsed` shapes' bodies) and how the
/// request is forwarded: every message goes through `use_media_proxy()`, whose return code
/// travels on in a header.
fn routes(sock: &std::path::Path, request_route: &str, before: &str, forward: &str) -> String {
    let call = "use_media_proxy(); $var(rc) = $rc;\nappend_hf(\"X-Mpx-Rc: $var(rc)\\r\\n\");\n";
    format!(
        "modparam(\"mediaproxy\", \"relay_mode\", \"external\")\n\
         modparam(\"mediaproxy\", \"mediaproxy_socket\", \"{}\")\n\
         modparam(\"mediaproxy\", \"mediaproxy_timeout\", 2000)\n\
         {request_route} {{\n{before}{call}{forward}\nexit;\n}}\n\
         onreply_route {{\n{call}}}\n",
        sock.display()
    )
}

#[cfg(not(feature = "kamailio"))]
fn config(host: &support::process::Host, site: &Site, sock: &std::path::Path, uas: u16) -> String {
    format!(
        "log_level=2\nstderror_enabled=yes\nsyslog_enabled=no\nudp_workers=2\n\
         socket=udp:127.0.0.1:{}\nmpath=\"{}/\"\n\
         loadmodule \"proto_udp.so\"\nloadmodule \"sl.so\"\nloadmodule \"tm.so\"\n\
         loadmodule \"rr.so\"\nloadmodule \"dialog.so\"\nloadmodule \"sipmsgops.so\"\n\
         loadmodule \"{}\"\n{}",
        site.sip_port,
        host.modules_dir.display(),
        host.module_so.display(),
        routes(
            sock,
            "route",
            "if ($ci =~ \"-Parsed\") has_body_part(\"application/sdp\");\n",
            &format!("forward(\"udp:127.0.0.1:{uas}\");"),
        )
    )
}

#[cfg(feature = "kamailio")]
fn config(host: &support::process::Host, site: &Site, sock: &std::path::Path, uas: u16) -> String {
    format!(
        "#!KAMAILIO\ndebug=1\nlog_stderror=yes\nchildren=2\ndisable_tcp=yes\n\
         listen=udp:127.0.0.1:{}\nmpath=\"{}/\"\n\
         loadmodule \"kex.so\"\nloadmodule \"corex.so\"\nloadmodule \"tm.so\"\nloadmodule \"sl.so\"\n\
         loadmodule \"rr.so\"\nloadmodule \"pv.so\"\nloadmodule \"textops.so\"\n\
         loadmodule \"dialog.so\"\nloadmodule \"{}\"\n{}",
        site.sip_port,
        host.modules_dir.display(),
        host.module_so.display(),
        routes(
            sock,
            "request_route",
            "",
            &format!("$du = \"sip:127.0.0.1:{uas}\"; forward();"),
        )
    )
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default, Debug)]
struct Tally {
    rewritten: usize,
    /// of them, answered with the IPv6 relay address
    rewritten_v6: usize,
    unchanged_rc1: usize,
    refused: usize,
    /// refused by the host layer's check although the pure rewriter has a rewrite
    host_refused: usize,
    no_sdp: usize,
    dropped: usize,
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn every_body_goes_through_the_proxy_as_meant() {
    let proxy = support::proxy::find("every_body_goes_through_the_proxy_as_meant");
    let seed = env_num("MPX_DIFF_SEED", 0x6d70_7864_6966);
    let n = env_num("MPX_DIFF_VARIATIONS", 2000) as usize;
    let bodies = bodies(seed, n);
    let site = Site::new(
        "proxy-diff",
        25060 + (std::process::id() % 1000) as u16,
        (40000, 40099),
    );
    let sock = site.dir.join("run/dispatcher.sock");
    let dispatcher = Dispatcher::start(&sock);
    let uac = UdpSocket::bind("127.0.0.1:0").expect("uac socket");
    let uas = UdpSocket::bind("127.0.0.1:0").expect("uas socket");
    let (uac_port, uas_port) = (
        uac.local_addr().expect("addr").port(),
        uas.local_addr().expect("addr").port(),
    );
    let cfg = site.write_cfg(&config(&proxy.host, &site, &sock, uas_port));
    let mut run = proxy.start(&site, &cfg);
    let to_proxy = format!("127.0.0.1:{}", site.sip_port);
    // up once it answers an OPTIONS-less probe: an INVITE with no body comes through
    let pid = run.child.id();
    let probe = message(Shape::Invite, b"", "probe", site.sip_port, uac_port);
    uas.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    uac.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = vec![0u8; 65536];
    let up = Instant::now();
    let mut started = false;
    while up.elapsed() < Duration::from_secs(15) && !started {
        let _ = uac.send_to(&probe, &to_proxy);
        started = uas.recv_from(&mut buf).is_ok();
    }
    assert!(
        started,
        "{} did not start; log:\n{}",
        proxy.name,
        run.log_text()
    );
    while uas.recv_from(&mut buf).is_ok() {}
    uas.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    uac.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");

    let shapes = [
        Shape::ReInvite,
        Shape::Update,
        Shape::LateAck,
        Shape::Multipart,
        Shape::ParsedInvite,
        Shape::ParsedMultipart,
    ];
    let mut tally = Tally::default();
    let mut sent = 0usize;
    for (i, (name, body)) in bodies.iter().enumerate() {
        for shape in [Shape::Invite, Shape::Ok200, shapes[i % shapes.len()]] {
            // every third body is answered with an IPv6 relay address (`c=IN IP6`): the leg
            // a relay bridging IPv4 and IPv6 (relay_interfaces) hands the other side
            let v6 = if i % 3 == 2 { V6_CALL } else { "" };
            let call_id = format!("{v6}d{i}-{shape:?}");
            let wire = message(shape, body, &call_id, site.sip_port, uac_port);
            let (tx, rx) = match shape {
                Shape::Ok200 => (&uas, &uac),
                _ => (&uac, &uas),
            };
            tx.send_to(&wire, &to_proxy).expect("send to the proxy");
            sent += 1;
            let got = loop {
                match rx.recv_from(&mut buf) {
                    // a late copy of an earlier message (never expected, but not this one)
                    Ok((len, _))
                        if !buf[..len]
                            .windows(call_id.len() + 9)
                            .any(|w| w == format!("Call-ID: {call_id}").as_bytes()) =>
                    {
                        continue
                    }
                    Ok((len, _)) => break Some(buf[..len].to_vec()),
                    Err(_) => break None,
                }
            };
            assert!(
                support::process::alive(pid),
                "{} died on {name} as {shape:?}; replay with MPX_DIFF_SEED/MPX_DIFF_VARIATIONS (seed {seed}); log:\n{}",
                proxy.name,
                run.log_text()
            );
            let Some(got) = got else {
                // the proxy's own parser refused the message (it never reached the script)
                tally.dropped += 1;
                continue;
            };
            let (fwd_body, clen, rc) = forwarded(&got).unwrap_or_else(|e| {
                panic!(
                    "{name} as {shape:?}: {e}:\n{}",
                    String::from_utf8_lossy(&got)
                )
            });
            assert_eq!(clen, fwd_body.len(), "{name} as {shape:?}: Content-Length");
            let sent_msg = SipMsg::scan(&wire).expect("our envelope scans");
            let original = sent_msg.body().map(|(_, b)| b.to_vec()).unwrap_or_default();
            let expected = match rc {
                1 => match pure_rewrite(&wire, !matches!(shape, Shape::Ok200)) {
                    Some(b) => {
                        tally.rewritten += 1;
                        if !v6.is_empty() && b.windows(7).any(|w| w == b"IN IP6 ") {
                            tally.rewritten_v6 += 1;
                        }
                        b
                    }
                    None => {
                        tally.unchanged_rc1 += 1;
                        original.clone()
                    }
                },
                -1 => {
                    tally.refused += 1;
                    if pure_rewrite(&wire, !matches!(shape, Shape::Ok200)).is_some() {
                        tally.host_refused += 1;
                    }
                    original.clone()
                }
                -2 => {
                    tally.no_sdp += 1;
                    original.clone()
                }
                other => panic!("{name} as {shape:?}: use_media_proxy returned {other}"),
            };
            assert!(
                fwd_body == expected,
                "{name} as {shape:?} (rc {rc}, seed {seed}): forwarded body differs\n--- sent\n{}\n--- expected\n{}\n--- forwarded\n{}",
                String::from_utf8_lossy(&original),
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&fwd_body)
            );
        }
    }
    assert!(
        support::process::alive(pid),
        "{} died at the end",
        proxy.name
    );
    let log = run.log_text();
    run.terminate();
    drop(dispatcher);
    eprintln!(
        "proxy_diff: {} ({}): {} bodies ({n} variations, seed {seed}), {sent} messages: {} rewritten ({} to an IPv6 relay address), {} unchanged with 1, {} refused (-1; {} of them by the host layer's check), {} without SDP (-2), {} dropped by the proxy's parser",
        proxy.name,
        proxy.host.version,
        bodies.len(),
        tally.rewritten,
        tally.rewritten_v6,
        tally.unchanged_rc1,
        tally.refused,
        tally.host_refused,
        tally.no_sdp,
        tally.dropped
    );
    assert!(
        !log.contains("len mismatch") && !log.contains("exited by a signal"),
        "{log}"
    );
    assert!(
        tally.rewritten > bodies.len(),
        "too few rewrites: {tally:?}"
    );
    assert!(
        tally.rewritten_v6 * 5 > tally.rewritten,
        "too few rewrites to the IPv6 relay address: {tally:?}"
    );
    // the host layer refuses only what the core would rebuild differently from our scan of
    // the message: none of these bodies is such a case
    assert_eq!(tally.host_refused, 0, "{tally:?}");
}
