//! The host-visible ABI in one place: the three symbols Kamailio's module loader reads.
//!
//! `load_module()` (core/sr_module.c) `dlopen`s the module, then `ksr_version_control()`
//! compares `*module_version` with the core's `SER_FULL_VERSION` and `*module_flags` with its
//! `SER_COMPILE_FLAGS` (both `char *` variables), then reads `exports`, a `module_exports_t`
//! (MODULE_INTERFACE_VER 4, 80 bytes) whose tables end in a NULL name. These are the only
//! symbols the shared object exports.

use std::ffi::{c_char, c_int};
use std::ptr;

use super::functions::entry;
use super::init;
use super::sys::*;
use crate::host::common::functions::{script_functions, Function, COUNT};
use crate::host::common::params::{self, ParamExport};
use crate::host::common::HostStatic;

const fn cstr(s: &'static str) -> *mut c_char {
    s.as_ptr() as *mut c_char
}
const VERSION: &str = concat!(env!("MPX_KAMAILIO_VERSION"), "\0");
const FLAGS: &str = concat!(env!("MPX_KAMAILIO_FLAGS"), "\0");

/// `SER_FULL_VERSION` of the core this module was built for (a `char *` variable).
#[allow(non_upper_case_globals)]
#[no_mangle]
pub static module_version: HostStatic<*mut c_char> = HostStatic(cstr(VERSION));

/// `SER_COMPILE_FLAGS` of the core this module was built for (a `char *` variable).
#[allow(non_upper_case_globals)]
#[no_mangle]
pub static module_flags: HostStatic<*mut c_char> = HostStatic(cstr(FLAGS));

// ---- script functions ------------------------------------------------------------------

/// REQUEST, ONREPLY (tm and core), FAILURE, BRANCH and LOCAL routes: wherever a message is
/// handled (as Kamailio's own mediaproxy module allows its functions).
pub const MESSAGE_ROUTES: u32 =
    MPX_REQUEST_ROUTE | MPX_ONREPLY_ROUTE | MPX_FAILURE_ROUTE | MPX_BRANCH_ROUTE | MPX_LOCAL_ROUTE;

/// A row of the functions' table: `client_nat_test` takes one parameter, a string that may
/// hold variables ("3", "$var(tests)"), fixed up by the core's `fixup_spve_null`.
const fn row(f: cmd_function, which: &Function) -> cmd_export_t {
    let string = which.takes_string;
    cmd_export_t {
        name: which.name.as_ptr() as *mut c_char,
        function: f,
        param_no: string as c_int,
        fixup: if string { Some(mpx_fixup_spve) } else { None },
        free_fixup: if string {
            Some(mpx_free_fixup_spve)
        } else {
            None
        },
        flags: if which.request_route_only {
            MPX_REQUEST_ROUTE
        } else {
            MESSAGE_ROUTES
        },
    }
}

pub static CMDS: HostStatic<[cmd_export_t; COUNT + 1]> = HostStatic(script_functions!(
    row,
    entry,
    cmd_export_t {
        name: ptr::null_mut(),
        function: None,
        param_no: 0,
        fixup: None,
        free_fixup: None,
        flags: 0,
    }
));

// ---- modparams: the shared table ------------------------------------------------------

const _: () = assert!(std::mem::size_of::<param_export_t>() == std::mem::size_of::<ParamExport>());
const _: () = assert!(std::mem::offset_of!(param_export_t, type_) == 8);
const _: () = assert!(std::mem::offset_of!(param_export_t, param_pointer) == 16);
const _: () = assert!(MPX_PARAM_STRING == params::STR_PARAM && MPX_PARAM_INT == params::INT_PARAM);

// ---- exports --------------------------------------------------------------------------------

/// The module's interface (`module_exports_t`; every pointer refers to a static of this
/// module).
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static exports: HostStatic<module_exports> = HostStatic(module_exports {
    name: c"mediaproxy".as_ptr() as *mut c_char,
    dlflags: 0,
    cmds: &CMDS.0 as *const _ as *mut cmd_export_t,
    params: &params::PARAMS.0 as *const _ as *mut param_export_t,
    rpc_methods: &super::rpc::RPC_CMDS.0 as *const _ as *mut std::ffi::c_void,
    pv_items: &super::event::PV_ITEMS.0 as *const _ as *mut std::ffi::c_void,
    response_f: None,
    init_mod_f: Some(init::mod_init),
    init_child_f: Some(init::child_init),
    destroy_mod_f: Some(init::mod_destroy),
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::common::functions::FUNCTIONS;
    use std::ffi::CStr;

    fn name(p: *const c_char) -> String {
        // SAFETY: test-only; every name in these tables is a C string literal.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    #[test]
    fn version_strings_are_what_the_loader_compares() {
        assert_eq!(name(module_version.0), env!("MPX_KAMAILIO_VERSION"));
        assert_eq!(name(module_flags.0), env!("MPX_KAMAILIO_FLAGS"));
        assert!(name(module_version.0).starts_with("kamailio 5.6."));
        assert_eq!(name(exports.0.name), "mediaproxy");
    }

    #[test]
    fn every_function_has_its_row() {
        let anywhere = 1 | 2 | 4 | 8 | 64 | 128;
        for (row, f) in CMDS.0[..COUNT].iter().zip(&FUNCTIONS) {
            assert_eq!(name(row.name), f.name());
            let routes = if f.request_route_only { 1 } else { anywhere };
            assert_eq!(row.flags, routes, "{}", f.name());
            assert_eq!(row.param_no, c_int::from(f.takes_string));
            assert_eq!(row.fixup.is_some(), f.takes_string);
            assert_eq!(row.free_fixup.is_some(), f.takes_string);
        }
        assert!(CMDS.0[COUNT].name.is_null());
    }
}
