//! What every host layer shares: code that would otherwise be written twice, once against
//! each host's ABI. Nothing here names a host symbol; each host layer adapts it to its own
//! logger, tables and processes.
//!
//! - [`guard`], [`log`]: the panic guard at every `extern "C"` entry point, the host-thread
//!   marker, log levels and one line's formatting over a host's logger.
//! - [`avp`]: the three AVP modparams parsed by the host and read as text.
//! - [`params`]: the modparam table (names, storage the core writes into, the mapping to
//!   [`crate::config::RawParams`]); OpenSIPS and the SER family share `param_export_t`'s shape.
//! - [`lifecycle`]: `mod_init`'s host-neutral part (validate every modparam, prepare the
//!   control socket's directory, map the shared counters) and the socket clean-up.
//! - [`relay`]: the shared counters, the relay settings, starting the relay and turning its
//!   events into log lines and dialog ends.
//! - [`stats`]: the statistics' names and the shared counters they read, one list that each
//!   host turns into its own table.
//! - [`session_end`]: the session-end event's fields (every host raises the same ones).
//! - [`functions`]: the script functions' table (names, routes, bodies) and their entry
//!   points' body (generic over the host).
//! - [`host`]: the [`host::Host`] trait, what differs per host (types, logger, dialog calls).
//! - [`dialog`]: what an engaged dialog's callbacks carry and do, the callbacks themselves
//!   (generic over the host).
//! - [`natping`]: `natping_interval`'s rounds of keep-alives over a host's usrloc.
//! - [`splice`]: how byte edits become the one lump every core rebuilds exactly (the cores'
//!   lump rules, and a model of them for tests and fuzzing); pure.
//! - [`msg`]: a host's message as the script layer's `Message` (one safe view of the fields of
//!   `struct sip_msg` both hosts declare alike; edits as lumps).
//!
//! The macros left here (`sip_msg_view!`, `script_functions!`, `host_logger!`, `bindings!`)
//! take a host layer's own generated bindings (`sys`) and write the code that reads the same
//! fields or symbols of two different sets of bindings once.

pub mod avp;
pub mod dialog;
pub mod functions;
pub mod guard;
pub mod host;
pub mod lifecycle;
pub mod log;
pub mod msg;
pub mod natping;
pub mod params;
pub mod relay;
pub mod session_end;
pub mod splice;
pub mod stats;

/// Includes a host layer's bindgen output (`OUT_DIR/$file`) under the lints generated code
/// needs; never edited by hand: fix the host's headers or allow lists instead.
macro_rules! bindings {
    ($file:literal) => {
        #[allow(
            non_camel_case_types,
            non_snake_case,
            non_upper_case_globals,
            dead_code,
            unnecessary_transmutes,
            clippy::all,
            clippy::pedantic
        )]
        mod generated {
            include!(concat!(env!("OUT_DIR"), "/", $file));
        }
        pub use generated::*;
    };
}
pub(crate) use bindings;

/// The one wrapper for what both hosts share between threads only in name: a table the host
/// reads through a pointer (pointers to literals, functions and other statics of this module),
/// a table the core or a module fills once in the attendant (`UnsafeCell` inside), or a handle
/// of the core's made in the attendant. The rule that makes it sound: it is written, if ever,
/// only in the attendant before any fork (single-threaded), and only read afterwards, each
/// process from its one host thread (the relay's threads never see one).
#[repr(transparent)]
pub struct HostStatic<T>(pub T);

// SAFETY: see the type's rule: no write after start-up, and no access from a thread other than
// the host's.
unsafe impl<T> Sync for HostStatic<T> {}
// SAFETY: as above; a value moves between threads only in the attendant's start-up.
unsafe impl<T> Send for HostStatic<T> {}
