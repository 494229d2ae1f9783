//! End to end: the relay joins two networks that meet only at the proxy (`relay_interfaces`).
//! The proxy (OpenSIPS with `cfg-examples/opensips.cfg`, or with `--features kamailio`
//! Kamailio with `cfg-examples/kamailio.cfg`) runs in a network namespace linked to two
//! user-agent namespaces ([`support::twonets`]) and does not route between them; it listens
//! for SIP on both of its addresses. Its config is the example config with the lines of
//! `cfg-examples/interfaces-*.cfg` spliced in (the ones `doc/mediaproxy.md` §1.13 shows).
//!
//! * `ipv6_caller_and_ipv4_callee_talk_through_the_relay`: the caller's namespace has only
//!   IPv6, the callee's only IPv4 (`relay_interfaces = "v4=192.0.2.1; v6=2001:db8:6::1"`: the
//!   IPv4 one first, so the caller gets the IPv6 one by its SDP's family alone).
//!   The script names the callee's interface (`$avp(mp_callee_interface)`).
//! * `private_and_public_networks_meet_at_a_two_interface_relay`: the caller on a private
//!   network (10.0.0.0/24), the callee on a public one (203.0.113.0/24),
//!   `relay_interfaces = "priv=10.0.0.1; pub=203.0.113.1"`; the script names both parties'
//!   interfaces from the INVITE's source address.
//!
//! Each call: the callee REGISTERs; INVITE / 200 OK / ACK through the proxy; the INVITE the
//! callee gets names only the relay's address on the callee's network (`c=`, its family), the
//! 200 OK the caller gets only the one on the caller's network; RTP flows both ways, each
//! packet counted at its receiver and coming from the relay's address on the receiver's side;
//! the relay's `sessions` shows each side's local address on its own interface; the BYE ends
//! the session; the proxy's log has no error and no warning from this module.
//!
//! Needs the proxy, root with `ip netns` (and what `support::natlab::prerequisites` checks):
//! `#[ignore]`d, `scripts/test.sh` includes it when all of it is there.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use support::natlab::{body, header};
use support::process::{replace_once, wait_until, Running, Site};
use support::sipcall::{latch_both, recv_sip, rtp, try_ask};
use support::twonets::{Link, TwoNets};

const RELAY_PORTS: (u16, u16) = (42000, 42099);
const SIP_PORT: u16 = 5060;
const UA_SIP: u16 = 5060;
const UA_RTP: u16 = 6000;
/// RTP packets sent each way (one at a time, each waited for at the receiver).
const PACKETS: u16 = 20;

struct Case {
    name: &'static str,
    caller: Link,
    callee: Link,
    /// The lines of the case in `cfg-examples/`.
    snippet: &'static str,
}

/// `ip` as a SIP host or in a socket address text: IPv6 in brackets.
fn host(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

fn family(ip: &str) -> &'static str {
    if ip.contains(':') {
        "IP6"
    } else {
        "IP4"
    }
}

fn sdp(ip: &str, port: u16) -> String {
    let f = family(ip);
    format!(
        "v=0\r\no=- 1 1 IN {f} {ip}\r\ns=-\r\nc=IN {f} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp:{} IN {f} {ip}\r\n",
        port + 1
    )
}

/// The SDP's media target (`c=` and `m=audio`), checking that every `c=` and `a=rtcp` line
/// names `relay` (the relay's address on the receiver's side) and that the relay's address on
/// the other side, `other`, appears nowhere in the SDP.
fn relay_target(who: &str, msg: &str, relay: &str, other: &str) -> SocketAddr {
    let b = body(msg);
    let want_c = format!("c=IN {} {relay}", family(relay));
    let c_lines: Vec<&str> = b.lines().filter(|l| l.starts_with("c=")).collect();
    assert!(
        !c_lines.is_empty() && c_lines.iter().all(|l| l.trim() == want_c),
        "{who}: every c= line must be {want_c:?}:\n{msg}"
    );
    let rtcp: Vec<&str> = b.lines().filter(|l| l.starts_with("a=rtcp:")).collect();
    assert!(
        rtcp.iter().all(|l| l
            .trim()
            .ends_with(&format!(" IN {} {relay}", family(relay)))),
        "{who}: a=rtcp must name {relay}:\n{msg}"
    );
    assert!(
        !b.split_whitespace().any(|t| t == other),
        "{who}: the relay's other address {other} leaked into the SDP:\n{msg}"
    );
    let port: u16 = b
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{who}: no m=audio port:\n{msg}"));
    assert!(
        (RELAY_PORTS.0..=RELAY_PORTS.1).contains(&port),
        "{who}: port {port} not a relay port:\n{msg}"
    );
    SocketAddr::new(relay.parse().expect("relay address"), port)
}

/// The first message starting with `want` on `s`; when none comes, the failure shows what the
/// other user agent got instead (a reply from the proxy) and the proxy's log.
fn expect_sip(s: &UdpSocket, want: &str, other: &UdpSocket, proxy: &Running) -> String {
    let mut buf = [0u8; 8192];
    for _ in 0..10 {
        match s.recv_from(&mut buf) {
            Ok((n, _)) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if text.starts_with(want) {
                    return text;
                }
            }
            Err(_) => break,
        }
    }
    other
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut seen = Vec::new();
    while let Ok((n, _)) = other.recv_from(&mut buf) {
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    panic!(
        "no {want:?} received; the other side got {seen:#?}\nproxy log:\n{}",
        proxy.log_text()
    );
}

fn headers(msg: &str, name: &str) -> Vec<String> {
    msg.split("\r\n")
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with(name))
        .map(str::to_string)
        .collect()
}

/// The example config with the case's lines from `cfg-examples/<file>` (the ones
/// `doc/mediaproxy.md` §1.13 shows): the SIP sockets of this proxy (`socket=` for OpenSIPS,
/// `listen=` for Kamailio) instead of the example's one, the `modparam` lines, and the
/// request route's INVITE block instead of the example's.
fn config(proxy: &support::proxy::Proxy, site: &Site, case: &Case) -> std::path::PathBuf {
    let snippet_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("cfg-examples")
        .join(case.snippet);
    let snippet = std::fs::read_to_string(&snippet_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", snippet_path.display()));
    let (global, invite) = snippet
        .split_once("#### request route")
        .expect("the snippet's two parts");
    let invite = invite
        .split_once('\n')
        .map_or("", |(_, rest)| rest)
        .trim_end();
    let kw = if cfg!(feature = "kamailio") {
        "listen="
    } else {
        "socket="
    };
    let sockets: Vec<&str> = global.lines().filter(|l| l.starts_with(kw)).collect();
    let modparams: Vec<&str> = global
        .lines()
        .filter(|l| l.starts_with("modparam("))
        .collect();
    assert!(sockets.len() == 2 && !modparams.is_empty() && !invite.is_empty());
    let path = proxy.render_example(site, &modparams.join("\n"));
    let mut cfg = std::fs::read_to_string(&path).expect("read the rendered config");
    cfg = replace_once(
        &cfg,
        &format!("{kw}udp:{}:{SIP_PORT}", site.ip),
        &sockets.join("\n"),
    );
    let example_invite = if cfg!(feature = "kamailio") {
        "\tif (is_method(\"INVITE\")) {\n\t\tengage_media_proxy();\n\t}"
    } else {
        "\tif (is_method(\"INVITE\"))\n\t\tengage_media_proxy();"
    };
    cfg = replace_once(&cfg, example_invite, invite);
    std::fs::write(&path, cfg).expect("write the config");
    path
}

fn run(test: &str, case: Case) {
    // the check's probe namespace is named by the pid: one test at a time
    let proxy = {
        static PROBE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = PROBE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        support::natlab::prerequisites(test)
    };
    let nets = TwoNets::build(case.name, case.caller, case.callee);
    assert!(
        !case.callee.v6(),
        "the site's address is the callee's (IPv4)"
    );
    let site = Site::new(case.name, SIP_PORT, RELAY_PORTS).in_netns(&nets.proxy, case.callee.proxy);
    let cfg = config(&proxy, &site, &case);
    let check = proxy.check_config(&cfg);
    assert!(
        check.status.success(),
        "config check failed: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let mut running = proxy.start(&site, &cfg);
    let control = site.control_socket();
    let ask = |cmd: &str| try_ask(&control, cmd).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(20), || ask("summary")
            .contains("session_count")),
        "the relay does not answer:\n{}",
        running.log_text()
    );

    let (a, b) = (case.caller, case.callee);
    let (a_ua, b_ua) = (host(a.ua), host(b.ua));
    let (a_px, b_px) = (host(a.proxy), host(b.proxy));
    let sock = |ns: &str, ip: &str, port: u16| -> UdpSocket {
        let s = nets.socket(ns, &format!("{}:{port}", host(ip)));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    };
    let caller = sock(&nets.left, a.ua, UA_SIP);
    let caller_rtp = sock(&nets.left, a.ua, UA_RTP);
    let callee = sock(&nets.right, b.ua, UA_SIP);
    let callee_rtp = sock(&nets.right, b.ua, UA_RTP);
    let proxy_a: SocketAddr = format!("{a_px}:{SIP_PORT}").parse().unwrap();
    let proxy_b: SocketAddr = format!("{b_px}:{SIP_PORT}").parse().unwrap();

    // the callee registers on its side
    let reg = format!(
        "REGISTER sip:{b_px} SIP/2.0\r\nVia: SIP/2.0/UDP {b_ua}:{UA_SIP};branch=z9hG4bKr1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:bob@{b_px}>;tag=r1\r\nTo: <sip:bob@{b_px}>\r\n\
         Call-ID: reg-{}\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@{b_ua}:{UA_SIP}>\r\n\
         Expires: 300\r\nContent-Length: 0\r\n\r\n",
        case.name
    );
    callee.send_to(reg.as_bytes(), proxy_b).unwrap();
    recv_sip(&callee, "SIP/2.0 200");

    // INVITE from the caller's network (to the proxy's address there; the domain is the one
    // the callee registered at, as usrloc may key contacts by domain)
    let call_id = format!("bridge-{}", case.name);
    let offer = sdp(a.ua, UA_RTP);
    let inv = format!(
        "INVITE sip:bob@{b_px} SIP/2.0\r\nVia: SIP/2.0/UDP {a_ua}:{UA_SIP};branch=z9hG4bKi1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@{b_px}>;tag=a1\r\nTo: <sip:bob@{b_px}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{a_ua}:{UA_SIP}>\r\n\
         User-Agent: Caller/1\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{offer}",
        offer.len()
    );
    caller.send_to(inv.as_bytes(), proxy_a).unwrap();
    let got = expect_sip(&callee, "INVITE ", &caller, &running);
    let to_relay_from_callee = relay_target("callee", &got, b.proxy, a.proxy);

    let answer = sdp(b.ua, UA_RTP);
    let ok = format!(
        "SIP/2.0 200 OK\r\n{}\r\n{}\r\nFrom: <sip:alice@{b_px}>;tag=a1\r\n\
         To: <sip:bob@{b_px}>;tag=b1\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:bob@{b_ua}:{UA_SIP}>\r\nServer: Callee/1\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{answer}",
        headers(&got, "Via:").join("\r\n"),
        headers(&got, "Record-Route:").join("\r\n"),
        answer.len()
    );
    callee.send_to(ok.as_bytes(), proxy_b).unwrap();
    let got_ok = recv_sip(&caller, "SIP/2.0 200");
    let to_relay_from_caller = relay_target("caller", &got_ok, a.proxy, b.proxy);

    // ACK and, later, BYE along the route set the 200 OK carries
    let route = headers(&got_ok, "Record-Route:")
        .join("\r\n")
        .replace("Record-Route:", "Route:");
    let contact = header(&got_ok, "Contact")
        .and_then(|c| c.split('<').nth(1))
        .and_then(|c| c.split('>').next())
        .unwrap_or_else(|| panic!("no Contact in the 200 OK:\n{got_ok}"))
        .to_string();
    let in_dialog = |method: &str, cseq: u32| {
        format!(
            "{method} {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {a_ua}:{UA_SIP};branch=z9hG4bK{method}{cseq};rport\r\n\
             {route}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@{b_px}>;tag=a1\r\n\
             To: <sip:bob@{b_px}>;tag=b1\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    caller
        .send_to(in_dialog("ACK", 1).as_bytes(), proxy_a)
        .unwrap();
    recv_sip(&callee, "ACK ");

    // RTP both ways: one packet from each side to latch, drained; then one at a time
    let mut buf = [0u8; 2048];
    latch_both(
        (&caller_rtp, to_relay_from_caller),
        (&callee_rtp, to_relay_from_callee),
    );
    let (mut at_callee, mut at_caller) = (0u64, 0u64);
    for seq in 1..=PACKETS {
        caller_rtp
            .send_to(&rtp(seq, 0xA), to_relay_from_caller)
            .unwrap();
        let (n, from) = callee_rtp.recv_from(&mut buf).expect("RTP at the callee");
        assert_eq!(&buf[..n], &rtp(seq, 0xA)[..]);
        assert_eq!(
            from, to_relay_from_callee,
            "from the relay's callee-side address"
        );
        at_callee += 1;
        callee_rtp
            .send_to(&rtp(seq, 0xB), to_relay_from_callee)
            .unwrap();
        let (n, from) = caller_rtp.recv_from(&mut buf).expect("RTP at the caller");
        assert_eq!(&buf[..n], &rtp(seq, 0xB)[..]);
        assert_eq!(
            from, to_relay_from_caller,
            "from the relay's caller-side address"
        );
        at_caller += 1;
    }
    assert_eq!(
        (at_callee, at_caller),
        (u64::from(PACKETS), u64::from(PACKETS))
    );

    let sessions = ask("sessions");
    let v: serde_json::Value = serde_json::from_str(sessions.trim())
        .unwrap_or_else(|e| panic!("sessions is no JSON ({e}): {sessions}"));
    let session = v
        .as_array()
        .and_then(|l| l.iter().find(|s| s["call_id"] == call_id.as_str()))
        .unwrap_or_else(|| panic!("no session {call_id}: {sessions}"));
    let stream = &session["streams"][0];
    assert_eq!(
        stream["caller_local"].as_str(),
        Some(to_relay_from_caller.to_string().as_str()),
        "{sessions}"
    );
    assert_eq!(
        stream["callee_local"].as_str(),
        Some(to_relay_from_callee.to_string().as_str()),
        "{sessions}"
    );
    for key in ["caller_packets", "callee_packets"] {
        let n = stream[key].as_u64().unwrap_or(0);
        assert!(
            (u64::from(PACKETS)..=u64::from(PACKETS) + 1).contains(&n),
            "{key} {n}: {sessions}"
        );
    }

    // BYE from the caller ends the session
    caller
        .send_to(in_dialog("BYE", 2).as_bytes(), proxy_a)
        .unwrap();
    let bye = recv_sip(&callee, "BYE ");
    let bye_ok = format!(
        "SIP/2.0 200 OK\r\n{}\r\nFrom: <sip:alice@{b_px}>;tag=a1\r\nTo: <sip:bob@{b_px}>;tag=b1\r\n\
         Call-ID: {call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        headers(&bye, "Via:").join("\r\n")
    );
    callee.send_to(bye_ok.as_bytes(), proxy_b).unwrap();
    recv_sip(&caller, "SIP/2.0 200");
    assert!(
        wait_until(Duration::from_secs(10), || ask("summary")
            .contains("\"session_count\":0")),
        "session not removed: {}",
        ask("summary")
    );

    running.terminate();
    running.wait_exit(Duration::from_secs(10));
    let log = running.log_text();
    let problems = proxy.problems(&log);
    assert!(problems.is_empty(), "proxy log problems: {problems:#?}");
    drop(nets);
}

#[test]
#[ignore = "needs the proxy, root, ip netns, nft and SIPp"]
fn ipv6_caller_and_ipv4_callee_talk_through_the_relay() {
    run(
        "ipv6_caller_and_ipv4_callee_talk_through_the_relay",
        Case {
            name: "v6v4",
            caller: Link {
                proxy: "2001:db8:6::1",
                ua: "2001:db8:6::10",
                prefix: 64,
            },
            callee: Link {
                proxy: "192.0.2.1",
                ua: "192.0.2.10",
                prefix: 24,
            },
            snippet: "interfaces-ipv6-ipv4.cfg",
        },
    );
}

#[test]
#[ignore = "needs the proxy, root, ip netns, nft and SIPp"]
fn private_and_public_networks_meet_at_a_two_interface_relay() {
    run(
        "private_and_public_networks_meet_at_a_two_interface_relay",
        Case {
            name: "privpub",
            caller: Link {
                proxy: "10.0.0.1",
                ua: "10.0.0.10",
                prefix: 24,
            },
            callee: Link {
                proxy: "203.0.113.1",
                ua: "203.0.113.10",
                prefix: 24,
            },
            snippet: "interfaces-inside-outside.cfg",
        },
    );
}
