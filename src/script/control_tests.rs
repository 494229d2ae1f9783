//! Unit tests of the script layer's pure pieces.

use super::*;
use crate::config::RawParams;

#[test]
fn an_expired_session_is_reported_once_with_an_embedded_relay() {
    let embedded = Config::from_raw(&RawParams::default()).expect("defaults");
    let external =
        Config::from_raw(&RawParams::default().set("relay_mode", "external")).expect("external");
    let timed_out = r#"{"call_id":"c","timed_out":true,"streams":[]}"#;
    let closed = r#"{"call_id":"c","timed_out":false,"streams":[]}"#;
    let ice = r#"{"call_id":"c","timed_out":false,"all_streams_ice":true,"streams":[]}"#;
    // the embedded relay's Expired event reported it already
    assert!(reported_at_expiry(&embedded, timed_out));
    assert!(reported_at_expiry(&embedded, ice));
    assert!(!reported_at_expiry(&embedded, closed));
    assert!(!reported_at_expiry(&embedded, "not json"));
    // an external relay's timeouts reach the module only through remove
    assert!(!reported_at_expiry(&external, timed_out));
}
