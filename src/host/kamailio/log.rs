//! Logging through the Kamailio logger, at its levels, as the core's `LM_*` macros do it (the
//! shim: the per-module debug level, a structured-logging engine when one is set, stderr with
//! `-E`, syslog otherwise). A line reads ` 0(1234) ERROR: mediaproxy: mod_init(): ...`.
//! Levels, checks, formatting, the script layer's logger and the panic guard are shared
//! ([`crate::host::common::log`]); `Crit` is `L_CRIT2`, which `LM_CRIT` prints as "CRITICAL".

use super::sys;

crate::host::common::log::host_logger!(
    sys,
    [
        sys::MPX_L_ALERT,
        sys::MPX_L_CRIT2,
        sys::MPX_L_ERR,
        sys::MPX_L_WARN,
        sys::MPX_L_NOTICE,
        sys::MPX_L_INFO,
        sys::MPX_L_DBG,
    ]
);
