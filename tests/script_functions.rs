//! The script functions' behaviour and return codes, host-independent: a fake message (real
//! SIP bytes, a source address, edits applied to a copy of the buffer) against a real relay
//! started on a loopback control socket.

mod fakemsg;

use fakemsg::*;
use mediaproxy::config::{Config, RawParams};
use mediaproxy::script::engage;
use mediaproxy::script::{self, Avp, Ctx};

#[test]
fn offer_and_answer_are_rewritten_to_the_relay_and_the_session_ends() {
    let e = env("flow", (43000, 43099));
    let inv = initial_invite("c1@x", "", &offer("192.168.1.40", 4000));
    let mut m = Fake::new(&inv, "198.51.100.7", 61000);
    assert_eq!(
        script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()),
        1,
        "{:?}",
        m.logs
    );
    let out = m.output();
    let lines = sdp_lines(&out);
    assert!(lines.contains(&"c=IN IP4 127.0.0.1".to_string()), "{out}");
    let mline = lines.iter().find(|l| l.starts_with("m=audio ")).unwrap();
    let port: u16 = mline.split(' ').nth(1).unwrap().parse().unwrap();
    assert!((43000..=43099).contains(&port) && port % 2 == 0, "{mline}");
    assert!(lines.contains(&format!("a=rtcp:{}", port + 1)), "{out}");
    assert!(
        lines.contains(&"o=- 1 1 IN IP4 192.168.1.40".to_string()),
        "o= untouched: {out}"
    );
    // the headers are byte for byte the same
    let head = |s: &str| {
        s.split("\r\n\r\n")
            .next()
            .unwrap()
            .replace(char::is_numeric, "")
    };
    assert_eq!(head(&out), head(&inv));
    // a second rewrite of the same message is refused
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), -1);

    let ok = sip(
        "SIP/2.0 200 OK",
        "c1@x",
        "a1",
        Some("b1"),
        "1 INVITE",
        "Server: Callee/1\r\n",
        Some(&offer("192.168.2.50", 5000)),
    );
    let mut r = Fake::new(&ok, "198.51.100.9", 5060);
    assert_eq!(
        script::use_media_proxy(&mut r, &e.cfg, &Ctx::default()),
        1,
        "{:?}",
        r.logs
    );
    let rl = sdp_lines(&r.output());
    let rport: u16 = rl
        .iter()
        .find(|l| l.starts_with("m=audio "))
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(rport, port, "caller-facing and callee-facing ports differ");
    assert!(rl.contains(&"c=IN IP4 127.0.0.1".to_string()));

    let bye = callee_bye("c1@x");
    let b = Fake::new(&bye, "198.51.100.9", 5060);
    assert_eq!(script::end_media_session(&b, &e.cfg), 1, "{:?}", b.logs);
    // the session is gone: a second remove is an error
    assert_eq!(script::end_media_session(&b, &e.cfg), -1);
}

/// An ICE re-offer naming the selected pairs (`a=remote-candidates`) is left untouched, and so
/// is its answer (the relay never saw the offer); the next offer is rewritten again.
#[test]
fn an_ice_reoffer_and_its_answer_are_left_untouched() {
    let e = env("reoffer", (43150, 43199));
    let ice = |ip: &str, port: u16, extra: &str| {
        format!(
            "{}a=ice-ufrag:u1\r\na=ice-pwd:p1p1p1p1p1p1p1p1p1p1p1p1\r\n\
             a=candidate:1 1 UDP 2130706431 {ip} {port} typ host\r\n{extra}",
            offer(ip, port)
        )
    };
    let run = |start: &str, ftag: &str, ttag: &str, cseq: &str, body: &str| {
        let msg = sip(start, "ro@x", ftag, Some(ttag), cseq, "", Some(body));
        let mut m = Fake::new(&msg, "198.51.100.7", 5060);
        let rc = script::use_media_proxy(&mut m, &e.cfg, &Ctx::default());
        // untouched: never edited
        let untouched = m.out.borrow().is_none();
        (rc, untouched)
    };
    let inv = initial_invite("ro@x", "", &ice("192.168.1.40", 4000, ""));
    let mut m = Fake::new(&inv, "198.51.100.7", 61000);
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), 1);
    let ok = ice("192.168.2.50", 5000, "");
    assert_eq!(
        run("SIP/2.0 200 OK", "a1", "b1", "1 INVITE", &ok),
        (1, false)
    );
    // the re-offer after the checks, and its answer: untouched
    let reoffer = ice(
        "192.168.1.40",
        4000,
        "a=remote-candidates:1 192.168.2.50 5000\r\n",
    );
    let reinvite = "INVITE sip:bob@192.168.2.50 SIP/2.0";
    assert_eq!(run(reinvite, "a1", "b1", "2 INVITE", &reoffer), (-1, true));
    assert_eq!(
        run("SIP/2.0 200 OK", "a1", "b1", "2 INVITE", &ok),
        (-1, true)
    );
    // a later offer and its answer are the relay's again
    assert_eq!(
        run(
            reinvite,
            "a1",
            "b1",
            "3 INVITE",
            &ice("192.168.1.40", 4000, "")
        ),
        (1, false)
    );
    assert_eq!(
        run("SIP/2.0 200 OK", "a1", "b1", "3 INVITE", &ok),
        (1, false)
    );
}

#[test]
fn return_codes_for_no_sdp_bad_input_disable_and_a_dead_relay() {
    let e = env("codes", (43100, 43199));
    // no SDP: -2
    let reg = sip(
        "OPTIONS sip:bob@example.net SIP/2.0",
        "c2@x",
        "a1",
        None,
        "1 OPTIONS",
        "",
        None,
    );
    let mut m = Fake::new(&reg, "198.51.100.7", 5060);
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), -2);
    // malformed SDP: -1 with a log line
    let bad = initial_invite("c3@x", "", "garbage\r\n");
    let mut m = Fake::new(&bad, "198.51.100.7", 5060);
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), -1);
    assert!(m.logged("malformed SDP"), "{:?}", m.logs);
    // malformed SIP: -1
    let mut m = Fake::new("NOT SIP AT ALL", "198.51.100.7", 5060);
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), -1);
    // a stored transaction copy is never changed
    let inv = initial_invite("c4@x", "", &offer("192.168.1.40", 4000));
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    m.frozen = true;
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), -1);
    // disable=1: every function returns -1 and does nothing
    let mut off = e.cfg.clone();
    off.disable = true;
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    assert_eq!(script::use_media_proxy(&mut m, &off, &Ctx::default()), -1);
    assert_eq!(script::end_media_session(&m, &off), -1);
    assert_eq!(script::client_nat_test(&m, &off, "1"), -1);
    assert_eq!(script::fix_contact(&mut m, &off), -1);
    assert!(!script::can_engage(&m, &off));
    assert!(m.out.borrow().is_none());
    // a relay that does not answer: -1 and a clear line
    let mut dead = e.cfg.clone();
    dead.mediaproxy_socket = e.dir.join("nobody.sock");
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    assert_eq!(script::use_media_proxy(&mut m, &dead, &Ctx::default()), -1);
    assert!(m.logged("relay:"), "{:?}", m.logs);
}

#[test]
fn signaling_ip_avp_and_ice_candidate_avp_are_used() {
    let e = env("avp", (43200, 43299));
    let ice_offer =
        "v=0\r\no=- 1 1 IN IP4 192.168.1.40\r\ns=-\r\nc=IN IP4 192.168.1.40\r\nt=0 0\r\n\
        a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\nm=audio 4000 RTP/AVP 0\r\n\
        a=candidate:1 1 UDP 2130706431 192.168.1.40 4000 typ host\r\n";
    let inv = initial_invite("c5@x", "", ice_offer);
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    m.avps.push((Avp::IceCandidate, "high-priority".into()));
    m.avps.push((Avp::SignalingIp, "198.51.100.77".into()));
    assert_eq!(
        script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()),
        1,
        "{:?}",
        m.logs
    );
    let out = m.output();
    assert!(
        out.contains(" 2197815295 127.0.0.1 ") && out.contains("typ relay"),
        "relay candidate with high priority: {out}"
    );
}

#[test]
fn client_nat_test_and_fix_contact_on_real_messages() {
    let e = env("nat", (43300, 43399));
    let reg = sip(
        "REGISTER sip:example.net SIP/2.0",
        "c6@x",
        "a1",
        None,
        "1 REGISTER",
        "User-Agent: Phone/1\r\n",
        None,
    );
    let m = Fake::new(&reg, "198.51.100.7", 61000);
    assert_eq!(
        script::client_nat_test(&m, &e.cfg, "1"),
        1,
        "private Contact"
    );
    assert_eq!(
        script::client_nat_test(&m, &e.cfg, "2"),
        1,
        "source differs from Via"
    );
    assert_eq!(script::client_nat_test(&m, &e.cfg, "4"), 1, "private Via");
    assert_eq!(
        script::client_nat_test(&m, &e.cfg, "private-contact,diff-ip-src-via"),
        1
    );
    assert_eq!(script::client_nat_test(&m, &e.cfg, "8"), -1, "no SDP");
    assert_eq!(script::client_nat_test(&m, &e.cfg, "bogus"), -1);
    assert!(m.logged("unknown test"));

    let mut m = Fake::new(&reg, "198.51.100.7", 61000);
    assert_eq!(script::fix_contact(&mut m, &e.cfg), 1);
    let out = m.output();
    assert!(
        out.contains("Contact: <sip:alice@198.51.100.7:61000>\r\n"),
        "{out}"
    );
    assert_eq!(
        out.len(),
        reg.len() + "198.51.100.7:61000".len() - "192.168.1.40:5080".len()
    );

    // a public client: nothing to fix, no edit, and the tests say "not behind NAT"
    let public = reg.replace("192.168.1.40:5080", "198.51.100.7:61000");
    let mut m = Fake::new(&public, "198.51.100.7", 61000);
    assert_eq!(script::client_nat_test(&m, &e.cfg, "7"), -1);
    assert_eq!(script::fix_contact(&mut m, &e.cfg), 1);
    assert!(m.out.borrow().is_none());
}

/// Where a rewritten message's SDP sends the media.
#[test]
fn advertised_ip_is_what_the_sdp_names() {
    let e = env_with("adv", (43800, 43899), |raw, _| {
        raw.insert("advertised_ip", "203.0.113.9");
    });
    let inv = initial_invite("adv@x", "", &offer("192.168.1.40", 4000));
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    assert_eq!(
        script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()),
        1,
        "{:?}",
        m.logs
    );
    let t = target(&m.output());
    assert_eq!(t.ip().to_string(), "203.0.113.9", "{}", m.output());
    assert!((43800..=43899).contains(&t.port()));
}

/// An external dispatcher (a unix socket this test serves) that reads one command and never
/// answers: the command carries `media_relay_avp`'s value, and after `mediaproxy_timeout` the
/// function gives up with -1 and a clear line.
#[test]
fn media_relay_avp_is_sent_and_mediaproxy_timeout_bounds_the_wait() {
    use std::io::{BufRead, BufReader};
    let dir = std::env::temp_dir().join(format!("mpx-script-mute-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("mute.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((conn, _)) = listener.accept() {
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut cmd = String::new();
            // one command: lines up to the empty one
            for _ in 0..64 {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                cmd.push_str(&line);
            }
            let _ = tx.send(cmd);
            // keep the connection open, silent, until the test is done
            std::thread::sleep(std::time::Duration::from_secs(3));
            drop(conn);
        }
    });
    let cfg = Config::from_raw(
        &RawParams::default()
            .set("mediaproxy_socket", sock.to_string_lossy().into_owned())
            .set("mediaproxy_timeout", 300)
            .set("relay_mode", "external"),
    )
    .unwrap();
    let inv = initial_invite("mute@x", "", &offer("192.168.1.40", 4000));
    let mut m = Fake::new(&inv, "198.51.100.7", 5060);
    m.avps.push((Avp::MediaRelay, "relay7.example.net".into()));
    let t0 = std::time::Instant::now();
    assert_eq!(script::use_media_proxy(&mut m, &cfg, &Ctx::default()), -1);
    let waited = t0.elapsed();
    assert!(m.logged("did not answer in time"), "{:?}", m.logs);
    assert!(m.out.borrow().is_none(), "nothing rewritten");
    let cmd = rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("the dispatcher got the command");
    assert!(cmd.starts_with("update\r\n"), "{cmd}");
    assert!(cmd.contains("media_relay: relay7.example.net\r\n"), "{cmd}");
    // not a timing assertion: the wait was bounded (far below the 3 s the peer stays silent)
    assert!(waited < std::time::Duration::from_secs(3), "{waited:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn engage_media_proxy_return_codes() {
    let e = env("engage", (43900, 43999));
    let invite = |ttag: Option<&str>, body: Option<&str>| {
        sip(
            "INVITE sip:bob@example.net SIP/2.0",
            "eng@x",
            "a1",
            ttag,
            "1 INVITE",
            "",
            body,
        )
    };
    let sdp = offer("192.168.1.40", 4000);
    // only an initial INVITE can engage: a re-INVITE and other methods get -1 and a line
    let mut m = Fake::new(&invite(Some("b1"), Some(&sdp)), "198.51.100.7", 5060);
    m.dialog = Some("1:2".into());
    assert_eq!(engage(&mut m, &e.cfg), -1);
    assert!(m.logged("only an initial INVITE"), "{:?}", m.logs);
    let options = sip(
        "OPTIONS sip:bob@example.net SIP/2.0",
        "eng@x",
        "a1",
        None,
        "1 OPTIONS",
        "",
        None,
    );
    let mut m = Fake::new(&options, "198.51.100.7", 5060);
    assert_eq!(engage(&mut m, &e.cfg), -1);
    assert_eq!(m.dialogs_made, 0);
    // no dialog to engage (the host's dialog module is missing): -1, nothing rewritten
    let mut m = Fake::new(&invite(None, Some(&sdp)), "198.51.100.7", 5060);
    assert_eq!(engage(&mut m, &e.cfg), -1);
    assert!(m.out.borrow().is_none());
    // an initial INVITE with SDP: 1, rewritten, and the relay knows the dialog's id
    let mut m = Fake::new(&invite(None, Some(&sdp)), "198.51.100.7", 5060);
    m.dialog = Some("5731:42".into());
    assert_eq!(engage(&mut m, &e.cfg), 1, "{:?}", m.logs);
    assert!((43900..=43999).contains(&target(&m.output()).port()));
    let sessions = sipcall_ask(&e.cfg.mediaproxy_socket, "sessions");
    assert!(sessions.contains("\"dialog_id\":\"5731:42\""), "{sessions}");
    // engaging the same message again is a no-op success
    assert_eq!(engage(&mut m, &e.cfg), 1);
    assert_eq!(m.dialogs_made, 1);
    // a late offer (no SDP in the INVITE) engages too: 1
    let late = invite(None, None).replace("eng@x", "eng-late@x");
    let mut m = Fake::new(&late, "198.51.100.7", 5060);
    m.dialog = Some("5731:43".into());
    assert_eq!(engage(&mut m, &e.cfg), 1, "{:?}", m.logs);
    assert!(m.engaged);
}

/// One command to a relay's control socket; its one-line answer.
fn sipcall_ask(sock: &std::path::Path, cmd: &str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).expect("control socket");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line
}

/// `start_recording()` / `stop_recording()`: 1 when the relay records (a file appears in
/// `recording_dir`) and stops, from either party's message; -1 with a line for an unknown
/// call, for a relay without `recording_dir`, and with `relay_mode=external` (nothing sent).
#[test]
fn start_and_stop_recording_return_codes() {
    let e = env_with("rec", (44400, 44499), |raw, dir| {
        let rec = dir.join("rec");
        std::fs::create_dir_all(&rec).unwrap();
        *raw = std::mem::take(raw).set("recording_dir", rec.to_string_lossy().into_owned());
    });
    let inv = initial_invite("rec1@x", "", &offer("192.168.1.40", 4000));
    let mut m = Fake::new(&inv, "198.51.100.7", 61000);
    assert_eq!(script::use_media_proxy(&mut m, &e.cfg, &Ctx::default()), 1);
    let ok = sip(
        "SIP/2.0 200 OK",
        "rec1@x",
        "a1",
        Some("b1"),
        "1 INVITE",
        "",
        Some(&offer("192.168.2.50", 5000)),
    );
    let mut r = Fake::new(&ok, "198.51.100.9", 5060);
    assert_eq!(script::use_media_proxy(&mut r, &e.cfg, &Ctx::default()), 1);
    assert_eq!(script::start_recording(&r, &e.cfg), 1, "{:?}", r.logs);
    let rec = e.dir.join("rec");
    let files = || {
        std::fs::read_dir(&rec)
            .map(|d| d.flatten().map(|f| f.file_name()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while files().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let f = files();
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].to_string_lossy().starts_with("rec1@x-"), "{f:?}");
    // the callee's BYE names the session by the other tag
    let bye = callee_bye("rec1@x");
    let b = Fake::new(&bye, "198.51.100.9", 5060);
    assert_eq!(script::stop_recording(&b, &e.cfg), 1, "{:?}", b.logs);
    assert_eq!(script::end_media_session(&b, &e.cfg), 1);
    // no such session any more
    assert_eq!(script::start_recording(&b, &e.cfg), -1);
    assert!(b.logged("relay:"), "{:?}", b.logs);

    // a relay without recording_dir
    let plain = env("recoff", (44500, 44599));
    let inv = initial_invite("rec2@x", "", &offer("192.168.1.40", 4000));
    let mut m = Fake::new(&inv, "198.51.100.7", 61000);
    assert_eq!(
        script::use_media_proxy(&mut m, &plain.cfg, &Ctx::default()),
        1
    );
    assert_eq!(script::start_recording(&m, &plain.cfg), -1);
    assert!(m.logged("relay:"), "{:?}", m.logs);

    // relay_mode=external: refused before anything is sent, with a line saying why
    let mut ext = e.cfg.clone();
    ext.relay_mode = mediaproxy::config::RelayMode::External;
    let m = Fake::new(&inv, "198.51.100.7", 61000);
    assert_eq!(script::start_recording(&m, &ext), -1);
    assert_eq!(script::stop_recording(&m, &ext), -1);
    assert!(m.logged("relay_mode=external"), "{:?}", m.logs);
    assert!(!m.logged("relay:"), "{:?}", m.logs);
    // disable=1: -1, quietly
    let mut off = e.cfg.clone();
    off.disable = true;
    let m = Fake::new(&inv, "198.51.100.7", 61000);
    assert_eq!(script::start_recording(&m, &off), -1);
    assert!(m.logs.borrow().is_empty());
}
