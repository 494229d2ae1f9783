//! Build script: learns the exact OpenSIPS this module is built for, picks the struct layout
//! for that series, generates the bindings from `opensips-headers/` and compiles the C shim.
//! With the `kamailio` feature it does the same for Kamailio instead (`build/kamailio.rs`).
//!
//! Inputs, in order of precedence:
//! - `MPX_OPENSIPS_VERSION`, `MPX_OPENSIPS_FLAGS`, `MPX_OPENSIPS_SCM_TYPE`, `MPX_OPENSIPS_SCM_REV`:
//!   override each string that the core's `version_control()` compares;
//! - `opensips -V` of the binary named by `OPENSIPS_BIN`, else of `opensips` on `PATH`;
//! - with neither, the documented default: OpenSIPS 4.0.1 built with the default flags, and an
//!   empty revision (the core compares revisions as a prefix, so an empty one always passes).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const DEFAULT_VERSION: &str = "opensips 4.0.1 (x86_64/linux)";
const DEFAULT_FLAGS: &str = "STATS: On, DISABLE_NAGLE, USE_MCAST, SHM_MMAP, PKG_MALLOC, Q_MALLOC, \
F_MALLOC, HP_MALLOC, F_PARALLEL_MALLOC, DBG_MALLOC, FAST_LOCK-ADAPTIVE_WAIT";
const SUPPORTED: &str = "4.0.x and 3.6.x";

#[path = "build/kamailio.rs"]
mod kamailio;

#[path = "build/ebpf.rs"]
mod ebpf;

#[derive(Default)]
struct HostVersion {
    version: Option<String>,
    flags: Option<String>,
    scm_type: Option<String>,
    scm_rev: Option<String>,
}

/// The host binary named by `var`, else `name` on `PATH`.
fn find_host_bin(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(bin) = env::var_os(var) {
        if !bin.is_empty() {
            return Some(PathBuf::from(bin));
        }
    }
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// What `bin arg` prints (stdout and stderr). `None` when it cannot run and `var` (the
/// variable that names the binary) is unset; a build error when `var` named it.
fn host_says(var: &str, bin: &Path, arg: &str) -> Option<String> {
    println!("cargo:rerun-if-changed={}", bin.display());
    match Command::new(bin).arg(arg).output() {
        Ok(out) => Some(
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        ),
        Err(e) if env::var_os(var).is_some() => panic!(
            "{var}={} cannot be run: {e}; unset it to build for the default",
            bin.display()
        ),
        Err(_) => None,
    }
}

/// An override from the environment, else what the host said, else the default.
fn pick(var: &str, found: Option<String>, default: &str) -> String {
    env::var(var)
        .ok()
        .or(found)
        .unwrap_or_else(|| default.to_string())
}

/// Compiles `<dir>/mpx_shim.c` and any `<dir>/mpx_shim_*.c` with `defines` (hidden
/// visibility: nothing of the shim is exported; `shim-common/` holds what every host's shim
/// includes alike) and writes bindgen's output for `<dir>/mpx_shim.h` to `OUT_DIR/<out>`: the
/// shim's `mpx_*` functions, the `MPX_*` constants and the listed types.
fn shim_and_bindings(dir: &str, defines: &[(&str, &str)], types: &[&str], out: &str) {
    let headers = Path::new(dir);
    let mut shim = cc::Build::new();
    let mut parts: Vec<PathBuf> = std::fs::read_dir(headers)
        .unwrap_or_else(|e| panic!("cannot read {dir}/: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("mpx_shim_") && n.ends_with(".c"))
        })
        .collect();
    parts.sort();
    shim.file(headers.join("mpx_shim.c"))
        .files(parts)
        .include(headers)
        .include("shim-common")
        .flag_if_supported("-fvisibility=hidden")
        .warnings(true);
    let mut builder = bindgen::Builder::default()
        .header(headers.join("mpx_shim.h").to_string_lossy())
        .clang_arg(format!("-I{}", headers.display()));
    for (name, value) in defines {
        shim.define(name, (!value.is_empty()).then_some(*value));
        builder = builder.clang_arg(match value {
            &"" => format!("-D{name}"),
            v => format!("-D{name}={v}"),
        });
    }
    shim.compile("mpx_shim");
    for t in types {
        builder = builder.allowlist_type(t);
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    builder
        .allowlist_function("mpx_.*")
        .allowlist_var("MPX_.*")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .layout_tests(true)
        .derive_default(true)
        .generate()
        .unwrap_or_else(|e| panic!("bindgen failed on {dir}/: {e}"))
        .write_to_file(out_dir.join(out))
        .unwrap_or_else(|e| panic!("cannot write bindings: {e}"));
}

/// Parses the lines of `opensips -V` that hold the version-control strings.
fn parse_dash_v(out: &str) -> HostVersion {
    let mut v = HostVersion::default();
    for line in out.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("version: ") {
            v.version = Some(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("flags: ") {
            v.flags = Some(rest.to_string());
        } else if let Some((kind, rev)) = line.split_once(" revision: ") {
            if !kind.contains(' ') {
                v.scm_type = Some(kind.to_string());
                v.scm_rev = Some(rev.trim().to_string());
            }
        }
    }
    v
}

/// The number in a host's version string ("opensips 4.0.1 (x86_64/linux)", "kamailio 5.6.3
/// (x86_64/linux)") and its major and minor parts.
fn version_number(version: &str) -> Result<(&str, &str, &str), String> {
    let num = version
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| format!("cannot read a version number from {version:?}"))?;
    let mut parts = num.split('.');
    Ok((num, parts.next().unwrap_or(""), parts.next().unwrap_or("")))
}

fn series_of(version: &str) -> Result<u32, String> {
    let (num, major, minor) = version_number(version)?;
    match (major, minor) {
        ("4", "0") => Ok(40),
        ("3", "6") => Ok(36),
        _ => Err(format!(
            "OpenSIPS {num} is not supported by mediaproxy.so; supported versions: {SUPPORTED}. \
             Point OPENSIPS_BIN at a supported opensips binary, or set MPX_OPENSIPS_VERSION."
        )),
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=shim-common");
    println!("cargo::rustc-check-cfg=cfg(opensips_40)");
    println!("cargo::rustc-check-cfg=cfg(opensips_36)");
    println!("cargo::rustc-check-cfg=cfg(kamailio_56)");
    ebpf::main();
    if env::var_os("CARGO_FEATURE_KAMAILIO").is_some() {
        kamailio::main();
        return;
    }
    for var in [
        "OPENSIPS_BIN",
        "PATH",
        "MPX_OPENSIPS_VERSION",
        "MPX_OPENSIPS_FLAGS",
        "MPX_OPENSIPS_SCM_TYPE",
        "MPX_OPENSIPS_SCM_REV",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=opensips-headers");

    let mut host = HostVersion::default();
    let mut source = "the documented default".to_string();
    if let Some(bin) = find_host_bin("OPENSIPS_BIN", "opensips") {
        if let Some(text) = host_says("OPENSIPS_BIN", &bin, "-V") {
            host = parse_dash_v(&text);
            if host.version.is_none() {
                panic!(
                    "`{} -V` printed no `version:` line; set OPENSIPS_BIN to an opensips \
                     binary or set MPX_OPENSIPS_VERSION/MPX_OPENSIPS_FLAGS",
                    bin.display()
                );
            }
            source = format!("`{} -V`", bin.display());
        }
    }
    let version = pick("MPX_OPENSIPS_VERSION", host.version, DEFAULT_VERSION);
    let flags = pick("MPX_OPENSIPS_FLAGS", host.flags, DEFAULT_FLAGS);
    let scm_type = pick("MPX_OPENSIPS_SCM_TYPE", host.scm_type, "git");
    let scm_rev = pick("MPX_OPENSIPS_SCM_REV", host.scm_rev, "");

    let series = match series_of(&version) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let allocators = ["Q_MALLOC", "F_MALLOC", "HP_MALLOC", "F_PARALLEL_MALLOC"]
        .iter()
        .filter(|a| flags.split(", ").any(|f| f == **a))
        .count();
    if allocators < 2 {
        panic!(
            "OpenSIPS compile flags {flags:?} select a single memory allocator (INLINE_ALLOC); \
             mediaproxy.so supports builds with several allocators, as the default Makefile.conf"
        );
    }
    let dbg_malloc = flags.split(", ").any(|f| f == "DBG_MALLOC");

    println!("cargo:rustc-env=MPX_OPENSIPS_VERSION={version}");
    println!("cargo:rustc-env=MPX_OPENSIPS_FLAGS={flags}");
    println!("cargo:rustc-env=MPX_OPENSIPS_SCM_TYPE={scm_type}");
    println!("cargo:rustc-env=MPX_OPENSIPS_SCM_REV={scm_rev}");
    println!("cargo:rustc-env=MPX_OPENSIPS_SERIES={series}");
    println!("cargo:rustc-cfg=opensips_{series}");
    if source == "the documented default" {
        println!(
            "cargo:warning=no opensips binary found (OPENSIPS_BIN, PATH): building for \
             {version} with the default flags"
        );
    }

    let series = series.to_string();
    let mut defines = vec![("MPX_OPENSIPS_SERIES", series.as_str())];
    if dbg_malloc {
        defines.push(("MPX_DBG_MALLOC", ""));
    }
    shim_and_bindings(
        "opensips-headers",
        &defines,
        &[
            "sip_msg|module_exports|cmd_export_t|param_export_t|proc_export_t",
            "dep_export_t|module_dependency_t|modparam_dependency_t|cmd_param",
            "str|ip_addr|receive_info|mpx_.*|dlg_binds|dlg_cb_params|mi_export_t|mi_recipe_t",
            "tm_binds|tmcb_params",
        ],
        "opensips_sys.rs",
    );
}
