//! Remote relays: the dispatcher⇄relay link of MediaProxy over TLS (`prior-art.md` §1.4–1.6).
//!
//! * [`wire`]: the link's framing (commands with sequence numbers, replies, `expired`,
//!   `ping`/`pong`, our `drain`). Pure.
//! * [`tls`]: rustls configurations with mutual X.509 checks, a non-blocking TLS stream.
//! * [`dispatcher`]: the dispatcher's side: accepts relays, chooses one per new session, keeps
//!   the choice for the session's life, answers `sessions`/`summary` across relays. It is a
//!   [`crate::control::server::Handler`], so it serves the module's control socket in place of
//!   the embedded engine, which can be one of its relays.
//! * [`front`]: the dispatcher serving the module's control socket in its relay process, with
//!   the embedded relay (if any) behind it on a private socket.
//! * [`uplink`]: the relay's side: connects out to a dispatcher, answers its commands through
//!   the relay's own control socket, keeps the link alive, drains.
//!
//! Depends on `control` (codec, handler) and `relay::sys` (poll, eventfd); nothing depends on
//! it but the hosts and the binary.

mod accept;
pub mod dispatcher;
pub mod front;
pub mod settings;
pub mod tls;
pub mod uplink;
pub mod wire;
