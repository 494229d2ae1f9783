//! Tests of [`super`]: every parameter's default, good values, and one refusal each.
use super::*;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

fn refused(raw: RawParams) -> ParamError {
    match Config::from_raw(&raw) {
        Ok(c) => panic!("accepted {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn defaults_are_valid() {
    let c = Config::from_raw(&RawParams::default()).expect("defaults");
    assert!(!c.disable);
    assert_eq!(
        c.mediaproxy_socket,
        PathBuf::from("/run/mediaproxy/dispatcher.sock")
    );
    assert_eq!(c.mediaproxy_timeout, Duration::from_millis(500));
    assert_eq!(c.signaling_ip_avp, "$avp(mp_signaling_ip)");
    assert_eq!(c.ice_candidate, IceCandidate::None);
    assert_eq!(c.natping_interval, 60);
    assert_eq!(c.relay_mode, RelayMode::Embedded);
    assert_eq!((c.relay.port_min, c.relay.port_max), (40000, 60000));
    assert_eq!(c.relay.threads, 2);
    assert_eq!(c.relay.io, RelayIo::Auto);
    assert_eq!(c.relay.media_timeout, Duration::from_secs(60));
    assert_eq!(c.relay.hold_timeout, Duration::from_secs(7200));
    assert_eq!(c.relay.setup_timeout, Duration::from_secs(90));
    assert_eq!(c.relay.listen_ip, "0.0.0.0".parse::<IpAddr>().unwrap());
    assert_eq!(c.relay.advertised_ip, None);
}

#[test]
fn good_values_are_taken() {
    let raw = RawParams::default()
        .set("disable", 1)
        .set("mediaproxy_socket", "/tmp/x.sock")
        .set("mediaproxy_timeout", 1500)
        .set("ice_candidate", "High-Priority")
        .set("relay_mode", "EXTERNAL")
        .set("listen_ip", "::")
        .set("advertised_ip", "2001:db8::1")
        .set("port_range", "20000-20003")
        .set("relay_threads", 4)
        .set("relay_io", "IO_URING")
        .set("natping_interval", 0)
        .set("learn_from_signaling_ip", 1);
    let c = Config::from_raw(&raw).expect("valid");
    assert!(c.disable);
    assert_eq!(c.ice_candidate, IceCandidate::HighPriority);
    assert_eq!(c.relay_mode, RelayMode::External);
    assert_eq!((c.relay.port_min, c.relay.port_max), (20000, 20003));
    assert_eq!(c.relay.advertised_ip, Some("2001:db8::1".parse().unwrap()));
    assert!(c.learn_from_signaling_ip);
    assert_eq!(c.natping_interval, 0);
    assert_eq!(c.relay.io, RelayIo::IoUring);
    for (v, io) in [
        ("auto", RelayIo::Auto),
        ("epoll", RelayIo::Epoll),
        (" io_uring ", RelayIo::IoUring),
    ] {
        let raw = RawParams::default().set("relay_io", v);
        assert_eq!(Config::from_raw(&raw).expect(v).relay.io, io);
    }
}

// One test per parameter: a bad value is refused, naming the parameter, value, accepted set.

#[test]
fn bad_disable() {
    let e = refused(RawParams::default().set("disable", 2));
    assert_eq!(
        e.to_string(),
        "invalid value \"2\" for modparam \"disable\": expected 0 or 1"
    );
}

#[test]
fn bad_mediaproxy_socket() {
    let e = refused(RawParams::default().set("mediaproxy_socket", "relative.sock"));
    assert_eq!(e.param, "mediaproxy_socket");
    assert!(
        e.to_string().contains("an absolute path of a unix socket"),
        "{e}"
    );
    let long = format!("/{}", "a".repeat(120));
    let e = refused(RawParams::default().set("mediaproxy_socket", long));
    assert_eq!(e.param, "mediaproxy_socket");
}

#[test]
fn bad_mediaproxy_timeout() {
    let e = refused(RawParams::default().set("mediaproxy_timeout", 0));
    assert_eq!(
        e.to_string(),
        "invalid value \"0\" for modparam \"mediaproxy_timeout\": expected an integer from 1 \
         to 60000 (milliseconds)"
    );
}

#[test]
fn bad_avp_specs() {
    for (which, raw) in [
        (
            "signaling_ip_avp",
            RawParams::default().set("signaling_ip_avp", "mp_ip"),
        ),
        (
            "media_relay_avp",
            RawParams::default().set("media_relay_avp", "$var(x)"),
        ),
        (
            "ice_candidate_avp",
            RawParams::default().set("ice_candidate_avp", "$avp()"),
        ),
    ] {
        let e = refused(raw);
        assert_eq!(e.param, which);
        assert!(
            e.to_string()
                .contains("expected an AVP spec such as \"$avp(name)\""),
            "{e}"
        );
    }
}

#[test]
fn bad_ice_candidate() {
    let e = refused(RawParams::default().set("ice_candidate", "medium"));
    assert_eq!(
        e.to_string(),
        "invalid value \"medium\" for modparam \"ice_candidate\": expected \"none\", \
         \"low-priority\" or \"high-priority\""
    );
}

#[test]
fn bad_asymmetrics_files() {
    for (which, raw) in [
        (
            "sip_asymmetrics",
            RawParams::default().set("sip_asymmetrics", "/nonexistent/sip-asym"),
        ),
        (
            "rtp_asymmetrics",
            RawParams::default().set("rtp_asymmetrics", "/nonexistent/rtp-asym"),
        ),
    ] {
        let e = refused(raw);
        assert_eq!(e.param, which);
        assert!(
            e.to_string()
                .contains("a readable file of regular expressions"),
            "{e}"
        );
    }
}

#[test]
fn bad_natping_interval() {
    let e = refused(RawParams::default().set("natping_interval", -1));
    assert_eq!(e.param, "natping_interval");
    assert!(e.to_string().contains("from 0 to 3600"), "{e}");
}

#[test]
fn bad_relay_mode() {
    let e = refused(RawParams::default().set("relay_mode", "kernel"));
    assert_eq!(
        e.to_string(),
        "invalid value \"kernel\" for modparam \"relay_mode\": expected \"embedded\", \"remote\" or \"external\""
    );
}

#[test]
fn bad_listen_ip() {
    let e = refused(RawParams::default().set("listen_ip", "relay.example.com"));
    assert_eq!(e.param, "listen_ip");
    assert!(
        e.to_string().contains("an IPv4 or IPv6 address literal"),
        "{e}"
    );
}

#[test]
fn bad_advertised_ip() {
    let e = refused(RawParams::default().set("advertised_ip", "300.1.1.1"));
    assert_eq!(e.param, "advertised_ip");
    let e = refused(RawParams::default().set("advertised_ip", "0.0.0.0"));
    assert!(e.to_string().contains("not 0.0.0.0"), "{e}");
}

#[test]
fn bad_port_range() {
    for v in [
        "40000",
        "40001-50000",
        "50000-40000",
        "1000-2000",
        "40000-40002",
        "a-b",
        "40000-70000",
    ] {
        let e = refused(RawParams::default().set("port_range", v));
        assert_eq!(e.param, "port_range", "{v}");
        assert_eq!(e.value, v);
        assert!(e.to_string().contains("\"MIN-MAX\" with MIN even"), "{e}");
    }
}

#[test]
fn bad_relay_threads() {
    let e = refused(RawParams::default().set("relay_threads", 0));
    assert_eq!(
        e.to_string(),
        "invalid value \"0\" for modparam \"relay_threads\": expected an integer from 1 to 64"
    );
}

#[test]
fn bad_relay_io() {
    for v in ["uring", "", "select", "io-uring"] {
        let e = refused(RawParams::default().set("relay_io", v));
        assert_eq!(
            e.to_string(),
            format!(
                "invalid value \"{v}\" for modparam \"relay_io\": expected auto, io_uring or epoll"
            )
        );
    }
}

#[test]
fn bad_timeouts() {
    for (which, raw) in [
        (
            "setup_timeout",
            RawParams::default().set("setup_timeout", 0),
        ),
        (
            "media_timeout",
            RawParams::default().set("media_timeout", -5),
        ),
        (
            "hold_timeout",
            RawParams::default().set("hold_timeout", 10_000_000),
        ),
    ] {
        let e = refused(raw);
        assert_eq!(e.param, which);
        assert!(e.to_string().contains("(seconds)"), "{e}");
    }
}

#[test]
fn relay_batch_wait_range() {
    let c = Config::from_raw(&RawParams::default()).expect("defaults");
    assert_eq!(c.relay.batch_wait_us, 0);
    for ok in [0, 1, 10_000] {
        let c =
            Config::from_raw(&RawParams::default().set("relay_batch_wait", ok)).expect("in range");
        assert_eq!(c.relay.batch_wait_us, ok as u32);
    }
    for v in [-1, 10_001] {
        let e = refused(RawParams::default().set("relay_batch_wait", v));
        assert_eq!(e.param, "relay_batch_wait");
        assert_eq!(
            e.to_string(),
            format!(
                "invalid value \"{v}\" for modparam \"relay_batch_wait\": expected an integer from 0 to 10000 (microseconds)"
            )
        );
    }
}

#[test]
fn relay_connected_sockets_is_a_flag_on_by_default() {
    assert!(
        Config::from_raw(&RawParams::default())
            .unwrap()
            .relay
            .connected_sockets
    );
    let off = Config::from_raw(&RawParams::default().set("relay_connected_sockets", 0)).unwrap();
    assert!(!off.relay.connected_sockets);
    let e = refused(RawParams::default().set("relay_connected_sockets", 2));
    assert_eq!(e.param, "relay_connected_sockets");
    assert_eq!(
        e.to_string(),
        "invalid value \"2\" for modparam \"relay_connected_sockets\": expected 0 or 1"
    );
}

#[test]
fn latch_policy_and_relay_limits() {
    let c = Config::from_raw(&RawParams::default()).unwrap();
    assert_eq!(c.relay.latch_mode, LatchMode::Heuristic);
    assert_eq!(
        (
            c.relay.max_streams,
            c.relay.max_sessions,
            c.relay.max_packet_rate
        ),
        (16, 10_000, 10_000)
    );
    let c = Config::from_raw(
        &RawParams::default()
            .set("latch_policy", "Signalling")
            .set("relay_max_streams", 4)
            .set("relay_max_sessions", 0)
            .set("relay_max_packet_rate", 0),
    )
    .unwrap();
    assert_eq!(c.relay.latch_mode, LatchMode::Signalling);
    assert_eq!(
        (
            c.relay.max_streams,
            c.relay.max_sessions,
            c.relay.max_packet_rate
        ),
        (4, 0, 0)
    );
    // the older switch selects the `signalling` policy
    let c = Config::from_raw(&RawParams::default().set("learn_from_signaling_ip", 1)).unwrap();
    assert_eq!(c.relay.latch_mode, LatchMode::Signalling);
    let e = refused(RawParams::default().set("latch_policy", "first"));
    assert_eq!(e.param, "latch_policy");
    for (v, name) in [(0, "relay_max_streams"), (1025, "relay_max_streams")] {
        let e = refused(RawParams::default().set("relay_max_streams", v));
        assert_eq!(e.param, name);
    }
    let e = refused(RawParams::default().set("relay_max_sessions", -1));
    assert_eq!(e.param, "relay_max_sessions");
    let e = refused(RawParams::default().set("relay_max_packet_rate", -5));
    assert_eq!(e.param, "relay_max_packet_rate");
}

#[test]
fn bad_learn_from_signaling_ip() {
    let e = refused(RawParams::default().set("learn_from_signaling_ip", 7));
    assert_eq!(e.param, "learn_from_signaling_ip");
}

#[test]
fn relay_kernel_is_off_by_default_and_parsed() {
    use crate::settings::RelayKernel;
    assert_eq!(
        Config::from_raw(&RawParams::default())
            .unwrap()
            .relay
            .kernel,
        RelayKernel::Off
    );
    for (v, k) in [
        ("auto", RelayKernel::Auto),
        (" EBPF", RelayKernel::Ebpf),
        ("off", RelayKernel::Off),
    ] {
        let raw = RawParams::default().set("relay_kernel", v);
        assert_eq!(Config::from_raw(&raw).expect(v).relay.kernel, k);
        assert_eq!(
            RelayKernel::parse(v).map(|k| k.to_string()),
            Some(v.trim().to_lowercase())
        );
    }
    let e = refused(RawParams::default().set("relay_kernel", "xdp"));
    assert_eq!(
        e.to_string(),
        "invalid value \"xdp\" for modparam \"relay_kernel\": expected off, auto or ebpf"
    );
}

#[test]
fn relay_interfaces_are_read_and_shown_back() {
    let raw = RawParams::default().set(
        "relay_interfaces",
        " pub=192.0.2.10/203.0.113.5 ; priv=10.0.0.5; v6=2001:db8::5 ",
    );
    let c = Config::from_raw(&raw).expect("valid");
    let names: Vec<&str> = c.relay.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["pub", "priv", "v6"]);
    assert_eq!(
        c.relay.interfaces[0].advertised,
        Some("203.0.113.5".parse().unwrap())
    );
    assert_eq!(
        c.relay.interfaces[2].listen,
        "2001:db8::5".parse::<IpAddr>().unwrap()
    );
    assert_eq!(c.relay.interfaces().len(), 3);
    c.relay.validate().expect("shown back and read again");
    // unset: one unnamed interface of listen_ip/advertised_ip
    let d = Config::from_raw(&RawParams::default()).expect("defaults");
    assert!(d.relay.interfaces.is_empty());
    assert_eq!(d.relay.interfaces()[0].name, "");
    assert_eq!(d.relay.interfaces()[0].listen, d.relay.listen_ip);
}

#[test]
fn bad_relay_interfaces() {
    for (v, why) in [
        ("pub", "is not name=address"),
        ("pub=host.example", "is not an address literal"),
        ("a b=10.0.0.1", "letters, digits"),
        ("a=10.0.0.1; a=10.0.0.2", "given twice"),
        ("a=10.0.0.1/0.0.0.0", "not a specific address"),
    ] {
        let e = refused(RawParams::default().set("relay_interfaces", v));
        assert_eq!(e.param, "relay_interfaces");
        assert!(e.to_string().contains(why), "{v}: {e}");
    }
}
