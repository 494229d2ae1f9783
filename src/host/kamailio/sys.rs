//! Raw bindings, generated at build time from `kamailio-headers/` for the Kamailio series
//! `build.rs` detected. Never edited by hand: fix the headers or the allow lists instead.

crate::host::common::bindings!("kamailio_sys.rs");

/// The version-control strings compiled into the module (what `kamailio -v` printed at build
/// time, or the documented default).
pub const KAMAILIO_VERSION: &str = env!("MPX_KAMAILIO_VERSION");
pub const KAMAILIO_FLAGS: &str = env!("MPX_KAMAILIO_FLAGS");

/// Layout assumptions (size or offset, and what 5.6.3 has), checked again on the Rust side:
/// the C header has `_Static_assert`s for these and more.
const LAYOUT: [(usize, usize); 14] = {
    use std::mem::{offset_of, size_of};
    [
        (size_of::<module_exports>(), 80),
        (size_of::<cmd_export_t>(), 48),
        (size_of::<param_export_t>(), 24),
        (size_of::<sip_msg>(), 2008),
        (offset_of!(sip_msg, first_line), 32),
        (offset_of!(sip_msg, rcv), 512),
        (offset_of!(sip_msg, buf), 720),
        (offset_of!(sip_msg, len), 728),
        (offset_of!(sip_msg, msg_flags), 1644),
        (size_of::<dlg_binds>(), 72),
        (offset_of!(dlg_binds, get_dlg), 56),
        (size_of::<dlg_cb_params>(), 40),
        (offset_of!(mpx_dlg_cell_head, callid), 120),
        (offset_of!(mpx_dlg_cell_head, tag), 184),
    ]
};
const _: () = {
    let mut i = 0;
    while i < LAYOUT.len() {
        assert!(LAYOUT[i].0 == LAYOUT[i].1, "Kamailio 5.6 layout");
        i += 1;
    }
};
