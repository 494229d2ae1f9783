//! The addresses a control request carries (the `media` header's stream addresses, the
//! `signaling_ip`) read as IP and socket addresses without panicking, and consistently: a
//! socket address is the stream's IP and port, never the wildcard or port 0, and prints as
//! text that parses back to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaproxy::control::codec::decode_media;
use mediaproxy::media::{parse_ip, signaling_ip};
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(ip) = signaling_ip(text) {
        assert!(!ip.is_unspecified());
        assert_eq!(parse_ip(&ip.to_string()), Some(ip));
    }
    let Ok((streams, _)) = decode_media(text) else {
        return;
    };
    for d in streams {
        let ip = d.ip();
        match d.socket_addr() {
            Some(a) => {
                assert_eq!(Some(a.ip()), ip);
                assert_eq!(a.port(), d.port);
                assert!(d.port != 0 && !a.ip().is_unspecified());
                assert_eq!(a.to_string().parse::<SocketAddr>().ok(), Some(a));
            }
            None => assert!(ip.is_none_or(|ip| ip.is_unspecified()) || d.port == 0),
        }
    }
});
