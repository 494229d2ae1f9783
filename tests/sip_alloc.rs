//! Proof of the zero-allocation claim: scanning every SIP message of the corpus (and reading
//! every accessor, the multipart search included) performs no heap allocation, counted per
//! thread by the `allocation-counter` dev-dependency's global allocator.

mod shared_corpus;

use mediaproxy::sip::SipMsg;

/// Scans and touches everything; returns a value so nothing is optimised away.
fn scan_all(buf: &[u8]) -> usize {
    match SipMsg::scan(buf) {
        Err(e) => e.offset + e.excerpt.as_bytes().len(),
        Ok(m) => {
            let mut n = m.call_id().map_or(0, <[u8]>::len);
            n += m.from_tag().map_or(0, <[u8]>::len) + m.to_tag().map_or(0, <[u8]>::len);
            n += m.from_uri().map_or(0, <[u8]>::len) + m.to_uri().map_or(0, <[u8]>::len);
            n += m.cseq().map_or(0, |(c, _)| c as usize);
            n += m.top_via().map_or(0, |v| {
                v.host.offset + v.param("branch").flatten().map_or(0, <[u8]>::len)
            });
            n += m
                .first_contact()
                .map_or(0, |c| c.uri.offset + c.param("expires").map_or(0, |_| 1));
            n += m.user_agent().map_or(0, <[u8]>::len);
            n += m.content_type().map_or(0, |c| c.raw.len());
            n += m.content_length().unwrap_or(0);
            n += m.body().map_or(0, |(o, _)| o) + m.sdp_body().map_or(0, |(o, _)| o);
            n
        }
    }
}

#[test]
fn scanning_the_corpus_allocates_nothing() {
    // the own messages, and the external corpus's when it is there
    let files = shared_corpus::all("sip", "scanning_the_corpus_allocates_nothing");
    let msgs: Vec<Vec<u8>> = files.into_iter().map(|(_, b)| b).collect();
    assert!(msgs.len() >= 40);
    // The counter itself works.
    let probe = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert_eq!(probe.count_total, 1);

    let mut total = 0usize;
    let info = allocation_counter::measure(|| {
        for m in &msgs {
            total = total.wrapping_add(scan_all(std::hint::black_box(m)));
        }
    });
    assert_eq!(info.count_total, 0, "scanning allocated: {info:?}");
    assert!(total > 0);
}
