//! SDP parsing must never panic; what it reports must be consistent with the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaproxy::sdp::Sdp;

fuzz_target!(|data: &[u8]| {
    match Sdp::parse(data) {
        Err(e) => {
            assert!(e.offset <= data.len());
            assert!(data[e.offset..].starts_with(e.excerpt.as_bytes()));
        }
        Ok(p) => {
            let streams = p.sdp.relay_streams();
            assert_eq!(streams.len(), p.sdp.supported().count());
            let _ = p.sdp.has_remote_candidates();
            for w in &p.warnings {
                assert!(w.offset <= data.len());
            }
        }
    }
});
