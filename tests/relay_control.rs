//! The control socket of a real relay: malformed input, management JSON, port exhaustion and
//! quarantine, socket file life cycle, expiry events, thread signal masks.

mod common;
use common::*;
use mediaproxy::control::client::ClientError;
use mediaproxy::control::codec::MessageType;
use mediaproxy::relay::{Counters, Relay, RelayConfig, RelayEvent};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn raw(r: &TestRelay) -> BufReader<UnixStream> {
    let s = UnixStream::connect(&r.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    BufReader::new(s)
}

fn ask(c: &mut BufReader<UnixStream>, req: &[u8]) -> String {
    c.get_mut().write_all(req).unwrap();
    let mut line = String::new();
    c.read_line(&mut line).expect("a reply line");
    assert!(line.ends_with("\r\n"), "{line:?}");
    line.trim_end().to_string()
}

fn garbage_gets_error_and_everything_else_lives_on(io: RelayIo) {
    let r = TestRelay::start_io(io, "garbage", (42000, 42099), |_| {});
    let mut bad = raw(&r);
    let mut good = r.client();
    let Call {
        caller,
        callee,
        to_a,
        ..
    } = new_call(&mut good, "g-1");
    for junk in [
        &b"hello world\r\n\r\n"[..],
        b"update\r\nthis is not a header\r\n\r\n",
        b"update\r\ntype: request\r\ncall_id: x\r\n\r\n",
        b"update\r\ntype: request\r\ncall_id: x\r\ncseq: 1\r\nfrom_uri: a\r\nto_uri: b\r\nfrom_tag: f\r\nuser_agent: u\r\nmedia: audio:1.2.3.4\r\n\r\n",
        b"remove\r\ncall_id: nosuchcall\r\nfrom_tag: nope\r\n\r\n",
        b"\x00\x01\x02\xff\xfe\r\n\r\n",
    ] {
        assert_eq!(ask(&mut bad, junk), "error");
    }
    assert!(counter(&r.counters.control_errors) >= 6);
    // the same connection still answers
    assert!(ask(&mut bad, b"sessions\r\n").starts_with('['));
    assert_eq!(ask(&mut bad, b"version\r\n"), env!("CARGO_PKG_VERSION"));
    // and the other session is untouched: media flows, a new update works
    caller.send_to(&rtp(0, 1, 0xA, 1), to_a).unwrap();
    assert_eq!(recv(&callee).0, rtp(0, 1, 0xA, 1));
    let a = good
        .update(&update(
            MessageType::Request,
            "g-1",
            2,
            "ft",
            "tt",
            vec![audio(caller.local_addr().unwrap())],
        ))
        .unwrap();
    assert_eq!(a.ports.len(), 1);
    // the original protocol without our extension: plain "removed"
    assert_eq!(
        ask(
            &mut bad,
            b"remove\r\ncall_id: g-1\r\nfrom_tag: ft\r\nto_tag: \r\n\r\n"
        ),
        "removed"
    );
}

fn dispatcher_bytes_as_the_c_module_writes_them(io: RelayIo) {
    let r = TestRelay::start_io(io, "cbytes", (42100, 42199), |_| {});
    let mut c = raw(&r);
    let reply = ask(
        &mut c,
        b"update\r\ntype: request\r\ndialog_id: 15174680485658\r\ncall_id: a84b4c76e66710@pc33\r\ncseq: 314159\r\n\
          from_uri: alice@example.com\r\nto_uri: bob@example.net\r\nfrom_tag: 1928301774\r\nto_tag: \r\n\
          user_agent: Foo/1.0\r\nsignaling_ip: 127.0.0.2\r\nmedia_relay: \r\n\
          media: audio:127.0.0.2:49170:sendrecv:ice=no,video:127.0.0.2:51372:sendrecv:ice=no\r\n\r\n",
    );
    let t: Vec<&str> = reply.split(' ').collect();
    assert_eq!(t.len(), 3, "{reply}");
    assert_eq!(t[0], "127.0.0.1");
    assert!(t[1].parse::<u16>().unwrap() % 2 == 0 && t[2].parse::<u16>().unwrap() % 2 == 0);
    // body-less 200 OK: IP only (the module ignores it)
    let r2 = ask(
        &mut c,
        b"update\r\ntype: reply\r\ncall_id: a84b4c76e66710@pc33\r\ncseq: 314159\r\nfrom_uri: alice@example.com\r\n\
          to_uri: bob@example.net\r\nfrom_tag: 1928301774\r\nto_tag: 8321234356\r\nuser_agent: Bar\r\n\
          signaling_ip: 127.0.0.3\r\n\r\n",
    );
    assert_eq!(r2, "127.0.0.1");
    // IPv6 media address in brackets is understood (the answer IP is the relay's)
    let r3 = ask(
        &mut c,
        b"update\r\ntype: request\r\ncall_id: v6\r\ncseq: 1\r\nfrom_uri: a\r\nto_uri: b\r\nfrom_tag: f\r\n\
          user_agent: u\r\nsignaling_ip: 127.0.0.2\r\nmedia: audio:[2001:db8::1]:4000:sendrecv:ice=no\r\n\r\n",
    );
    assert_eq!(r3.split(' ').count(), 2, "{r3}");
}

fn sessions_and_summary_json(io: RelayIo) {
    let r = TestRelay::start_io(io, "json", (42200, 42299), |_| {});
    let mut c = r.client();
    let Call {
        caller,
        callee,
        to_a,
        to_b,
    } = new_call(&mut c, "j-1");
    let other = endpoint("127.0.0.6");
    c.update(&update(
        MessageType::Request,
        "j-2",
        1,
        "ft2",
        "",
        vec![audio(other.local_addr().unwrap())],
    ))
    .unwrap();
    for seq in 0..5 {
        caller.send_to(&rtp(0, seq, 0xA, 1), to_a).unwrap();
        recv(&callee);
        callee.send_to(&rtp(18, seq, 0xB, 1), to_b).unwrap();
        recv(&caller);
    }
    // packets are counted by the worker; wait until the statistics show them
    let mut sessions = serde_json::Value::Null;
    assert!(eventually(Duration::from_secs(5), || {
        sessions = serde_json::from_str(&c.command("sessions").unwrap()).unwrap();
        sessions
            .as_array()
            .and_then(|a| a.iter().find(|s| s["call_id"] == "j-1"))
            .is_some_and(|s| {
                s["streams"][0]["callee_packets"] == 5
                    && s["streams"][0]["callee_remote"] != "Unknown"
            })
    }));
    let list = sessions.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let s = list.iter().find(|s| s["call_id"] == "j-1").unwrap();
    for f in [
        "call_id",
        "from_tag",
        "from_uri",
        "to_tag",
        "to_uri",
        "start_time",
        "duration",
        "caller_ua",
        "callee_ua",
        "username",
        "streams",
    ] {
        assert!(s.get(f).is_some(), "session field {f} missing: {s}");
    }
    assert_eq!(s["to_tag"], "tt");
    assert!(s["start_time"].as_f64().unwrap() > 1.7e9);
    let st = &s["streams"][0];
    assert_eq!(st["media_type"], "audio");
    assert_eq!(st["status"], "active");
    assert_eq!(st["caller_codec"], "G711u");
    assert_eq!(st["callee_codec"], "G729");
    assert_eq!(
        st["caller_remote"],
        caller.local_addr().unwrap().to_string()
    );
    assert_eq!(
        st["callee_remote"],
        callee.local_addr().unwrap().to_string()
    );
    // media has flowed: the media timeout (60 s default) is the one that applies, not setup's
    assert_eq!(st["timeout_wait"], 60);
    // the unanswered session lists no stream yet (MediaProxy: only answered streams)
    let s2 = list.iter().find(|s| s["call_id"] == "j-2").unwrap();
    assert_eq!(s2["streams"].as_array().unwrap().len(), 0);
    assert!(s2["start_time"].is_null());

    let summary: serde_json::Value = serde_json::from_str(&c.command("summary").unwrap()).unwrap();
    let relay = &summary[0];
    for f in [
        "ip",
        "version",
        "status",
        "uptime",
        "session_count",
        "stream_count",
        "bps_relayed",
    ] {
        assert!(
            relay.get(f).is_some(),
            "summary field {f} missing: {summary}"
        );
    }
    assert_eq!(relay["ip"], "127.0.0.1");
    assert_eq!(relay["status"], "active");
    assert_eq!(relay["session_count"], 2);
    assert_eq!(relay["stream_count"]["audio"], 2);
    assert_eq!(relay["ports_in_use"], 8);
    // workers add their packet counts after each batch they forward, so the last packets of
    // the exchange may be counted a moment after they arrived: wait (bounded) for them
    let mut relayed = || -> u64 {
        let s: serde_json::Value = serde_json::from_str(&c.command("summary").unwrap()).unwrap();
        s[0]["packets_relayed"].as_u64().unwrap_or(0)
    };
    let mut last = 0;
    let counted = eventually(Duration::from_secs(5), || {
        last = relayed();
        last >= 10
    });
    assert!(counted, "packets_relayed {last}");
}

fn port_exhaustion_answers_error_and_recovers_after_quarantine(io: RelayIo) {
    // 4 ports = 2 pairs = exactly one relayed stream; freed pairs rest 2 s
    let r = TestRelay::start_io(io, "exhaust", (42300, 42303), |c| {
        c.port_quarantine = Duration::from_secs(2)
    });
    let mut c = r.client();
    let caller = endpoint("127.0.0.2");
    let offer = |id: &str| {
        update(
            MessageType::Request,
            id,
            1,
            "ft",
            "",
            vec![audio(caller.local_addr().unwrap())],
        )
    };
    assert_eq!(c.update(&offer("x-1")).unwrap().ports.len(), 1);
    assert_eq!(counter(&r.counters.ports_free), 0);
    assert!(matches!(c.update(&offer("x-2")), Err(ClientError::Relay)));
    assert_eq!(counter(&r.counters.port_exhaustion), 1);
    assert_eq!(
        counter(&r.counters.sessions_active),
        1,
        "the failed offer leaves no session"
    );
    c.remove("x-1", "ft", "").unwrap();
    let removed_at = Instant::now();
    // resting: still exhausted right after the remove
    assert!(matches!(c.update(&offer("x-2")), Err(ClientError::Relay)));
    assert_eq!(counter(&r.counters.port_exhaustion), 2);
    // and usable again once the quarantine is over (bounded wait)
    let mut ok = false;
    while !ok && removed_at.elapsed() < Duration::from_secs(10) {
        ok = c.update(&offer("x-2")).is_ok();
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(ok, "the range recovered");
    assert!(
        removed_at.elapsed() >= Duration::from_secs(2),
        "not before the quarantine ended"
    );
}

fn socket_file_mode_stale_replacement_and_removal(io: RelayIo) {
    let dir = std::env::temp_dir().join(format!("mp-it-sock-{io}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("relay.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap()); // stale file, nobody behind it
    let (port_min, port_max) = ports_for(io, (42400, 42499));
    let cfg = RelayConfig {
        listen_ip: "127.0.0.1".parse().unwrap(),
        port_min,
        port_max,
        threads: 1,
        io,
        ..RelayConfig::default()
    };
    let relay = Relay::start(cfg.clone(), &path, Counters::leak()).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    // a second relay on the same live path is refused and leaves the first one alone
    assert!(Relay::start(cfg, &path, Counters::leak()).is_err());
    assert!(UnixStream::connect(&path).is_ok());
    relay.shutdown();
    assert!(!path.exists(), "socket file removed on shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

fn expired_session_is_reported_with_its_statistics(io: RelayIo) {
    let r = TestRelay::start_io(io, "expire", (42500, 42599), |c| {
        c.setup_timeout = Duration::from_secs(1);
        c.media_timeout = Duration::from_secs(1);
    });
    let mut c = r.client();
    let _call = new_call(&mut c, "e-1");
    let ev = r
        .wait_event(Duration::from_secs(15), |e| {
            matches!(e, RelayEvent::Expired { .. })
        })
        .expect("an expiry event");
    match ev {
        RelayEvent::Expired {
            call_id,
            from_tag,
            to_tag,
            dialog_id,
            stats_json,
            all_streams_ice,
        } => {
            assert!(!all_streams_ice);
            assert_eq!(
                (call_id.as_str(), from_tag.as_str(), to_tag.as_str()),
                ("e-1", "ft", "tt")
            );
            assert_eq!(dialog_id.as_deref(), Some("4242"));
            let v: serde_json::Value = serde_json::from_str(&stats_json).unwrap();
            assert_eq!(v["timed_out"], true);
            assert_eq!(v["streams"][0]["status"], "no-traffic timeout");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(counter(&r.counters.sessions_timed_out), 1);
    assert_eq!(counter(&r.counters.sessions_active), 0);
    // the BYE that follows still gets "removed"
    assert!(c.remove("e-1", "ft", "tt").is_ok());
}

backends!(
    garbage_gets_error_and_everything_else_lives_on,
    dispatcher_bytes_as_the_c_module_writes_them,
    sessions_and_summary_json,
    port_exhaustion_answers_error_and_recovers_after_quarantine,
    socket_file_mode_stale_replacement_and_removal,
    expired_session_is_reported_with_its_statistics,
);

/// `mediaproxy-relay`'s options are the settings table's rows: a value out of bounds is refused
/// before anything starts, with the row's message, and `--help` lists every row's option.
#[test]
fn relay_binary_options_follow_the_settings_table() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mediaproxy-relay"))
            .args(args)
            .output()
            .unwrap()
    };
    for (args, says) in [
        (
            &["--socket", "/tmp/unused.sock", "--threads", "0"][..],
            "invalid value \"0\" for --threads: expected an integer from 1 to 64",
        ),
        (
            &[
                "--socket",
                "/tmp/unused.sock",
                "--port-range",
                "40001-40100",
            ][..],
            "invalid value \"40001-40100\" for --port-range: expected \"MIN-MAX\" with MIN even",
        ),
        (
            &["--socket", "/tmp/unused.sock", "--ring-buffers", "1000"][..],
            "expected an integer from 2 to 32768 (a power of two)",
        ),
        (
            &["--socket", "/tmp/unused.sock", "--relay-io", "uring"][..],
            "expected auto, io_uring or epoll",
        ),
        (
            &["--socket", "/tmp/unused.sock", "--bogus", "1"][..],
            "unknown argument --bogus",
        ),
        (&["--threads", "2"][..], "--socket is required"),
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let help = run(&["--help"]);
    let text = String::from_utf8_lossy(&help.stderr);
    let options: Vec<&str> = mediaproxy::settings::table::SPECS
        .iter()
        .filter_map(|s| s.option)
        .collect();
    assert!(options.len() >= 17, "{options:?}");
    for o in options {
        assert!(
            text.contains(&format!("  {o} ")),
            "{o} missing from --help:\n{text}"
        );
    }
}

kernel_variants!(
    sessions_and_summary_json,
    expired_session_is_reported_with_its_statistics
);
