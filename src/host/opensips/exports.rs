//! The host-visible ABI: the `exports` symbol (`struct module_exports`, 184 bytes), pointing to
//! the tables of the rooms beside (functions, params, MI, statistics, processes), each ending
//! in a named sentinel, and the dependencies. This is the only symbol the shared object
//! exports.

use std::ffi::{c_int, CStr};
use std::ptr;

use super::functions::CMDS;
use super::init;
use super::mi::MI_CMDS;
use super::params::PARAMS;
use super::relay_proc::PROCS;
use super::stats::STATS;
use super::sys::*;
use crate::host::common::HostStatic;

/// `version_control()` compares these with the running core's strings (ABI notes §1.3).
const fn cstr(s: &'static str) -> *const std::ffi::c_char {
    s.as_ptr() as *const std::ffi::c_char
}
const VERSION: &str = concat!(env!("MPX_OPENSIPS_VERSION"), "\0");
const FLAGS: &str = concat!(env!("MPX_OPENSIPS_FLAGS"), "\0");
const SCM_TYPE: &str = concat!(env!("MPX_OPENSIPS_SCM_TYPE"), "\0");
const SCM_REV: &str = concat!(env!("MPX_OPENSIPS_SCM_REV"), "\0");

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
        let n = crate::host::common::functions::COUNT;
        assert!(t[n].name.is_null());
        let get = |f: &str| t[..n].iter().find(|c| name(c.name) == f).expect(f);
        assert_eq!(get("engage_media_proxy").flags, 1);
        assert_eq!(get("use_media_proxy").flags, 1 | 2 | 4 | 8 | 32);
        assert_eq!(get("end_media_session").flags, 1 | 2 | 4 | 8 | 32);
        assert_eq!(get("client_nat_test").params[0].flags, 2);
        assert_eq!(get("client_nat_test").params[1].flags, 0);
        assert_eq!(get("fix_contact").params[0].flags, 0);
        for f in ["start_recording", "stop_recording"] {
            assert_eq!(get(f).flags, 1 | 2 | 4 | 8 | 32, "{f}");
            assert_eq!(get(f).params[0].flags, 0, "{f}");
        }
    }
}
