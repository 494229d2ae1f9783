//! Pure SDP parsing into borrowed spans and a rewrite plan applied as byte edits.
//!
//! ```
//! use mediaproxy::media::RelayAnswer;
//! use mediaproxy::sdp::{apply, RewriteOptions, Sdp};
//! let body = b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
//!              m=audio 49170 RTP/AVP 0\r\na=rtcp:49171\r\nm=message 9 TCP/MSRP *\r\n";
//! let parsed = Sdp::parse(body).unwrap();
//! let sdp = parsed.sdp;
//! let streams = sdp.relay_streams();
//! assert_eq!((streams.len(), streams[0].addr.as_str(), streams[0].port), (1, "10.0.0.5", 49170));
//! let answer = RelayAnswer { ip: "203.0.113.77".parse().unwrap(), ports: vec![40000] };
//! let edits = sdp.plan(&answer, &RewriteOptions::default()).unwrap();
//! assert_eq!(
//!     apply(body, &edits),
//!     b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\n\
//!       m=audio 40000 RTP/AVP 0\r\nc=IN IP4 203.0.113.77\r\na=rtcp:40001\r\n\
//!       m=message 9 TCP/MSRP *\r\nc=IN IP4 10.0.0.5\r\n".to_vec()
//! );
//! ```
//!
//! # API
//! - [`Sdp::parse`] → [`Parsed`] (the [`Sdp`] and its [`Warning`]s) or an [`Error`] with the
//!   byte offset and an excerpt.
//! - [`Sdp::relay_streams`] → the `Vec<StreamDesc>` the control protocol carries (supported
//!   streams in SDP order); [`Sdp::has_remote_candidates`] (callers skip such SDPs).
//! - [`Sdp::plan`]`(&RelayAnswer, &RewriteOptions)` → `Vec<`[`Edit`]`>` (offset relative to the
//!   start of the SDP body, bytes to delete, bytes to insert), sorted and non-overlapping, for
//!   the host to turn into lumps; [`apply`] performs them on a copy.
//!
//! # Parsing (RFC 8866 §5)
//! Lines end in CRLF or LF, each line keeps its own; the last may lack one. The `v=` line must
//! come first (blank lines before it are warnings) and only once. Session level is everything
//! before the first `m=`; each media block runs to the next `m=`. Recorded: `c=` (`IN IP4|IP6`,
//! address, multicast `/ttl/count` suffix; host names accepted with a warning), `m=` (media,
//! port, `/count`, proto), `a=rtcp` (RFC 3605), `a=rtcp-mux` (RFC 5761), direction
//! (RFC 3264), `a=candidate` with component ids, `a=ice-ufrag`, `a=ice-pwd`,
//! `a=remote-candidates` (RFC 8839). Supported transports (relayed): `RTP/AVP`, `RTP/AVPF`,
//! `RTP/SAVP`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, `udptl`, `udp`
//! (case-insensitive); anything else is never touched. Elements that a rewrite would change
//! are validated strictly (a bad `c=` at session level or in a supported stream, a bad
//! `a=rtcp` in a supported stream, a bad `m=` are errors); the same in a stream we never touch
//! is a warning.
//!
//! # Rewrite rules
//! A stream is *relayed* when it is supported and its relay port is not 0.
//! - `m=` port → relay port, unless it is 0 (0 stays 0). A `/count` other than `/1` is
//!   dropped (the relay serves one port pair).
//! - Stream `c=` → relay address unless it is `0.0.0.0`/`::` (hold stays as it is). The
//!   addrtype token follows the relay family (`IN IP6` for an IPv6 relay: IPv4/IPv6
//!   crossing); a multicast `/ttl/count` suffix is dropped.
//! - Session `c=` (unless hold): streams without their own `c=` depend on it. All of them
//!   relayed → relay address. None relayed → untouched. Some → *split*: the session `c=`
//!   line is deleted and a `c=` line is inserted after the `m=` line of each dependent
//!   stream: the relay's for relayed ones, a verbatim copy of the original value for the
//!   others. With no dependent stream it is replaced only when every stream is relayed.
//! - `a=rtcp` port → relay port + 1 (0 stays 0); its address → relay address, always
//!   (also `0.0.0.0`, as the C module does).
//! - ICE ([`IcePriority`] not `None`, stream with ICE per [`Sdp::stream_has_ice`]): before
//!   the stream's first `a=candidate`, insert
//!   `a=candidate:R<hex> 1 UDP <prio> <ip> <port> typ relay raddr <ip> rport <port>`, plus a
//!   component-2 line (priority − 1, port + 1) when the stream had a component-2 candidate.
//!   Foundation: [`ice_foundation`].
//! - Nothing else changes: `o=` keeps its version (like the C module), candidates, crypto,
//!   fingerprints, directions stay. Inserted lines use the line end of the `v=` line.
//!   The only text written into `c=` is the relay's IP literal, or (split) a verbatim copy of
//!   the original session `c=` value for a stream that is not relayed.
//!
//! # Guarantees
//! No panic on any input (fuzzed: `fuzz_sdp_parse`, `fuzz_sdp_rewrite`); an empty plan leaves
//! the body byte for byte; lines no edit touches come out byte for byte.

mod error;
mod fields;
mod model;
mod parse;
mod rewrite;

pub use error::{Error, ErrorKind, Excerpt, Warning, WarningKind};
pub use model::{
    AddrType, Address, Connection, LineSpan, Media, Parsed, Rtcp, Sdp, Session, Span, Transport,
};
pub use rewrite::{apply, ice_foundation, Edit, IcePriority, RewriteOptions};
