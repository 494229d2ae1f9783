//! Pure scanning of a SIP message as bytes (RFC 3261 §7, §20, §25).
//!
//! ```
//! use mediaproxy::sip::{Kind, Method, SipMsg};
//! let msg = b"INVITE sip:bob@example.com SIP/2.0\r\n\
//!             v: SIP/2.0/UDP [2001:db8::9]:5062;rport;branch=z9hG4bK1\r\n\
//!             f: <sip:alice@example.com>;tag=a1\r\n\
//!             t: sip:bob@example.com\r\n\
//!             i: abc@host\r\n\
//!             CSeq: 7 INVITE\r\n\
//!             m: <sip:alice@192.168.1.5:5062>\r\n\
//!             c: application/sdp\r\n\
//!             l: 5\r\n\r\nv=0\r\n";
//! let m = SipMsg::scan(msg).unwrap();
//! assert!(matches!(m.kind(), Kind::Request { method: Method::Invite, .. }));
//! assert_eq!(m.call_id(), Some(&b"abc@host"[..]));
//! assert_eq!(m.from_tag(), Some(&b"a1"[..]));
//! let via = m.top_via().unwrap();
//! assert_eq!((via.host.bytes, via.port, via.rport), (&b"[2001:db8::9]"[..], Some(5062), Some(None)));
//! let c = m.first_contact().unwrap();
//! let host = c.host.unwrap();
//! assert_eq!(&msg[host.offset..host.offset + host.bytes.len()], b"192.168.1.5");
//! assert_eq!(m.sdp_body().map(|(_, b)| b), Some(&b"v=0\r\n"[..]));
//! ```
//!
//! # API
//! [`SipMsg::scan`] takes the whole message and returns a [`SipMsg`] of borrowed spans, or an
//! [`Error`] with the byte offset and an [`Excerpt`]. Accessors: [`SipMsg::kind`],
//! [`SipMsg::call_id`], [`SipMsg::from_uri`]/[`SipMsg::from_tag`], [`SipMsg::to_uri`]/
//! [`SipMsg::to_tag`], [`SipMsg::cseq`], [`SipMsg::top_via`] ([`Via`]),
//! [`SipMsg::first_contact`] ([`Contact`], with byte offsets of URI, host and port for
//! `fix_contact`), [`SipMsg::user_agent`] (User-Agent, else Server), [`SipMsg::content_type`],
//! [`SipMsg::content_length`], [`SipMsg::body`], [`SipMsg::sdp_body`] and
//! [`SipMsg::warnings`].
//!
//! # Invariants and guarantees
//! - **No heap allocation** on the scan path, success or error: spans point into the input,
//!   errors carry a fixed-size excerpt, warnings are a bit set (tested with a counting
//!   allocator in `tests/sip_alloc.rs`).
//! - **No panic** on any input (fuzzed by `fuzz/fuzz_targets/fuzz_sip_scan.rs`); no indexing
//!   that can fail, no `unwrap`.
//! - Line ends are CRLF or LF (mixed per line); a CR that is not followed by LF inside the
//!   start line or header section is an error (it would make the header boundaries
//!   ambiguous). Header names are case-insensitive and compact forms are understood
//!   (RFC 3261 §7.3.3: `i f t v m c l`). Folded values keep their fold bytes in the spans;
//!   parsers treat them as LWS.
//! - Only the header fields listed above are validated, each once: the first occurrence (for
//!   Via and Contact: the first element of the first header field). A malformed one makes
//!   the scan fail; others need only be `name: value` lines.
//! - IPv6 references (RFC 5118) keep their brackets in host spans; `ipv6` says so and
//!   `host_addr()` strips them.
//! - The body is Content-Length octets after the empty line (fewer than the buffer holds
//!   leaves trailing bytes, a warning); without Content-Length, or when Content-Length claims
//!   more than the buffer holds (a warning), it is the rest of the buffer, as OpenSIPS'
//!   `get_body()` does (the host hands over one datagram / one framed message).

mod error;
mod fields;
mod lex;
mod msg;
mod multipart;
mod start_line;

pub use error::{Error, ErrorKind, Excerpt, FailureKind, Located, Warnings};
pub use fields::{Contact, ContentType, Spanned, Via};
pub use lex::{uri_target, Params, UriTarget};
pub use msg::SipMsg;
pub use start_line::{Kind, Method};
