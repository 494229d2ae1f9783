//! The host layers: the only FFI code. One sub-folder per host ABI; exactly one is compiled,
//! chosen at build time: OpenSIPS 4.0 / 3.6 by default ([`opensips`]), the SER family
//! (Kamailio 5.6) with the `kamailio` cargo feature (`kamailio`).
//!
//! What the script functions do is not here but in [`crate::script`], shared by every host;
//! a host layer only adapts its message, AVPs, logger, dialog API and processes to it. What the
//! host layers would otherwise each write again (panic guard, modparam table, validation,
//! relay process body, dialog callback logic, lumps) is in [`common`].

pub mod common;

#[cfg(not(feature = "kamailio"))]
pub mod opensips;

#[cfg(feature = "kamailio")]
pub mod kamailio;
