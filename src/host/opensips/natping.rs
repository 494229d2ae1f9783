//! `natping_interval` in OpenSIPS: usrloc bound through `ul_bind_usrloc`, a core timer in the
//! timer process; the rounds themselves are shared ([`crate::host::common::natping`]).

use std::ffi::{c_uint, c_void};

use super::log::HostLog;
use super::sys;
use crate::config::Config;
use crate::host::common::natping::{self, Usrloc};
use crate::nat::ping::Field;

/// How OpenSIPS 3.6/4.0's usrloc packs a contact (`get_all_ucontacts`, no coordinates).
const LAYOUT: &[Field] = &[
    Field::Contact,
    Field::Received,
    Field::Path,
    Field::Socket,
    Field::Flags,
    Field::Skip(sys::MPX_UL_NEXT_HOP_SIZE as usize),
];

fn bind_usrloc() -> Option<Usrloc> {
    let mut api = std::mem::MaybeUninit::<sys::mpx_usrloc_api>::zeroed();
    // SAFETY: the shim zeroes and fills the struct through usrloc's own ul_bind_usrloc(), when
    // usrloc is loaded; the layout is checked against 3.6.8 and 4.0.1 in mpx_types.h.
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

/// From `mod_init` (usrloc, a dependency, is initialised before us).
pub fn init(cfg: &Config) -> Result<(), String> {
    natping::init(&HostLog, cfg, bind_usrloc, |interval| {
        // SAFETY: mod_init runs in the attendant before the timer process is forked; the
        // label is a literal and the callback a plain function.
        unsafe {
            sys::mpx_register_timer(
                c"mediaproxy-natping".as_ptr(),
                Some(timer),
                std::ptr::null_mut(),
                interval,
            ) == 0
        }
    })
}
