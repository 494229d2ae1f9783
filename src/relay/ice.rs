//! ICE (RFC 8445) as the relay sees it: a candidate among others, not a party to the checks.
//!
//! What MediaProxy does, and this relay with it (`mediaproxy/mediacontrol.py`, `dispatcher.py`):
//! * STUN is relayed like media but is not traffic: it never refreshes a stream's timer (only
//!   RTP/RTCP does), so a stream that only ever carried connectivity checks runs out its setup
//!   timeout counted from the last signalling, whether the checks stopped early or not;
//! * a stream whose two parties both offered ICE (`ice=yes`: ufrag, pwd and a candidate) that
//!   runs out any of its timers did not fail: the agents picked another candidate pair (or moved
//!   off the relay later), so it ends as [`UNSELECTED`] instead of `no-traffic timeout` /
//!   `on hold timeout`;
//! * a session whose streams all ended so was "removed because ICE was used": its statistics say
//!   `timed_out` false and `all_streams_ice` true, and its dialog is *not* ended (the call goes
//!   on directly between the phones). Any other mix is a timeout as before.
//!
//! STUN towards a side whose address is not known yet (no SDP address, not latched) is parked
//! rather than dropped (the worker's `StunPark`, in [`super::worker`]), and sent as soon as that
//! side's address is known: when the next packet in that direction is judged, when signalling
//! configures the side, or when the side latches. MediaProxy keeps such STUN in an unbounded list per socket and sends it
//! ahead of the next packet towards a known address; here the parking lot is bounded (a fixed
//! number of slots per worker, allocated once, a few per direction of a flow) and a parked
//! packet older than ten seconds (`PARK_MAX_AGE_MS`) is dropped: by then the agent has retransmitted it.

use super::counters::Counters;
use crate::media::StreamDesc;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;

/// The stream status of an ICE stream the agents did not (or no longer) send media through.
pub const UNSELECTED: &str = "unselected ICE candidate";

/// The status a stream ends with when its timer runs out: [`UNSELECTED`] when both parties
/// use ICE, else `on hold timeout` or `no-traffic timeout`.
pub fn expiry_status(media: &[Option<StreamDesc>; 2], on_hold: bool) -> &'static str {
    if media.iter().all(|m| m.as_ref().is_some_and(|d| d.ice)) {
        UNSELECTED
    } else if on_hold {
        "on hold timeout"
    } else {
        "no-traffic timeout"
    }
}

/// Whether an expired session's listed streams all ended unselected (MediaProxy's dispatcher:
/// `all_streams_ice`). A session that lists no stream is not an ICE one.
pub fn all_unselected<'a>(statuses: impl IntoIterator<Item = &'a str>) -> bool {
    let mut any = false;
    for s in statuses {
        if s != UNSELECTED {
            return false;
        }
        any = true;
    }
    any
}

/// Whether `sdp` is one of the stream's own relay ports (`bases`: the even port of each
/// side's pair) at one of the relay's addresses (a wildcard matches any). When the relay
/// candidate won, an agent learns the relay port its checks arrive from as a peer-reflexive
/// candidate and, as the default candidate, puts it into its next offer's `c=`/`m=` lines:
/// sending there, the relay would send to itself and loop. Such an address is ignored (the side
/// stays with its latched source). Another stream's ports are a real peer (a call that passes
/// the relay twice).
pub fn is_own_port(sdp: SocketAddr, relay_ips: [Option<IpAddr>; 2], bases: [u16; 2]) -> bool {
    let ip = relay_ips
        .iter()
        .flatten()
        .any(|r| r.is_unspecified() || *r == sdp.ip());
    ip && bases
        .iter()
        .any(|&b| sdp.port() == b || sdp.port() == b.wrapping_add(1))
}

/// The counter an expired session adds to: `sessions_ice_unselected` or `sessions_timed_out`.
pub fn expiry_counter(c: &Counters, all_streams_ice: bool) -> &AtomicU64 {
    if all_streams_ice {
        &c.sessions_ice_unselected
    } else {
        &c.sessions_timed_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Direction;

    fn desc(ice: bool) -> Option<StreamDesc> {
        Some(StreamDesc {
            media_type: "audio".into(),
            addr: "192.0.2.1".into(),
            port: 4000,
            direction: Direction::SendRecv,
            ice,
        })
    }

    #[test]
    fn status_needs_ice_on_both_sides() {
        assert_eq!(expiry_status(&[desc(true), desc(true)], false), UNSELECTED);
        assert_eq!(expiry_status(&[desc(true), desc(true)], true), UNSELECTED);
        assert_eq!(
            expiry_status(&[desc(true), desc(false)], false),
            "no-traffic timeout"
        );
        assert_eq!(
            expiry_status(&[desc(true), None], false),
            "no-traffic timeout"
        );
        assert_eq!(
            expiry_status(&[desc(false), desc(true)], true),
            "on hold timeout"
        );
    }

    #[test]
    fn own_ports_are_recognised() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let ips = [Some("203.0.113.1".parse().unwrap()), None];
        for own in [
            "203.0.113.1:40000",
            "203.0.113.1:40001",
            "203.0.113.1:40006",
        ] {
            assert!(is_own_port(a(own), ips, [40000, 40006]), "{own}");
        }
        for other in [
            "203.0.113.1:40002",
            "203.0.113.2:40000",
            "198.51.100.1:40007",
        ] {
            assert!(!is_own_port(a(other), ips, [40000, 40006]), "{other}");
        }
        let wild = [Some("0.0.0.0".parse().unwrap()), None];
        assert!(is_own_port(a("198.51.100.1:40007"), wild, [40000, 40006]));
    }

    #[test]
    fn all_streams_must_be_unselected() {
        assert!(all_unselected([UNSELECTED, UNSELECTED]));
        assert!(!all_unselected([UNSELECTED, "closed"]));
        assert!(!all_unselected(["no-traffic timeout"]));
        assert!(!all_unselected([]));
    }
}
