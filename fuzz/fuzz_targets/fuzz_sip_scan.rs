//! SIP scanning must never panic; every span it hands out must lie in the input at the offset
//! it claims; an SDP it finds goes on to the SDP parser.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediaproxy::sdp::Sdp;
use mediaproxy::sip::SipMsg;

fn inside(buf: &[u8], off: usize, s: &[u8]) {
    assert_eq!(buf.get(off..off + s.len()), Some(s));
}

fuzz_target!(|data: &[u8]| {
    let Ok(m) = SipMsg::scan(data) else { return };
    let _ = (m.kind(), m.call_id(), m.from_uri(), m.from_tag(), m.to_uri(), m.to_tag());
    let _ = (m.cseq(), m.user_agent(), m.content_type(), m.content_length(), m.warnings());
    if let Some(v) = m.top_via() {
        inside(data, v.host.offset, v.host.bytes);
        let _ = (v.param("branch"), v.host_addr());
    }
    if let Some(c) = m.first_contact() {
        inside(data, c.uri.offset, c.uri.bytes);
        if let Some(h) = c.host {
            inside(data, h.offset, h.bytes);
        }
        if let Some(p) = c.port {
            inside(data, p.offset, p.bytes);
        }
        let _ = (c.param("expires"), c.host_addr());
    }
    if let Some((off, b)) = m.body() {
        inside(data, off, b);
    }
    if let Some((off, s)) = m.sdp_body() {
        inside(data, off, s);
        let _ = Sdp::parse(s);
    }
});
