//! `natping_interval` in Kamailio: usrloc bound through `ul_bind_usrloc`, a core timer; the
//! rounds themselves are shared ([`crate::host::common::natping`]).

use super::log::HostLog;
use super::sys;
use crate::host::common::natping::natping_host;
use crate::nat::ping::Field;

/// How Kamailio 5.6's usrloc packs a contact (`get_all_ucontacts`): contact, received,
/// socket, flags, path, ruid, aorhash.
const LAYOUT: &[Field] = &[
    Field::Contact,
    Field::Received,
    Field::Socket,
    Field::Flags,
    Field::Path,
    Field::OtherString,
    Field::Skip(4),
];

natping_host!(sys, &HostLog, LAYOUT, |interval, callback| {
    // SAFETY: mod_init runs in the main process before any fork; the callback is a plain
    // function.
    unsafe { sys::mpx_register_timer(callback, std::ptr::null_mut(), interval) == 0 }
});
