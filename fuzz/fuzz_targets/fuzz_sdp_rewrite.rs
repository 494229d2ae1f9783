//! Rewriting: the first 8 bytes choose the relay (family, address, ICE option, ports), the rest
//! is the SDP. Properties: no panic; edits sorted and disjoint; no relay port → no edit;
//! the rewritten SDP parses again with the same streams, pointing at the relay.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaproxy::media::RelayAnswer;
use mediaproxy::sdp::{apply, IcePriority, RewriteOptions, Sdp};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fuzz_target!(|data: &[u8]| {
    let Some((ctl, body)) = data.split_first_chunk::<8>() else { return };
    let Ok(p) = Sdp::parse(body) else { return };
    let n = p.sdp.relay_streams().len();
    let ip = if ctl[0] & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, ctl[1]))
    } else {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(ctl[1])))
    };
    let ice = match ctl[0] >> 1 & 3 {
        0 => IcePriority::None,
        1 => IcePriority::Low,
        _ => IcePriority::High,
    };
    let base = u16::from_be_bytes([ctl[2], ctl[3]]);
    let zero_mask = u32::from_be_bytes([ctl[4], ctl[5], ctl[6], ctl[7]]);
    let ports: Vec<u16> = (0..n)
        .map(|j| {
            if zero_mask >> (j % 32) & 1 == 1 {
                0
            } else {
                base.wrapping_add(2 * j as u16)
            }
        })
        .collect();
    let opts = RewriteOptions { ice_candidate: ice };

    // No ports at all: nothing to do.
    let none = RelayAnswer { ip, ports: vec![0; n] };
    assert_eq!(p.sdp.plan(&none, &opts).ok(), Some(vec![]));
    assert_eq!(apply(body, &[]), body);

    let answer = RelayAnswer { ip, ports: ports.clone() };
    let Ok(edits) = p.sdp.plan(&answer, &opts) else {
        // Only a relay port of 65535 (no RTCP port) may fail.
        assert!(ports.contains(&65535));
        return;
    };
    for w in edits.windows(2) {
        assert!(w[0].offset + w[0].delete <= w[1].offset);
    }
    let out = apply(body, &edits);
    let again = Sdp::parse(&out).expect("rewritten SDP parses");
    let old = p.sdp.relay_streams();
    let new = again.sdp.relay_streams();
    assert_eq!(old.len(), new.len());
    for ((o, nw), &rp) in old.iter().zip(&new).zip(&ports) {
        assert_eq!(o.media_type, nw.media_type);
        if rp == 0 || o.port == 0 {
            assert_eq!(o.port, nw.port);
        } else {
            assert_eq!(nw.port, rp);
        }
    }
});
