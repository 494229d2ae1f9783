//! Every prefix of every test message — the repository's own (`tests/messages/`) and the
//! external corpus's when it is there (as the fuzzers do, but deterministic and in CI):
//! scanning and parsing never panic, errors point inside the input, and every parseable SDP
//! prefix rewrites into an SDP that parses again with the relay's ports.

use mediaproxy::media::RelayAnswer;
use mediaproxy::sdp::{apply, IcePriority, RewriteOptions, Sdp};
use mediaproxy::sip::SipMsg;

mod shared_corpus;

/// Every message of `sub`: the own ones, and the external corpus's when it is there.
fn files(sub: &str, test: &str) -> Vec<Vec<u8>> {
    shared_corpus::all(sub, test)
        .into_iter()
        .map(|(_, b)| b)
        .collect()
}

#[test]
fn every_prefix_of_every_sip_message_scans_or_fails_cleanly() {
    let all = files(
        "sip",
        "every_prefix_of_every_sip_message_scans_or_fails_cleanly",
    );
    let mut ok = 0;
    for buf in all {
        for n in 0..=buf.len() {
            let b = &buf[..n];
            match SipMsg::scan(b) {
                Ok(m) => {
                    ok += 1;
                    if let Some((off, s)) = m.sdp_body() {
                        assert_eq!(&b[off..off + s.len()], s);
                        let _ = Sdp::parse(s);
                    }
                }
                Err(e) => assert!(e.offset <= n),
            }
        }
    }
    // the own messages alone give more than 4000 prefixes that scan
    assert!(ok > 4_000, "{ok}");
}

#[test]
fn every_parseable_sdp_prefix_rewrites_into_a_parseable_sdp() {
    let all = files(
        "sdp",
        "every_parseable_sdp_prefix_rewrites_into_a_parseable_sdp",
    );
    let mut rewritten = 0;
    for buf in all {
        for n in 0..=buf.len() {
            let b = &buf[..n];
            let p = match Sdp::parse(b) {
                Ok(p) => p,
                Err(e) => {
                    assert!(e.offset <= n);
                    continue;
                }
            };
            let streams = p.sdp.relay_streams();
            for ip in ["198.51.100.9", "2001:db8::9"] {
                let ports: Vec<u16> = (0..streams.len()).map(|j| 30000 + 2 * j as u16).collect();
                let answer = RelayAnswer {
                    ip: ip.parse().unwrap(),
                    ports: ports.clone(),
                };
                let opts = RewriteOptions {
                    ice_candidate: IcePriority::High,
                };
                let edits = p.sdp.plan(&answer, &opts).unwrap();
                let out = apply(b, &edits);
                let again = Sdp::parse(&out).unwrap_or_else(|e| {
                    panic!("{e}\n{}\n=>\n{}", b.escape_ascii(), out.escape_ascii())
                });
                let new = again.sdp.relay_streams();
                assert_eq!(new.len(), streams.len());
                for ((o, nw), p) in streams.iter().zip(&new).zip(&ports) {
                    assert_eq!(nw.port, if o.port == 0 { 0 } else { *p });
                }
                rewritten += 1;
            }
        }
    }
    // the own bodies alone give more than 8000 rewrites
    assert!(rewritten > 8_000, "{rewritten}");
}
