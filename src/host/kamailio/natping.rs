//! `natping_interval` in Kamailio: usrloc bound through `ul_bind_usrloc`, a core timer; the
//! rounds themselves are shared ([`crate::host::common::natping`]).

use super::log::HostLog;
use super::sys;
use crate::host::common::natping::natping_host;
use crate::nat::ping::KAMAILIO_LAYOUT;

natping_host!(sys, &HostLog, KAMAILIO_LAYOUT, |interval, callback| {
    // SAFETY: mod_init runs in the main process before any fork; the callback is a plain
    // function.
    unsafe { sys::mpx_register_timer(callback, std::ptr::null_mut(), interval) == 0 }
});
