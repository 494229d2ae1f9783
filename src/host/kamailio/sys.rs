//! Raw bindings, generated at build time from `kamailio-headers/` for the Kamailio series
//! `build.rs` detected. Never edited by hand: fix the headers or the allow lists instead.
#![allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    unnecessary_transmutes,
    clippy::all,
    clippy::pedantic
)]

include!(concat!(env!("OUT_DIR"), "/kamailio_sys.rs"));

/// The version-control strings compiled into the module (what `kamailio -v` printed at build
/// time, or the documented default).
pub const KAMAILIO_VERSION: &str = env!("MPX_KAMAILIO_VERSION");
pub const KAMAILIO_FLAGS: &str = env!("MPX_KAMAILIO_FLAGS");

// Layout assumptions, checked again on the Rust side (the C header has _Static_asserts too).
const _: () = assert!(std::mem::size_of::<module_exports>() == 80);
const _: () = assert!(std::mem::size_of::<cmd_export_t>() == 48);
const _: () = assert!(std::mem::size_of::<param_export_t>() == 24);
const _: () = assert!(std::mem::size_of::<sip_msg>() == 2008);
const _: () = assert!(std::mem::offset_of!(sip_msg, first_line) == 32);
const _: () = assert!(std::mem::offset_of!(sip_msg, rcv) == 512);
const _: () = assert!(std::mem::offset_of!(sip_msg, buf) == 720);
const _: () = assert!(std::mem::offset_of!(sip_msg, len) == 728);
const _: () = assert!(std::mem::offset_of!(sip_msg, msg_flags) == 1644);
const _: () = assert!(std::mem::size_of::<dlg_binds>() == 72);
const _: () = assert!(std::mem::offset_of!(dlg_binds, get_dlg) == 56);
const _: () = assert!(std::mem::size_of::<dlg_cb_params>() == 40);
const _: () = assert!(std::mem::offset_of!(mpx_dlg_cell_head, callid) == 120);
const _: () = assert!(std::mem::offset_of!(mpx_dlg_cell_head, tag) == 184);
