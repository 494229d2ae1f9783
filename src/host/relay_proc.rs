//! The "mediaproxy relay" module process (`proc_export_t`, PROC_FLAG_HAS_IPC).

use std::ffi::c_int;

use super::guard::guard;
use super::log::Level;
use super::sys;

pub unsafe extern "C" fn relay_process(_instance: c_int) {
    guard("relay_process", (), || {
        // SAFETY: called once, in this module process, right after fork.
        if unsafe { sys::mpx_reactor_init(c"mediaproxy relay".as_ptr() as *mut _) } < 0 {
            host_log!(
                Level::Crit,
                "relay_process",
                "cannot initialise the process reactor"
            );
            return;
        }
        // SAFETY: the reactor was initialised above; the loop serves IPC until shutdown.
        unsafe { sys::mpx_reactor_loop() };
    })
}
