//! MediaProxy's dispatcher protocol (`prior-art.md` §1): the codec, the client the SIP worker
//! processes use, and the server the relay process runs.
//!
//! * [`codec`]: framing, request parse/encode, validating reply parse; the `media` header in
//!   [`media_header`]. Pure.
//! * [`client`]: one persistent unix-stream connection per process, opened lazily, with a
//!   per-request timeout and a reconnect back-off; never resynchronises a stale stream.
//! * [`server`]: accepts connections on the control socket (mode 0660), frames requests and
//!   hands them to a [`server::Handler`] (the relay engine), one reply line per request.
//!   It does not wait for readiness itself: the relay's control thread polls its descriptors.

pub mod client;
pub mod codec;
pub mod copy;
pub mod interfaces;
pub mod media_header;
pub mod record;
pub mod server;

pub use codec::{MessageType, RemoveRequest, Request, UpdateRequest};
