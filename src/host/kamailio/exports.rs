//! The host-visible ABI in one place: the three symbols Kamailio's module loader reads.
//!
//! `load_module()` (core/sr_module.c) `dlopen`s the module, then `ksr_version_control()`
//! compares `*module_version` with the core's `SER_FULL_VERSION` and `*module_flags` with its
//! `SER_COMPILE_FLAGS` (both `char *` variables), then reads `exports`, a `module_exports_t`
//! (MODULE_INTERFACE_VER 4, 80 bytes) whose tables end in a NULL name. These are the only
//! symbols the shared object exports.

use std::ffi::{c_char, CStr};
use std::ptr;

use super::functions;
use super::init;
use super::sys::*;
use crate::host::common::params::{self, ParamExport};

const fn cstr(s: &'static str) -> *mut c_char {
    s.as_ptr() as *mut c_char
}
const VERSION: &str = concat!(env!("MPX_KAMAILIO_VERSION"), "\0");
const FLAGS: &str = concat!(env!("MPX_KAMAILIO_FLAGS"), "\0");

/// A `char *` variable the core reads through `dlsym`.
#[repr(transparent)]
pub struct CharPtr(pub *mut c_char);
// SAFETY: points to a string literal; never written.
unsafe impl Sync for CharPtr {}

/// `SER_FULL_VERSION` of the core this module was built for.
#[allow(non_upper_case_globals)]
#[no_mangle]
pub static module_version: CharPtr = CharPtr(cstr(VERSION));

/// `SER_COMPILE_FLAGS` of the core this module was built for.
#[allow(non_upper_case_globals)]
#[no_mangle]
pub static module_flags: CharPtr = CharPtr(cstr(FLAGS));

// ---- script functions ------------------------------------------------------------------

/// REQUEST, ONREPLY (tm and core), FAILURE, BRANCH and LOCAL routes: wherever a message is
/// handled (as Kamailio's own mediaproxy module allows its functions).
pub const MESSAGE_ROUTES: u32 =
    MPX_REQUEST_ROUTE | MPX_ONREPLY_ROUTE | MPX_FAILURE_ROUTE | MPX_BRANCH_ROUTE | MPX_LOCAL_ROUTE;

const fn cmd(name: &'static CStr, f: cmd_function, routes: u32) -> cmd_export_t {
    cmd_export_t {
        name: name.as_ptr() as *mut c_char,
        function: f,
        param_no: 0,
        fixup: None,
        free_fixup: None,
        flags: routes,
    }
}

#[repr(transparent)]
pub struct CmdTable(pub [cmd_export_t; 6]);
// SAFETY: read-only; holds pointers to string literals and functions only.
unsafe impl Sync for CmdTable {}

pub static CMDS: CmdTable = CmdTable([
    cmd(
        c"engage_media_proxy",
        Some(functions::engage_media_proxy),
        MPX_REQUEST_ROUTE,
    ),
    cmd(
        c"use_media_proxy",
        Some(functions::use_media_proxy),
        MESSAGE_ROUTES,
    ),
    cmd(
        c"end_media_session",
        Some(functions::end_media_session),
        MESSAGE_ROUTES,
    ),
    // one parameter: a string that may hold variables ("3", "$var(tests)")
    cmd_export_t {
        param_no: 1,
        fixup: Some(mpx_fixup_spve),
        free_fixup: Some(mpx_free_fixup_spve),
        ..cmd(
            c"client_nat_test",
            Some(functions::client_nat_test),
            MESSAGE_ROUTES,
        )
    },
    cmd(c"fix_contact", Some(functions::fix_contact), MESSAGE_ROUTES),
    cmd_export_t {
        name: ptr::null_mut(),
        function: None,
        param_no: 0,
        fixup: None,
        free_fixup: None,
        flags: 0,
    },
]);

// ---- modparams: the shared table ------------------------------------------------------

const _: () = assert!(std::mem::size_of::<param_export_t>() == std::mem::size_of::<ParamExport>());
const _: () = assert!(std::mem::offset_of!(param_export_t, type_) == 8);
const _: () = assert!(std::mem::offset_of!(param_export_t, param_pointer) == 16);
const _: () = assert!(MPX_PARAM_STRING == params::STR_PARAM && MPX_PARAM_INT == params::INT_PARAM);

// ---- exports --------------------------------------------------------------------------------

#[repr(transparent)]
pub struct Exports(pub module_exports);
// SAFETY: read-only; every pointer refers to a static of this module.
unsafe impl Sync for Exports {}

/// The module's interface.
#[allow(non_upper_case_globals)]
#[no_mangle]
pub static exports: Exports = Exports(module_exports {
    name: c"mediaproxy".as_ptr() as *mut c_char,
    dlflags: 0,
    cmds: &CMDS.0 as *const _ as *mut cmd_export_t,
    params: &params::PARAMS.0 as *const _ as *mut param_export_t,
    rpc_methods: ptr::null_mut(),
    pv_items: ptr::null_mut(),
    response_f: None,
    init_mod_f: Some(init::mod_init),
    init_child_f: Some(init::child_init),
    destroy_mod_f: Some(init::mod_destroy),
});

#[cfg(test)]
mod tests {
    use super::*;

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
    fn functions_and_their_routes() {
        let t = &CMDS.0;
        assert!(t[5].name.is_null());
        let get = |n: &str| t[..5].iter().find(|c| name(c.name) == n).expect(n);
        assert_eq!(get("engage_media_proxy").flags, 1);
        assert_eq!(get("use_media_proxy").flags, 1 | 2 | 4 | 8 | 64 | 128);
        assert_eq!(get("client_nat_test").param_no, 1);
        assert!(get("client_nat_test").fixup.is_some());
        assert!(get("client_nat_test").free_fixup.is_some());
        assert_eq!(get("fix_contact").param_no, 0);
    }
}
