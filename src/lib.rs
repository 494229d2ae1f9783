//! mediaproxy.so — NAT traversal for OpenSIPS, as a native module written in Rust.
//!
//! Layers (dependencies point downwards only; the pure core never knows it runs in a proxy):
//!
//! | module | what |
//! |---|---|
//! | [`host`] | the only FFI code: the `exports` table, safe views of host objects, logging, panic guard |
//! | [`sip`] | pure scanning of SIP messages as bytes |
//! | [`sdp`] | pure SDP parsing into borrowed spans and byte-preserving rewrites |
//! | [`nat`] | pure NAT decisions: `client_nat_test` bits, `fix_contact`, asymmetric client lists |
//! | [`control`] | MediaProxy's dispatcher protocol: codec, client, server |
//! | [`relay`] | session table, port pool, latching, timeouts, worker threads, socket I/O |
//! | [`script`] | what the script functions do, for any host (behind a `Message` trait) |
//! | [`rtp_relay`] | the `mediaproxy` engine of OpenSIPS's rtp_relay framework (offer, answer, delete) |
//! | [`rtp_relay_copy`] | the engine's media copies (`siprec`, `media_exchange`): copy offer, answer, delete |
//! | `rtp_relay_flags` | the engine's `ip` and `iface` flags: the address to advertise, the relay interfaces named |
//! | [`config`] | validated module settings (`modparam` values checked against [`settings`]) |
//! | [`settings`] | every setting's name, default, bounds and documentation, in one table (a leaf) |
//!
//! Process and thread rules: no thread is started in the attendant (mod_init); the relay's
//! threads start in the module's own relay process after fork, with every signal blocked, and
//! never call into the host.
#![deny(unsafe_code)]

pub mod config;
pub mod control;
pub mod eintr;
#[allow(unsafe_code)]
pub mod host;
pub mod ice_reoffer;
pub mod media;
pub mod nat;
pub mod relay;
pub mod remote;
pub mod rtp_relay;
pub mod rtp_relay_copy;
mod rtp_relay_flags;
pub mod script;
pub mod sdp;
pub mod settings;
pub mod sip;
