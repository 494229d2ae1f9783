//! What every host layer shares: code that would otherwise be written twice, once against
//! each host's ABI. Nothing here names a host symbol; each host layer adapts it to its own
//! logger, tables and processes.
//!
//! - [`guard`]: the panic guard at every `extern "C"` entry point, and the host-thread marker.
//! - [`params`]: the modparam table (names, storage the core writes into, the mapping to
//!   [`crate::config::RawParams`]); OpenSIPS and the SER family share `param_export_t`'s shape.
//! - [`lifecycle`]: `mod_init`'s host-neutral part (validate every modparam, prepare the
//!   control socket's directory, map the shared counters) and the socket clean-up.
//! - [`relay`]: the shared counters, the relay settings, starting the relay and turning its
//!   events into log lines and dialog ends.
//! - [`dialog`]: what an engaged dialog's callbacks carry and do, and `engage_media_proxy`.
//! - [`msg`]: the packet source and the script layer's byte edits as a host's lumps.

pub mod dialog;
pub mod guard;
pub mod lifecycle;
pub mod msg;
pub mod params;
pub mod relay;
