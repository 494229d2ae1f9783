//! The control socket's request reader (the relay server's line reader and request parser) must
//! never panic, never buffer more than a line's worth of bytes, and whatever `update` it
//! accepts must encode back to text it reads as the same request.
//! Input: the first byte picks the chunk size the bytes arrive in (as reads from a socket).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaproxy::control::codec::{encode_update, Request, RequestReader, MAX_LINE};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, bytes)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut r = RequestReader::new();
    let mut updates = Vec::new();
    for piece in bytes.chunks(chunk) {
        r.push(piece);
        while let Some(req) = r.next_request() {
            if let Ok(Request::Update(u)) = req {
                updates.push(u);
            }
        }
        assert!(r.pending() <= MAX_LINE + chunk, "unbounded buffering");
    }
    for u in updates {
        let Ok(text) = encode_update(&u) else {
            continue; // a value the protocol cannot carry (a line break): refused, not sent
        };
        let mut again = RequestReader::new();
        again.push(text.as_bytes());
        match again.next_request() {
            Some(Ok(Request::Update(v))) => assert_eq!(u, v, "{text:?}"),
            other => panic!("{text:?} read back as {other:?}"),
        }
    }
});
