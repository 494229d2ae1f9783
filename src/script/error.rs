//! Why a script function did not succeed, and the one place ([`report`]) that turns that into
//! its log line and the documented return code (`doc/mediaproxy.md`, "Return codes").

use std::fmt;

use super::{Level, Logger};
use crate::control::client::ClientError;

/// Why a script function returns false. [`ScriptError::code`] is its return code;
/// [`ScriptError::level`] the level of its log line (none for quiet outcomes).
#[derive(Debug)]
pub enum ScriptError {
    /// `disable` is set: every function returns -1, quietly.
    Disabled,
    /// A transaction's stored copy (its reason).
    Frozen(&'static str),
    /// The SDP was rewritten already.
    AlreadyRewritten,
    /// The host could not parse the headers before an edit.
    Headers,
    Malformed(crate::sip::Error),
    NoCallId,
    /// No SDP to relay (-2, quiet).
    NoSdp,
    /// The script changed the SDP with the core's SDP operations.
    ForeignSdp,
    BadSdp {
        call_id: String,
        error: crate::sdp::Error,
    },
    /// The relay did not answer as it should.
    Relay {
        call_id: String,
        error: ClientError,
    },
    /// The relay's answer does not fit the SDP.
    Rewrite {
        call_id: String,
        error: crate::sdp::Error,
    },
    /// The host refused the edits; the message is left as it was.
    Apply {
        call_id: String,
        error: String,
    },
    /// An ICE re-offer naming the selected candidates (or its answer): left untouched (-1,
    /// logged at debug level).
    IceReoffer {
        answer: bool,
    },
    /// `engage_media_proxy()` on anything but an initial INVITE.
    NotInitialInvite,
    /// The host could not engage the dialog (it logged why).
    NoDialog,
    /// `client_nat_test`'s argument.
    BadTests(String),
    /// No packet source to compare with (quiet).
    NoSource,
    /// `fix_contact`: no Contact (logged at debug level).
    NoContact,
    NotSipUri,
    ContactSpans,
    ContactEdit(String),
    /// A function that needs this project's relay, with `relay_mode=external`.
    NotOurRelay,
}

impl ScriptError {
    /// The script's return code.
    pub fn code(&self) -> i32 {
        match self {
            ScriptError::NoSdp => -2,
            _ => -1,
        }
    }

    /// The level of the log line, `None` for an outcome that is not logged.
    pub fn level(&self) -> Option<Level> {
        match self {
            ScriptError::Disabled
            | ScriptError::NoSdp
            | ScriptError::NoDialog
            | ScriptError::NoSource => None,
            ScriptError::IceReoffer { .. } | ScriptError::NoContact => Some(Level::Dbg),
            _ => Some(Level::Err),
        }
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptError::Disabled => f.write_str("disabled"),
            ScriptError::Frozen(why) => write!(f, "cannot change this message: {why}"),
            ScriptError::AlreadyRewritten => {
                f.write_str("the SDP of this message was already rewritten; not again")
            }
            ScriptError::Headers => f.write_str("cannot parse the message headers"),
            ScriptError::Malformed(e) => write!(f, "malformed SIP message: {e}"),
            ScriptError::NoCallId => f.write_str("no Call-ID"),
            ScriptError::NoSdp => f.write_str("no SDP"),
            ScriptError::ForeignSdp => f.write_str(
                "the script changed this SDP with the core's SDP operations; cannot rewrite it",
            ),
            ScriptError::BadSdp { call_id, error } => {
                write!(f, "malformed SDP (Call-ID {call_id}): {error}")
            }
            ScriptError::Relay { call_id, error } => {
                write!(f, "relay: {error} (Call-ID {call_id})")
            }
            ScriptError::Rewrite { call_id, error } => {
                write!(f, "cannot rewrite the SDP (Call-ID {call_id}): {error}")
            }
            ScriptError::Apply { call_id, error } => write!(
                f,
                "cannot change the message, left as it was (Call-ID {call_id}): {error}"
            ),
            ScriptError::IceReoffer { answer: false } => {
                f.write_str("ICE re-offer with a=remote-candidates left untouched")
            }
            ScriptError::IceReoffer { answer: true } => {
                f.write_str("answer to an ICE re-offer with a=remote-candidates left untouched")
            }
            ScriptError::NotInitialInvite => {
                f.write_str("only an initial INVITE (no To tag) can engage the media proxy")
            }
            ScriptError::NoDialog => f.write_str("no dialog"),
            ScriptError::BadTests(e) => f.write_str(e),
            ScriptError::NoSource => f.write_str("no source address"),
            ScriptError::NoContact => f.write_str("no Contact to fix"),
            ScriptError::NotSipUri => f.write_str("the Contact URI is not a sip: URI"),
            ScriptError::ContactSpans => f.write_str("inconsistent Contact URI spans"),
            ScriptError::ContactEdit(e) => write!(f, "cannot change the Contact: {e}"),
            ScriptError::NotOurRelay => f.write_str(
                "recording needs this module's relay (relay_mode=embedded, or mediaproxy-relay); \
                 relay_mode=external names a MediaProxy dispatcher, which cannot record",
            ),
        }
    }
}

/// The one place a script function's outcome becomes its return code: `Ok(code)` as it is, an
/// error logged (under `func`, at its level) and turned into its code.
pub fn report(log: &dyn Logger, func: &str, r: Result<i32, ScriptError>) -> i32 {
    match r {
        Ok(code) => code,
        Err(e) => {
            if let Some(level) = e.level() {
                log.log(level, func, format_args!("{e}"));
            }
            e.code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct Lines(RefCell<Vec<String>>);
    impl Logger for Lines {
        fn log(&self, level: Level, func: &str, args: fmt::Arguments<'_>) {
            self.0
                .borrow_mut()
                .push(format!("{level:?}:{func}: {args}"));
        }
    }

    #[test]
    fn errors_become_their_codes_and_lines() {
        let log = Lines(RefCell::new(Vec::new()));
        assert_eq!(report(&log, "f", Ok(1)), 1);
        assert_eq!(report(&log, "f", Err(ScriptError::NoSdp)), -2);
        assert_eq!(report(&log, "f", Err(ScriptError::Disabled)), -1);
        assert!(log.0.borrow().is_empty(), "quiet outcomes log nothing");
        assert_eq!(report(&log, "f", Err(ScriptError::NoCallId)), -1);
        assert_eq!(report(&log, "g", Err(ScriptError::NoContact)), -1);
        assert_eq!(
            *log.0.borrow(),
            ["Err:f: no Call-ID", "Dbg:g: no Contact to fix"]
        );
    }
}
