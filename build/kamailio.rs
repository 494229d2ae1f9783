//! The `kamailio` feature's part of the build script: learns the exact Kamailio this module is
//! built for, refuses an unsupported one, and builds `kamailio-headers/` (bindings + C shim).
//!
//! Kamailio loads a module only when its `module_version` and `module_flags` strings equal the
//! core's `SER_FULL_VERSION` and `SER_COMPILE_FLAGS` (`ksr_version_control()` in
//! `core/sr_module.c`, called by `load_module()` before anything else of the module is read).
//! `kamailio -v` prints both:
//!
//! ```text
//! version: kamailio 5.6.3 (x86_64/linux) <REPO_VER>
//! flags: USE_TCP, USE_TLS, ...
//! ```
//!
//! where the version line is `SER_FULL_VERSION` followed by a space and the build's repository
//! version (empty for a release tarball), so the module takes it up to the closing `)`.
//!
//! Inputs, in order of precedence:
//! - `MPX_KAMAILIO_VERSION`, `MPX_KAMAILIO_FLAGS`: override each string;
//! - `kamailio -v` of the binary named by `KAMAILIO_BIN`, else of `kamailio` on `PATH`;
//! - with neither, the documented default: Kamailio 5.6.3 as Debian 12 (bookworm) ships it
//!   (`kamailio 5.6.3-2`), with that package's compile flags.

use super::{find_host_bin, host_says, pick, shim_and_bindings, version_number};

const DEFAULT_VERSION: &str = "kamailio 5.6.3 (x86_64/linux)";
const DEFAULT_FLAGS: &str = "USE_TCP, USE_TLS, USE_SCTP, TLS_HOOKS, USE_RAW_SOCKS, DISABLE_NAGLE, \
USE_MCAST, DNS_IP_HACK, SHM_MMAP, PKG_MALLOC, Q_MALLOC, F_MALLOC, TLSF_MALLOC, DBG_SR_MEMORY, \
USE_FUTEX, FAST_LOCK-ADAPTIVE_WAIT, USE_DNS_CACHE, USE_DNS_FAILOVER, USE_NAPTR, \
USE_DST_BLOCKLIST, HAVE_RESOLV_RES, TLS_PTHREAD_MUTEX_SHARED";
const SUPPORTED: &str = "5.6.x";

/// `SER_FULL_VERSION` and `SER_COMPILE_FLAGS` from the lines of `kamailio -v`.
fn parse_dash_v(out: &str) -> (Option<String>, Option<String>) {
    let (mut version, mut flags) = (None, None);
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("version: ") {
            // "kamailio 5.6.3 (x86_64/linux) <repo version>": keep up to the ')'
            version = Some(match rest.find(')') {
                Some(i) => rest[..=i].to_string(),
                None => rest.trim_end().to_string(),
            });
        } else if let Some(rest) = line.strip_prefix("flags: ") {
            flags = Some(rest.trim_end().to_string());
        }
    }
    (version, flags)
}

/// The layout series (56 for 5.6.x), or why the version is refused.
fn series_of(version: &str) -> Result<u32, String> {
    match version_number(version)? {
        (_, "5", "6") => Ok(56),
        (num, _, _) => Err(format!(
            "Kamailio {num} is not supported by mediaproxy.so; supported versions: {SUPPORTED}. \
             Point KAMAILIO_BIN at a supported kamailio binary, or set MPX_KAMAILIO_VERSION."
        )),
    }
}

pub fn main() {
    for var in [
        "KAMAILIO_BIN",
        "PATH",
        "MPX_KAMAILIO_VERSION",
        "MPX_KAMAILIO_FLAGS",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build/kamailio.rs");
    println!("cargo:rerun-if-changed=kamailio-headers");

    let (mut found_version, mut found_flags) = (None, None);
    let mut source = None;
    if let Some(bin) = find_host_bin("KAMAILIO_BIN", "kamailio") {
        if let Some(text) = host_says("KAMAILIO_BIN", &bin, "-v") {
            (found_version, found_flags) = parse_dash_v(&text);
            if found_version.is_none() || found_flags.is_none() {
                panic!(
                    "`{} -v` printed no `version:`/`flags:` lines; set KAMAILIO_BIN to a \
                     kamailio binary or set MPX_KAMAILIO_VERSION/MPX_KAMAILIO_FLAGS",
                    bin.display()
                );
            }
            source = Some(bin);
        }
    }
    let version = pick("MPX_KAMAILIO_VERSION", found_version, DEFAULT_VERSION);
    let flags = pick("MPX_KAMAILIO_FLAGS", found_flags, DEFAULT_FLAGS);
    let series = series_of(&version).unwrap_or_else(|e| panic!("{e}"));
    let has = |f: &str| flags.split(", ").any(|x| x == f);

    println!("cargo:rustc-env=MPX_KAMAILIO_VERSION={version}");
    println!("cargo:rustc-env=MPX_KAMAILIO_FLAGS={flags}");
    println!("cargo:rustc-env=MPX_KAMAILIO_SERIES={series}");
    println!("cargo:rustc-cfg=kamailio_{series}");
    if source.is_none() {
        println!(
            "cargo:warning=no kamailio binary found (KAMAILIO_BIN, PATH): building for \
             {version} with Debian 12's compile flags"
        );
    }

    let series = series.to_string();
    let mut defines = vec![("MPX_KAMAILIO_SERIES", series.as_str())];
    // the pkg allocator's entry points take the caller's location with DBG_SR_MEMORY
    if has("DBG_SR_MEMORY") {
        defines.push(("MPX_DBG_SR_MEMORY", ""));
    }
    // without PKG_MALLOC, pkg_malloc() is the system malloc()
    if !has("PKG_MALLOC") {
        defines.push(("MPX_SYS_MALLOC", ""));
    }
    shim_and_bindings(
        "kamailio-headers",
        &defines,
        &[
            "sip_msg|module_exports|cmd_export_t|param_export_t|str|ip_addr|receive_info",
            "dlg_binds|dlg_cb_params|mpx_.*",
        ],
        "kamailio_sys.rs",
    );
}
