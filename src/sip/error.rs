//! Errors and warnings of the SIP scanner. Nothing here allocates: an [`Error`] carries a
//! fixed-size copy of the bytes where the problem was found.

use std::fmt;

/// Up to [`Excerpt::MAX`] bytes copied from the input at an error's offset (stopping at the end
/// of that line), for log messages. Printing escapes anything that is not printable ASCII.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Excerpt {
    bytes: [u8; Excerpt::MAX],
    len: u8,
}

impl Excerpt {
    /// Longest excerpt kept.
    pub const MAX: usize = 32;

    /// Copies up to [`Excerpt::MAX`] bytes of `buf` from `offset`, stopping before a CR or LF.
    /// An offset past the end gives an empty excerpt.
    pub fn new(buf: &[u8], offset: usize) -> Excerpt {
        let mut bytes = [0u8; Excerpt::MAX];
        let mut len = 0usize;
        for (dst, &b) in bytes
            .iter_mut()
            .zip(buf.get(offset..).unwrap_or(&[]).iter())
        {
            if b == b'\r' || b == b'\n' {
                break;
            }
            *dst = b;
            len += 1;
        }
        Excerpt {
            bytes,
            len: len as u8,
        }
    }

    /// The copied bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_bytes().escape_ascii())
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.as_bytes().escape_ascii())
    }
}

/// What was wrong with a SIP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The buffer holds no start line (empty, or only line ends).
    Empty,
    /// Request-Line or Status-Line does not follow RFC 3261 §7.1 / §7.2.
    StartLine,
    /// SIP-Version other than `SIP/2.0`.
    Version,
    /// Status-Code is not three digits in 100..=699.
    Status,
    /// A header line that is not `name: value` (RFC 3261 §7.3.1).
    HeaderLine,
    /// A CR not followed by LF in the start line or the header section.
    BareCr,
    /// The top Via header field value (RFC 3261 §20.42) is malformed.
    Via,
    /// The first Contact header field value (RFC 3261 §20.10) is malformed.
    Contact,
    /// The From header field value (RFC 3261 §20.20) is malformed.
    From,
    /// The To header field value (RFC 3261 §20.39) is malformed.
    To,
    /// The CSeq header field value (RFC 3261 §20.16) is malformed or too large.
    CSeq,
    /// The Call-ID header field value (RFC 3261 §20.8) is empty.
    CallId,
    /// The Content-Length value (RFC 3261 §20.14) is not a decimal number that fits.
    ContentLength,
    /// Several Content-Length header fields with different values.
    ConflictingContentLength,
    /// The Content-Type value (RFC 3261 §20.15) is malformed.
    ContentType,
}

impl FailureKind for ErrorKind {
    const WHAT: &'static str = "SIP";

    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Empty => "no start line",
            ErrorKind::StartLine => "malformed start line",
            ErrorKind::Version => "unsupported SIP version",
            ErrorKind::Status => "malformed status code",
            ErrorKind::HeaderLine => "malformed header line",
            ErrorKind::BareCr => "CR without LF",
            ErrorKind::Via => "malformed Via",
            ErrorKind::Contact => "malformed Contact",
            ErrorKind::From => "malformed From",
            ErrorKind::To => "malformed To",
            ErrorKind::CSeq => "malformed CSeq",
            ErrorKind::CallId => "empty Call-ID",
            ErrorKind::ContentLength => "malformed Content-Length",
            ErrorKind::ConflictingContentLength => "conflicting Content-Length values",
            ErrorKind::ContentType => "malformed Content-Type",
        }
    }
}

/// What kind of failure a [`Located`] error holds: a parser's error kinds.
pub trait FailureKind: Copy + fmt::Debug {
    /// What was parsed, as the message says it (`SIP`, `SDP`).
    const WHAT: &'static str;
    fn describe(self) -> &'static str;
}

/// A parse failure: what, where (byte offset in the parsed buffer) and the bytes found there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Located<K> {
    pub kind: K,
    pub offset: usize,
    pub excerpt: Excerpt,
}

impl<K: FailureKind> Located<K> {
    pub(crate) fn at(kind: K, buf: &[u8], offset: usize) -> Located<K> {
        Located {
            kind,
            offset,
            excerpt: Excerpt::new(buf, offset),
        }
    }
}

impl<K: FailureKind> fmt::Display for Located<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} at byte {}: {:?}",
            K::WHAT,
            self.kind.describe(),
            self.offset,
            self.excerpt
        )
    }
}

impl<K: FailureKind> std::error::Error for Located<K> {}

/// A scan failure.
pub type Error = Located<ErrorKind>;

/// Oddities that did not stop the scan (a set of flags; no allocation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Warnings(u16);

impl Warnings {
    /// Line ends (keep-alives) before the start line were skipped (RFC 3261 §7.5).
    pub const LEADING_LINE_ENDS: Warnings = Warnings(1);
    /// More than one SP between start-line elements, or trailing whitespace (RFC 4475 §3.1.2.9/10).
    pub const START_LINE_WHITESPACE: Warnings = Warnings(1 << 1);
    /// The header section was not closed by an empty line; the message has no body.
    pub const NO_BLANK_LINE: Warnings = Warnings(1 << 2);
    /// Bytes after the Content-Length octets of the body were ignored (RFC 3261 §18.3).
    pub const TRAILING_BYTES: Warnings = Warnings(1 << 3);
    /// Content-Length appeared more than once with the same value.
    pub const DUPLICATE_CONTENT_LENGTH: Warnings = Warnings(1 << 4);
    /// A single-instance header (From, To, Call-ID, CSeq, Content-Type) appeared again; the
    /// first one is used.
    pub const DUPLICATE_HEADER: Warnings = Warnings(1 << 5);
    /// No Content-Type with a non-empty body: taken as `application/sdp` (like the C module).
    pub const NO_CONTENT_TYPE: Warnings = Warnings(1 << 6);
    /// Content-Length is larger than the bytes after the header section (RFC 3261 §18.3
    /// says discard or 400); the body is the rest of the buffer, as OpenSIPS' `get_body()` has it.
    pub const BODY_SHORTER_THAN_CONTENT_LENGTH: Warnings = Warnings(1 << 8);
    /// A multipart/mixed body without a usable boundary or without an `application/sdp` part.
    pub const MULTIPART_NO_SDP: Warnings = Warnings(1 << 7);

    /// No warning at all.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every flag of `other` is set in `self`.
    pub fn contains(self, other: Warnings) -> bool {
        self.0 & other.0 == other.0
    }

    pub(crate) fn insert(&mut self, other: Warnings) {
        self.0 |= other.0;
    }
}
