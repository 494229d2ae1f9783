//! Raw bindings, generated at build time from `opensips-headers/` for the OpenSIPS series
//! `build.rs` detected. Never edited by hand: fix the headers or the allow lists instead.

crate::host::common::bindings!("opensips_sys.rs");

/// The version-control strings compiled into `exports` (what `opensips -V` printed at build time).
pub const OPENSIPS_VERSION: &str = env!("MPX_OPENSIPS_VERSION");
pub const OPENSIPS_FLAGS: &str = env!("MPX_OPENSIPS_FLAGS");
pub const OPENSIPS_SCM_TYPE: &str = env!("MPX_OPENSIPS_SCM_TYPE");
pub const OPENSIPS_SCM_REV: &str = env!("MPX_OPENSIPS_SCM_REV");

// Layout assumptions, checked again on the Rust side (the C header has _Static_asserts too).
const _: () = assert!(std::mem::size_of::<module_exports>() == 184);
const _: () = assert!(std::mem::size_of::<cmd_export_t>() == 240);
const _: () = assert!(std::mem::size_of::<param_export_t>() == 24);
const _: () = assert!(std::mem::size_of::<proc_export_t>() == 40);
const _: () = assert!(std::mem::offset_of!(sip_msg, rcv) == 504);
#[cfg(opensips_40)]
const _: () = assert!(std::mem::offset_of!(sip_msg, buf) == 672);
#[cfg(opensips_40)]
const _: () = assert!(std::mem::size_of::<sip_msg>() == 2560);
#[cfg(opensips_36)]
const _: () = assert!(std::mem::offset_of!(sip_msg, buf) == 608);
#[cfg(opensips_36)]
const _: () = assert!(std::mem::size_of::<sip_msg>() == 2496);
// the rtp_relay engine interface (the same in 3.6.8 and 4.0.1; modules/rtp_relay/rtp_relay.h)
const _: () = assert!(std::mem::offset_of!(mpx_rtp_relay_funcs, copy_offer) == 24);
const _: () = assert!(std::mem::offset_of!(mpx_rtp_relay_funcs, copy_answer) == 32);
const _: () = assert!(std::mem::offset_of!(mpx_rtp_relay_funcs, copy_delete) == 40);
const _: () = assert!(std::mem::offset_of!(mpx_rtp_relay_funcs, copy_serialize) == 48);
const _: () = assert!(std::mem::offset_of!(mpx_rtp_relay_funcs, copy_deserialize) == 56);
const _: () = assert!(std::mem::offset_of!(mpx_rtp_relay_funcs, copy_release) == 64);
const _: () = assert!(std::mem::size_of::<mpx_rtp_relay_funcs>() == 72);
const _: () = assert!(std::mem::size_of::<mpx_rtp_relay_stream>() == 12);
const _: () = assert!(std::mem::offset_of!(mpx_rtp_relay_streams, streams) == 4);
const _: () = assert!(std::mem::size_of::<mpx_rtp_relay_streams>() == 388);
