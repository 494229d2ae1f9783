//! `natping_interval` in OpenSIPS: usrloc bound through `ul_bind_usrloc`, a core timer in the
//! timer process; the rounds themselves are shared ([`crate::host::common::natping`]).

use super::log::HostLog;
use super::sys;
use crate::host::common::natping::natping_host;
use crate::nat::ping::{Field, OPENSIPS_LAYOUT};

/// The layout's next-hop field is `struct proxy_l` as this OpenSIPS declares it.
const LAYOUT: &[Field] = OPENSIPS_LAYOUT;
const _: () = assert!(matches!(
    LAYOUT[LAYOUT.len() - 1],
    Field::Skip(n) if n == sys::MPX_UL_NEXT_HOP_SIZE as usize
));

natping_host!(sys, &HostLog, LAYOUT, |interval, callback| {
    // SAFETY: mod_init runs in the attendant before the timer process is forked; the label is
    // a literal and the callback a plain function.
    unsafe {
        sys::mpx_register_timer(
            c"mediaproxy-natping".as_ptr(),
            callback,
            std::ptr::null_mut(),
            interval,
        ) == 0
    }
});
