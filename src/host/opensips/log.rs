//! Logging through the OpenSIPS logger (`dprint`, via the shim), at its levels. The levels,
//! checks and formatting, the script layer's logger and the panic guard are shared
//! ([`crate::host::common::log`]); this names OpenSIPS's numbers for the levels.

use super::sys;
pub use crate::host::common::guard::mark_host_thread;

crate::host::common::log::host_logger!(
    sys,
    [
        sys::MPX_L_ALERT,
        sys::MPX_L_CRIT,
        sys::MPX_L_ERR,
        sys::MPX_L_WARN,
        sys::MPX_L_NOTICE,
        sys::MPX_L_INFO,
        sys::MPX_L_DBG,
    ]
);
