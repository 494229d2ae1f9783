//! The host-visible ABI in one place: the `exports` symbol (`struct module_exports`, 184 bytes)
//! and the tables it points to, each ending in a named sentinel. This is the only symbol the
//! shared object exports.

use std::cell::UnsafeCell;
use std::ffi::{c_int, CStr};
use std::ptr;

use super::functions::entry;
use super::init;
use super::mi::MI_CMDS;
use super::params::PARAMS;
use super::relay_proc;
use super::stats::STATS;
use super::sys::*;
use crate::host::common::functions::{script_functions, Function};
use crate::host::common::HostStatic;

/// `version_control()` compares these with the running core's strings (ABI notes §1.3).
const fn cstr(s: &'static str) -> *const std::ffi::c_char {
    s.as_ptr() as *const std::ffi::c_char
}
const VERSION: &str = concat!(env!("MPX_OPENSIPS_VERSION"), "\0");
const FLAGS: &str = concat!(env!("MPX_OPENSIPS_FLAGS"), "\0");
const SCM_TYPE: &str = concat!(env!("MPX_OPENSIPS_SCM_TYPE"), "\0");
const SCM_REV: &str = concat!(env!("MPX_OPENSIPS_SCM_REV"), "\0");

// ---- script functions ------------------------------------------------------------------

const NO_PARAM: cmd_param = cmd_param {
    flags: 0,
    fixup: None,
    free_fixup: None,
};

/// REQUEST, ONREPLY, FAILURE, BRANCH and LOCAL routes: wherever a message is handled.
pub const MESSAGE_ROUTES: c_int = (MPX_REQUEST_ROUTE
    | MPX_ONREPLY_ROUTE
    | MPX_FAILURE_ROUTE
    | MPX_BRANCH_ROUTE
    | MPX_LOCAL_ROUTE) as c_int;

/// A row of the functions' table: the string parameter of `client_nat_test`, the routes.
const fn row(f: cmd_function, which: Function) -> cmd_export_t {
    let mut params = [NO_PARAM; 9];
    if which.takes_string() {
        params[0].flags = MPX_CMD_PARAM_STR as c_int;
    }
    cmd_export_t {
        name: which.c_name().as_ptr(),
        function: f,
        params,
        flags: if which.request_route_only() {
            MPX_REQUEST_ROUTE as c_int
        } else {
            MESSAGE_ROUTES
        },
    }
}

const END: cmd_export_t = cmd_export_t {
    name: ptr::null(),
    function: None,
    params: [NO_PARAM; 9],
    flags: 0,
};

pub static CMDS: HostStatic<[cmd_export_t; 6]> = HostStatic(script_functions!(row, entry, END));

/// Makes the script's integer literals for our string parameters text (`client_nat_test(3)`
/// as `client_nat_test("3")`): the core types each parameter either integer or string and
/// would stop start-up at its fixup, which runs after `mod_init`. Returns how many it changed.
///
/// # Safety
/// Only from `mod_init`, in the attendant: the script is parsed and not yet fixed up.
pub unsafe fn script_numbers_as_text() -> Result<u32, String> {
    let n = CMDS.0.len() as c_int - 1;
    // SAFETY: per the function contract, nothing else reads or changes the parsed script now;
    // the shim reads only our own rows of CMDS, which outlive the call.
    let changed = unsafe { mpx_script_numbers_as_text(CMDS.0.as_ptr(), n) };
    u32::try_from(changed).map_err(|_| "no pkg memory for the script's parameters".to_string())
}

// ---- the relay process --------------------------------------------------------------------

/// Writable: `mod_init` sets `no` (1 in embedded mode, 0 otherwise); the core reads it after.
pub static PROCS: HostStatic<UnsafeCell<[proc_export_t; 2]>> = HostStatic(UnsafeCell::new([
    proc_export_t {
        name: c"mediaproxy relay".as_ptr(),
        pre_fork_function: None,
        post_fork_function: None,
        function: Some(relay_proc::relay_process),
        no: 0,
        flags: MPX_PROC_FLAG_HAS_IPC | MPX_PROC_FLAG_INITCHILD | MPX_PROC_FLAG_NEEDS_SCRIPT,
    },
    proc_export_t {
        name: ptr::null(),
        pre_fork_function: None,
        post_fork_function: None,
        function: None,
        no: 0,
        flags: 0,
    },
]));

/// Sets how many relay processes the core forks (0 or 1).
///
/// # Safety
/// Only from `mod_init`, in the attendant, before the core forks module processes.
pub unsafe fn set_relay_processes(n: u32) {
    // SAFETY: per the function contract, no one else reads or writes the table now.
    unsafe { (*PROCS.0.get())[0].no = n };
}

// ---- dependencies -------------------------------------------------------------------------

const NO_DEP: module_dependency_t = module_dependency_t {
    mod_type: MPX_MOD_TYPE_NULL as c_int,
    mod_name: ptr::null_mut(),
    type_: 0,
};

const fn silent_dep(name: &'static CStr) -> module_dependency_t {
    module_dependency_t {
        mod_type: MPX_MOD_TYPE_DEFAULT as c_int,
        mod_name: name.as_ptr() as *mut _,
        type_: MPX_DEP_SILENT,
    }
}

/// tm, dialog and usrloc (natping reads its nat_bflag), silently: when loaded, they are initialised before this module.
pub static DEPS: HostStatic<dep_export_t> = HostStatic(dep_export_t {
    md: [
        silent_dep(c"tm"),
        silent_dep(c"dialog"),
        silent_dep(c"usrloc"),
        NO_DEP,
        NO_DEP,
        NO_DEP,
        NO_DEP,
        NO_DEP,
        NO_DEP,
        NO_DEP,
    ],
    mpd: [modparam_dependency_t {
        script_param: ptr::null_mut(),
        get_deps_f: None,
    }],
});

// ---- exports --------------------------------------------------------------------------------

/// The module's one exported symbol.
#[allow(non_upper_case_globals)]
#[no_mangle]
pub static exports: HostStatic<module_exports> = HostStatic(module_exports {
    name: c"mediaproxy".as_ptr(),
    type_: MPX_MOD_TYPE_DEFAULT as c_int,
    version: cstr(VERSION),
    compile_flags: cstr(FLAGS),
    scm_type: cstr(SCM_TYPE),
    scm_rev: cstr(SCM_REV),
    dlflags: 0,
    load_f: Some(init::mod_load),
    deps: &DEPS.0,
    cmds: &CMDS.0 as *const _ as *const cmd_export_t,
    acmds: ptr::null(),
    params: &PARAMS.0 as *const _ as *const param_export_t,
    stats: &STATS.0 as *const _ as *const std::ffi::c_void,
    mi_cmds: &MI_CMDS.0 as *const _ as *const std::ffi::c_void,
    items: ptr::null(),
    trans: ptr::null(),
    procs: PROCS.0.get() as *const proc_export_t,
    preinit_f: Some(super::rtp_relay::mod_preinit),
    init_f: Some(init::mod_init),
    response_f: None,
    destroy_f: Some(init::mod_destroy),
    init_child_f: Some(init::child_init),
    reload_ack_f: None,
});

#[cfg(test)]
mod tests {
    use super::*;

    fn name(p: *const std::ffi::c_char) -> String {
        // SAFETY: test-only; every name in these tables is a C string literal.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    #[test]
    fn version_strings_are_nul_terminated() {
        assert!(VERSION.ends_with('\0') && FLAGS.ends_with('\0'));
        assert_eq!(name(exports.0.version), env!("MPX_OPENSIPS_VERSION"));
        assert_eq!(name(exports.0.name), "mediaproxy");
    }

    #[test]
    fn functions_and_their_routes() {
        let t = &CMDS.0;
        assert!(t[5].name.is_null());
        let get = |n: &str| t[..5].iter().find(|c| name(c.name) == n).expect(n);
        assert_eq!(get("engage_media_proxy").flags, 1);
        assert_eq!(get("use_media_proxy").flags, 1 | 2 | 4 | 8 | 32);
        assert_eq!(get("end_media_session").flags, 1 | 2 | 4 | 8 | 32);
        assert_eq!(get("client_nat_test").params[0].flags, 2);
        assert_eq!(get("client_nat_test").params[1].flags, 0);
        assert_eq!(get("fix_contact").params[0].flags, 0);
    }
}
