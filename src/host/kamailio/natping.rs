//! `natping_interval` in Kamailio: usrloc bound through `ul_bind_usrloc`, a core timer; the
//! rounds themselves are shared ([`crate::host::common::natping`]).

use std::ffi::{c_uint, c_void};

use super::log::HostLog;
use super::sys;
use crate::config::Config;
use crate::host::common::natping::{self, Usrloc};
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

fn bind_usrloc() -> Option<Usrloc> {
    let mut api = std::mem::MaybeUninit::<sys::mpx_usrloc_api>::zeroed();
    // SAFETY: the shim zeroes and fills the struct through usrloc's own ul_bind_usrloc(), when
    // usrloc is loaded; the layout is checked against 5.6.3 in mpx_types.h.
    let api = unsafe {
        if sys::mpx_bind_usrloc(api.as_mut_ptr()) != 0 {
            return None;
        }
        api.assume_init()
    };
    Some(Usrloc {
        get_all: api.get_all_ucontacts?,
        nat_flag: api.nat_flag,
        layout: LAYOUT,
    })
}

unsafe extern "C" fn timer(_ticks: c_uint, _param: *mut c_void) {
    natping::tick(&HostLog);
}

/// From `mod_init` (usrloc, loaded before this module, is initialised before it).
pub fn init(cfg: &Config) -> Result<(), String> {
    natping::init(&HostLog, cfg, bind_usrloc, |interval| {
        // SAFETY: mod_init runs in the main process before any fork; the callback is a plain
        // function.
        unsafe { sys::mpx_register_timer(Some(timer), std::ptr::null_mut(), interval) == 0 }
    })
}
