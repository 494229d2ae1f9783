//! The settings table: one row per setting, in the README's order (the relay-only options
//! last). Defaults are the ones of the original module documentation (OpenSIPS mediaproxy,
//! SER mediaproxy) and, for the relay's own settings, what MediaProxy's relay uses.

pub use super::values::parse_port_range;
use super::values::{avp, int, ip, opt_text, readable_file, secs};
use super::{IceCandidate, Kind, LatchMode, RelayIo, RelayKernel, RelayMode, Scope, Spec};
use std::path::PathBuf;
use std::time::Duration;

const AVP: Kind = Kind::Text {
    accepted: "an AVP spec such as \"$avp(name)\"",
};
const IP: Kind = Kind::Text {
    accepted: "an IPv4 or IPv6 address literal",
};
const ASYM: Kind = Kind::Text {
    accepted: "a readable file of regular expressions",
};
const SECONDS: Kind = Kind::Int {
    min: 1,
    max: 86_400,
    note: " (seconds)",
};
const PORT_RANGE: &str =
    "\"MIN-MAX\" with MIN even, 1024 <= MIN < MAX <= 65535 and at least 4 ports";

pub const SPECS: &[Spec] = &[
    Spec {
        name: "disable",
        option: None,
        scope: Scope::Module,
        kind: Kind::Flag,
        ty: "int",
        default: Some("0"),
        doc: "1: every function does nothing and returns -1",
        set: |s, v| {
            s.disable = v.flag();
            Ok(())
        },
        show: |s| u8::from(s.disable).to_string(),
    },
    Spec {
        name: "mediaproxy_socket",
        option: None,
        scope: Scope::Module,
        kind: Kind::Text {
            accepted: "an absolute path of a unix socket, at most 107 bytes",
        },
        ty: "str",
        default: Some("/run/mediaproxy/dispatcher.sock"),
        doc: "the control socket: served by the embedded relay, or an external MediaProxy dispatcher's (`relay_mode = external`); absolute path, ≤ 107 bytes; its directory is created if missing",
        set: |s, v| {
            let p = v.text();
            // sun_path holds 108 bytes including the terminating NUL
            if !p.starts_with('/') || p.len() > 107 || p.ends_with('/') {
                return Err(None);
            }
            s.mediaproxy_socket = PathBuf::from(p);
            Ok(())
        },
        show: |s| s.mediaproxy_socket.display().to_string(),
    },
    Spec {
        name: "mediaproxy_timeout",
        option: None,
        scope: Scope::Module,
        kind: Kind::Int {
            min: 1,
            max: 60_000,
            note: " (milliseconds)",
        },
        ty: "int (ms)",
        default: Some("500"),
        doc: "how long a SIP worker waits for the relay's answer (1–60000)",
        set: |s, v| {
            s.mediaproxy_timeout = Duration::from_millis(int(v));
            Ok(())
        },
        show: |s| s.mediaproxy_timeout.as_millis().to_string(),
    },
    Spec {
        name: "signaling_ip_avp",
        option: None,
        scope: Scope::Module,
        kind: AVP,
        ty: "str",
        default: Some("$avp(mp_signaling_ip)"),
        doc: "AVP whose value replaces the packet's source as the signalling IP",
        set: |s, v| avp(v, &mut s.signaling_ip_avp),
        show: |s| s.signaling_ip_avp.clone(),
    },
    Spec {
        name: "media_relay_avp",
        option: None,
        scope: Scope::Module,
        kind: AVP,
        ty: "str",
        default: Some("$avp(mp_media_relay)"),
        doc: "AVP naming the preferred relay for a new call: a remote relay's certificate CN or address, `local` for the embedded one (or an external dispatcher's relay)",
        set: |s, v| avp(v, &mut s.media_relay_avp),
        show: |s| s.media_relay_avp.clone(),
    },
    Spec {
        name: "caller_interface_avp",
        option: None,
        scope: Scope::Module,
        kind: AVP,
        ty: "str",
        default: Some("$avp(mp_caller_interface)"),
        doc: "AVP naming the relay interface (`relay_interfaces`) that faces the caller of a new call",
        set: |s, v| avp(v, &mut s.interface_avps[0]),
        show: |s| s.interface_avps[0].clone(),
    },
    Spec {
        name: "callee_interface_avp",
        option: None,
        scope: Scope::Module,
        kind: AVP,
        ty: "str",
        default: Some("$avp(mp_callee_interface)"),
        doc: "AVP naming the relay interface that faces the callee of a new call",
        set: |s, v| avp(v, &mut s.interface_avps[1]),
        show: |s| s.interface_avps[1].clone(),
    },
    Spec {
        name: "ice_candidate",
        option: None,
        scope: Scope::Module,
        kind: Kind::Text {
            accepted: "\"none\", \"low-priority\" or \"high-priority\"",
        },
        ty: "str",
        default: Some("none"),
        doc: "`none`, `low-priority` or `high-priority`: add a relay ICE candidate to streams using ICE",
        set: |s, v| {
            s.ice_candidate = IceCandidate::parse(v.text()).ok_or(None)?;
            Ok(())
        },
        show: |s| {
            match s.ice_candidate {
                IceCandidate::None => "none",
                IceCandidate::LowPriority => "low-priority",
                IceCandidate::HighPriority => "high-priority",
            }
            .into()
        },
    },
    Spec {
        name: "ice_candidate_avp",
        option: None,
        scope: Scope::Module,
        kind: AVP,
        ty: "str",
        default: Some("$avp(mp_ice_candidate)"),
        doc: "per-call override of `ice_candidate`",
        set: |s, v| avp(v, &mut s.ice_candidate_avp),
        show: |s| s.ice_candidate_avp.clone(),
    },
    Spec {
        name: "sip_asymmetrics",
        option: None,
        scope: Scope::Module,
        kind: ASYM,
        ty: "str",
        default: None,
        doc: "file of regular expressions (one per line) matching User-Agents that send SIP from another port than they receive on",
        set: |s, v| readable_file(v, &mut s.sip_asymmetrics),
        show: |s| opt_text(&s.sip_asymmetrics.as_ref().map(|p| p.display())),
    },
    Spec {
        name: "rtp_asymmetrics",
        option: None,
        scope: Scope::Module,
        kind: ASYM,
        ty: "str",
        default: None,
        doc: "likewise for RTP: such clients get media at their SDP address",
        set: |s, v| readable_file(v, &mut s.rtp_asymmetrics),
        show: |s| opt_text(&s.rtp_asymmetrics.as_ref().map(|p| p.display())),
    },
    Spec {
        name: "natping_interval",
        option: None,
        scope: Scope::Module,
        kind: Kind::Int {
            min: 0,
            max: 3600,
            note: " (seconds, 0 = off)",
        },
        ty: "int (s)",
        default: Some("60"),
        doc: "every N s, 4 NUL bytes to each registered UDP contact behind NAT (usrloc's `nat_bflag`; every contact when usrloc has none), from the socket it registered on; 0 = off; without usrloc one warning at start",
        set: |s, v| {
            s.natping_interval = int(v);
            Ok(())
        },
        show: |s| s.natping_interval.to_string(),
    },
    Spec {
        name: "relay_mode",
        option: None,
        scope: Scope::Module,
        kind: Kind::Text {
            accepted: "\"embedded\", \"remote\" or \"external\"",
        },
        ty: "str",
        default: Some("embedded"),
        doc: "`embedded` (relay threads inside OpenSIPS), `remote` (no media threads: remote relays only, needs `relay_listen`) or `external` (no relay process; use a MediaProxy dispatcher)",
        set: |s, v| {
            let t = v.text();
            s.relay_mode = if t.eq_ignore_ascii_case("embedded") {
                RelayMode::Embedded
            } else if t.eq_ignore_ascii_case("external") {
                RelayMode::External
            } else if t.eq_ignore_ascii_case("remote") {
                RelayMode::Remote
            } else {
                return Err(None);
            };
            Ok(())
        },
        show: |s| {
            match s.relay_mode {
                RelayMode::Embedded => "embedded",
                RelayMode::External => "external",
                RelayMode::Remote => "remote",
            }
            .into()
        },
    },
    super::remote::RELAY_LISTEN,
    super::remote::RELAY_CERT,
    super::remote::RELAY_KEY,
    super::remote::RELAY_CA,
    super::remote::RELAY_TIMEOUT,
    Spec {
        name: "listen_ip",
        option: Some("--listen-ip"),
        scope: Scope::Relay,
        kind: IP,
        ty: "str",
        default: Some("0.0.0.0"),
        doc: "address the relay's media sockets bind to",
        set: |s, v| {
            s.relay.listen_ip = ip(v)?;
            Ok(())
        },
        show: |s| s.relay.listen_ip.to_string(),
    },
    Spec {
        name: "advertised_ip",
        option: Some("--advertised-ip"),
        scope: Scope::Relay,
        kind: IP,
        ty: "str",
        default: None,
        doc: "address written into the SDP when it differs from `listen_ip` (1:1 NAT)",
        set: |s, v| {
            if v.text().is_empty() {
                s.relay.advertised_ip = None;
                return Ok(());
            }
            let a = ip(v)?;
            if a.is_unspecified() {
                return Err(Some(
                    "a specific IPv4 or IPv6 address (not 0.0.0.0 or ::)".into(),
                ));
            }
            s.relay.advertised_ip = Some(a);
            Ok(())
        },
        show: |s| opt_text(&s.relay.advertised_ip),
    },
    Spec {
        name: "relay_interfaces",
        option: Some("--interfaces"),
        scope: Scope::Relay,
        kind: Kind::Text {
            accepted: "\"name=listen[/advertised]; …\" (names of letters, digits, _ and -)",
        },
        ty: "str",
        default: None,
        doc: "several named relay addresses, `name=listen[/advertised]` separated by `;` (e.g. `pub=203.0.113.5; priv=10.0.0.5; v6=2001:db8::5`); each party faces the first one of its SDP's address family, or the one named in `caller_interface_avp`/`callee_interface_avp`; when set, `listen_ip`/`advertised_ip` are unused",
        set: |s, v| {
            s.relay.interfaces = super::RelayInterface::parse_list(v.text()).map_err(Some)?;
            Ok(())
        },
        show: |s| super::RelayInterface::show_list(&s.relay.interfaces),
    },
    Spec {
        name: "port_range",
        option: Some("--port-range"),
        scope: Scope::Relay,
        kind: Kind::Text {
            accepted: PORT_RANGE,
        },
        ty: "str",
        default: Some("40000-60000"),
        doc: "`\"MIN-MAX\"`, MIN even, 1024 ≤ MIN < MAX ≤ 65535; each relayed stream takes 4 ports",
        set: |s, v| {
            (s.relay.port_min, s.relay.port_max) = parse_port_range(v.text()).ok_or(None)?;
            Ok(())
        },
        show: |s| format!("{}-{}", s.relay.port_min, s.relay.port_max),
    },
    Spec {
        name: "relay_threads",
        option: Some("--threads"),
        scope: Scope::Relay,
        kind: Kind::Int {
            min: 1,
            max: 64,
            note: "",
        },
        ty: "int",
        default: Some("2"),
        doc: "relay worker threads (1–64)",
        set: |s, v| {
            s.relay.threads = int(v);
            Ok(())
        },
        show: |s| s.relay.threads.to_string(),
    },
    Spec {
        name: "relay_io",
        option: Some("--relay-io"),
        scope: Scope::Relay,
        kind: Kind::Text {
            accepted: "auto, io_uring or epoll",
        },
        ty: "str",
        default: Some("auto"),
        doc: "relay workers' packet I/O: `io_uring` (multishot receive into provided buffers, batched sends; kernel 6.0+), `epoll`, or `auto` (io_uring when it works here, else epoll; the start-up log line says which and why). `io_uring` where it is unavailable is a start-up error",
        set: |s, v| {
            s.relay.io = RelayIo::parse(v.text()).ok_or(None)?;
            Ok(())
        },
        show: |s| s.relay.io.as_str().into(),
    },
    Spec {
        name: "relay_batch_wait",
        option: Some("--batch-wait-us"),
        scope: Scope::Relay,
        kind: Kind::Int {
            min: 0,
            max: 10_000,
            note: " (microseconds)",
        },
        ty: "int (µs)",
        default: Some("0"),
        doc: "io_uring workers: a sleeping worker wakes for a batch of 64 packets, or for any packet once it has waited this long: fewer wake-ups (less CPU where the relay shares its CPUs with busy processes) for at most this much added latency. 0 = wake for each packet; max 10000; needs Linux 6.12, else 0. epoll ignores it",
        set: |s, v| {
            s.relay.batch_wait_us = int(v);
            Ok(())
        },
        show: |s| s.relay.batch_wait_us.to_string(),
    },
    Spec {
        name: "relay_connected_sockets",
        option: Some("--connected-sockets"),
        scope: Scope::Relay,
        kind: Kind::Flag,
        ty: "int",
        default: Some("1"),
        doc: "io_uring workers: 1 = once a side's destination is known (latched, or its SDP address), send to it through a second socket on the same relay port, connected to it (`SO_REUSEPORT`), which also receives that peer's packets: the kernel copies no address and looks up no route per packet. Packets from any other source still reach the port's own socket, so latching, strict source and re-latching work as with 0. Costs one descriptor per relay port in use (the relay raises `RLIMIT_NOFILE` to twice the port range); 0 = every packet sent with its destination. epoll ignores it",
        set: |s, v| {
            s.relay.connected_sockets = v.flag();
            Ok(())
        },
        show: |s| u8::from(s.relay.connected_sockets).to_string(),
    },
    Spec {
        name: "setup_timeout",
        option: Some("--setup-timeout"),
        scope: Scope::Relay,
        kind: SECONDS,
        ty: "int (s)",
        default: Some("90"),
        doc: "a stream that never carries media ends after this (STUN is not media; when both parties use ICE the stream ends as an `unselected ICE candidate` and the call goes on)",
        set: |s, v| {
            s.relay.setup_timeout = v.secs();
            Ok(())
        },
        show: |s| secs(s.relay.setup_timeout),
    },
    Spec {
        name: "media_timeout",
        option: Some("--media-timeout"),
        scope: Scope::Relay,
        kind: SECONDS,
        ty: "int (s)",
        default: Some("60"),
        doc: "media stopping mid-call ends the session after this",
        set: |s, v| {
            s.relay.media_timeout = v.secs();
            Ok(())
        },
        show: |s| secs(s.relay.media_timeout),
    },
    Spec {
        name: "hold_timeout",
        option: Some("--hold-timeout"),
        scope: Scope::Relay,
        kind: Kind::Int {
            min: 1,
            max: 604_800,
            note: " (seconds)",
        },
        ty: "int (s)",
        default: Some("7200"),
        doc: "the same while the call is on hold",
        set: |s, v| {
            s.relay.hold_timeout = v.secs();
            Ok(())
        },
        show: |s| secs(s.relay.hold_timeout),
    },
    Spec {
        name: "learn_from_signaling_ip",
        option: None,
        scope: Scope::Module,
        kind: Kind::Flag,
        ty: "int",
        default: Some("0"),
        doc: "1: the same as `latch_policy \"signalling\"`",
        set: |s, v| {
            s.learn_from_signaling_ip = v.flag();
            Ok(())
        },
        show: |s| u8::from(s.learn_from_signaling_ip).to_string(),
    },
    Spec {
        name: "latch_policy",
        option: Some("--latch-policy"),
        scope: Scope::Relay,
        kind: Kind::Text {
            accepted: "heuristic or signalling",
        },
        ty: "str",
        default: Some("heuristic"),
        doc: "how a side learns its party's media address (see Security in `doc/mediaproxy.md`): `heuristic` = at once from the signalling or SDP IP; from another IP (symmetric NAT) only after 3 continuous RTP packets within 5 s of signalling, and only where signalling and SDP IPs differ; re-latch only on an RTP packet continuing the stream's SSRC and sequence, never on RTCP; RTCP follows the RTP address. `signalling` = only the signalling or SDP IP",
        set: |s, v| {
            s.relay.latch_mode = LatchMode::parse(v.text()).ok_or(None)?;
            Ok(())
        },
        show: |s| s.relay.latch_mode.as_str().into(),
    },
    Spec {
        name: "relay_max_streams",
        option: Some("--max-streams"),
        scope: Scope::Relay,
        kind: Kind::Int {
            min: 1,
            max: 1024,
            note: "",
        },
        ty: "int",
        default: Some("16"),
        doc: "streams per session and per request; more is refused before any port is taken",
        set: |s, v| {
            s.relay.max_streams = int(v);
            Ok(())
        },
        show: |s| s.relay.max_streams.to_string(),
    },
    Spec {
        name: "relay_max_sessions",
        option: Some("--max-sessions"),
        scope: Scope::Relay,
        kind: Kind::Int {
            min: 0,
            max: 1_000_000,
            note: " (0: no limit)",
        },
        ty: "int",
        default: Some("10000"),
        doc: "sessions the relay holds at once (0 = no limit but the ports)",
        set: |s, v| {
            s.relay.max_sessions = int(v);
            Ok(())
        },
        show: |s| s.relay.max_sessions.to_string(),
    },
    Spec {
        name: "relay_max_packet_rate",
        option: Some("--max-packet-rate"),
        scope: Scope::Relay,
        kind: Kind::Int {
            min: 0,
            max: 10_000_000,
            note: " (packets per second and stream; 0: no ceiling)",
        },
        ty: "int",
        default: Some("10000"),
        doc: "packets per second per stream (RTP + RTCP, both ways); the excess is dropped (ends a forwarding loop); 0 = no ceiling",
        set: |s, v| {
            s.relay.max_packet_rate = int(v);
            Ok(())
        },
        show: |s| s.relay.max_packet_rate.to_string(),
    },
    Spec {
        name: "relay_kernel",
        option: Some("--kernel"),
        scope: Scope::Relay,
        kind: Kind::Text {
            accepted: "off, auto or ebpf",
        },
        ty: "str",
        default: Some("off"),
        doc: "kernel fast path for latched streams (eBPF at the TC ingress of Ethernet and loopback interfaces, Linux 6.6+, `CAP_BPF` + `CAP_NET_ADMIN`): `off`, `auto` (used where the kernel permits it, else one warning line and user space), `ebpf` (refused is a start-up error). Once both sides of a stream are latched and both parties' first RTP went through the worker, the kernel forwards the latched sources' RTP/RTCP (IPv4) itself; strangers, new sources, STUN and everything else still reach the worker, which judges them as without it. Statistics, MI, events and the timeouts count the kernel's packets. Not applied to kernel-forwarded packets: `relay_max_packet_rate` and the host's netfilter hooks (taken before input, sent without output/postrouting; the first packets of each direction pass them as usual). Needs a build with clang's BPF target (`scripts/deps.sh`)",
        set: |s, v| {
            s.relay.kernel = RelayKernel::parse(v.text()).ok_or(None)?;
            Ok(())
        },
        show: |s| s.relay.kernel.as_str().into(),
    },
    Spec {
        name: "recording_dir",
        option: Some("--recording-dir"),
        scope: Scope::Relay,
        kind: Kind::Text {
            accepted: "a directory path (empty: recording off)",
        },
        ty: "str",
        default: None,
        doc: "directory of call recordings (one pcap file per recorded call, see `start_recording()`); unset = recording off. Checked at the first recording, not at start-up: an unwritable directory or a full disk logs one line and stops that recording, never the call",
        set: |s, v| {
            let t = v.text();
            s.relay.recording_dir = (!t.is_empty()).then(|| PathBuf::from(t));
            Ok(())
        },
        show: |s| {
            s.relay
                .recording_dir
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        },
    },
    Spec {
        name: "record_all",
        option: Some("--record-all"),
        scope: Scope::Relay,
        kind: Kind::Flag,
        ty: "int",
        default: Some("0"),
        doc: "1 = every relayed call is recorded from its first answer (needs `recording_dir`; our relay only, not `relay_mode=external`)",
        set: |s, v| {
            s.relay.record_all = v.flag();
            Ok(())
        },
        show: |s| u8::from(s.relay.record_all).to_string(),
    },
    Spec {
        name: "ring_buffers",
        option: Some("--ring-buffers"),
        scope: Scope::RelayOnly,
        kind: Kind::Int {
            min: 2,
            max: 32_768,
            note: " (a power of two)",
        },
        ty: "int",
        default: Some("4096"),
        doc: "io_uring workers: receive buffers per worker (2 KiB each); a packet holds its buffer until its send completes",
        set: |s, v| {
            let n: u16 = int(v);
            if !n.is_power_of_two() {
                return Err(None);
            }
            s.relay.ring_buffers = n;
            Ok(())
        },
        show: |s| s.relay.ring_buffers.to_string(),
    },
    Spec {
        name: "port_quarantine",
        option: Some("--quarantine"),
        scope: Scope::RelayOnly,
        kind: Kind::Int {
            min: 0,
            max: 3600,
            note: " (seconds)",
        },
        ty: "int (s)",
        default: Some("10"),
        doc: "how long a released port pair rests before reuse",
        set: |s, v| {
            s.relay.port_quarantine = v.secs();
            Ok(())
        },
        show: |s| secs(s.relay.port_quarantine),
    },
    Spec {
        name: "learn_window",
        option: Some("--learn-window-ms"),
        scope: Scope::RelayOnly,
        kind: Kind::Int {
            min: 0,
            max: 600_000,
            note: " (milliseconds)",
        },
        ty: "int (ms)",
        default: Some("5000"),
        doc: "`heuristic` latching: how long after signalling a source matching neither the signalling nor the SDP IP may latch by RTP continuity",
        set: |s, v| {
            s.relay.learn_window = Duration::from_millis(int(v));
            Ok(())
        },
        show: |s| s.relay.learn_window.as_millis().to_string(),
    },
];
