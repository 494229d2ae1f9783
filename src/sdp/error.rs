//! Errors (the SDP cannot be parsed or rewritten) and warnings (oddities that do not stop a
//! rewrite, returned beside the result).

pub use crate::sip::Excerpt;
use crate::sip::{FailureKind, Located};

/// Why an SDP could not be parsed, or a rewrite could not be planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The first non-blank line is not `v=` (RFC 8866 §5.1).
    NoVersion,
    /// A second `v=` line: two SDPs glued together.
    DuplicateVersion,
    /// A line that is not `<letter>=<value>` (RFC 8866 §5).
    BadLine,
    /// An `m=` line without media, port and proto, or with a bad port (RFC 8866 §5.14).
    BadMedia,
    /// A `c=` line that is not `IN IP4|IP6 <address>[/ttl][/count]` (RFC 8866 §5.7), where it
    /// matters (session level, or a stream we relay).
    BadConnection,
    /// An `a=rtcp` attribute that is not `port [IN IP4|IP6 address]` (RFC 3605 §2.1) in a stream
    /// we relay.
    BadRtcp,
    /// A stream we relay, with a non-zero port, has no `c=` at media or session level
    /// (RFC 8866 §5.7 requires one).
    MissingConnection,
    /// The relay answered more ports than the SDP has supported streams.
    TooManyPorts,
    /// Relay port 65535 leaves no port for RTCP (`a=rtcp` needs port + 1).
    RelayPort,
    /// The planned edits overlap (a bug: never expected).
    Internal,
}

impl FailureKind for ErrorKind {
    const WHAT: &'static str = "SDP";

    fn describe(self) -> &'static str {
        match self {
            ErrorKind::NoVersion => "SDP does not start with v=",
            ErrorKind::DuplicateVersion => "second v= line",
            ErrorKind::BadLine => "line is not <type>=<value>",
            ErrorKind::BadMedia => "malformed m= line",
            ErrorKind::BadConnection => "malformed c= line",
            ErrorKind::BadRtcp => "malformed a=rtcp",
            ErrorKind::MissingConnection => "stream without c= line",
            ErrorKind::TooManyPorts => "relay answer has more ports than streams",
            ErrorKind::RelayPort => "relay port 65535 leaves no RTCP port",
            ErrorKind::Internal => "overlapping edits",
        }
    }
}

/// An SDP error: what, the byte offset in the SDP body, and the bytes found there.
/// A parse or rewrite failure: what, where (byte offset in the body) and the bytes there.
pub type Error = Located<ErrorKind>;

/// An oddity that does not stop parsing or rewriting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningKind {
    /// An empty or white-space-only line (passed through untouched).
    BlankLine,
    /// `v=` is not `0`.
    VersionNotZero,
    /// A line type letter that RFC 8866 does not define (passed through untouched).
    UnknownLineType,
    /// An `m=` line without any format.
    NoFormats,
    /// `m=` port/count with a count other than 1 in a supported stream: a rewrite writes one port.
    PortCount,
    /// A `c=` address with a TTL and/or address count (multicast, RFC 8866 §5.7).
    MulticastConnection,
    /// A `c=` or `a=rtcp` address that is a host name, not an IP literal.
    FqdnAddress,
    /// More than one `c=` line in one block.
    ExtraConnection,
    /// More than one `a=rtcp` in one media block.
    ExtraRtcp,
    /// `a=rtcp` at session level (RFC 3605 defines it per media): ignored.
    SessionRtcp,
    /// A malformed `c=` or `a=rtcp` in a stream we never touch: ignored.
    IgnoredMalformed,
    /// An `a=candidate` without a numeric component id (RFC 8839 §5.1).
    BadCandidate,
    /// A supported stream with port 0 and no `c=` anywhere: reported as `0.0.0.0`.
    NoConnectionPort0,
}

/// A warning and the byte offset (in the SDP body) of the line it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Warning {
    pub kind: WarningKind,
    pub offset: usize,
}
