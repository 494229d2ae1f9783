//! The module's statistics as Kamailio counters of the group `mediaproxy` (`kamcmd
//! stats.get_statistics mediaproxy:`, or the counters module's `cnt.grp_get_all mediaproxy`):
//! registered in `mod_init` with a read callback each, so that every process reads the
//! counters in shared memory ([`crate::host::common::stats`]) and nothing is copied.

use std::ffi::{c_long, c_void, CString};

use super::sys::{self, mpx_counter_handle};
use crate::host::common::stats::{read, STATS};

/// A counter's value: `param` is its index in [`STATS`].
unsafe extern "C" fn value(_: mpx_counter_handle, param: *mut c_void) -> c_long {
    // reading atomics cannot panic; an index we did not register reads 0
    STATS
        .get(param as usize)
        .map_or(0, |(_, f)| read(*f).min(c_long::MAX as u64) as c_long)
}

/// Registers every statistic (from `mod_init`, before the core sizes its counter tables).
pub fn init() -> Result<(), String> {
    for (i, (name, _)) in STATS.iter().enumerate() {
        let cname = CString::new(*name).map_err(|_| format!("statistic name {name}"))?;
        // SAFETY: mod_init in the main process; the core copies the group and name into its
        // own table (the doc string is a literal); param is an index, never dereferenced.
        let rc = unsafe {
            sys::mpx_counter_register(
                c"mediaproxy".as_ptr(),
                cname.as_ptr(),
                Some(value),
                i as *mut c_void,
                c"mediaproxy.so statistic (see the README's Statistics)".as_ptr(),
            )
        };
        if rc != 0 {
            return Err(format!("cannot register the counter mediaproxy.{name}"));
        }
    }
    Ok(())
}
