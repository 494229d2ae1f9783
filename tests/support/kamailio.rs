//! Running a real Kamailio with the module this crate just built (`--features kamailio`).
//!
//! The binary comes from `KAMAILIO_BIN`, else `kamailio` on `PATH` (the same rule as
//! `build.rs`). The tests that need it are `#[ignore]`d; `scripts/test.sh` includes them when
//! there is one (a test asked to run without one fails). The other modules' directory is
//! `KAMAILIO_MODULES_DIR`, else found beside the binary (Debian's
//! `<prefix>/lib/x86_64-linux-gnu/kamailio/modules`, `<prefix>/lib64/kamailio/modules`,
//! `<prefix>/lib/kamailio/modules`).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use super::process::Host;
use super::process::{
    built_module, find_bin, modules_dir, replace_once, spawn_logged, Running, Site,
};

/// `SER_FULL_VERSION` and the compile flags, as `kamailio -v` prints them.
fn version_and_flags(bin: &Path) -> (String, String) {
    let out = Command::new(bin)
        .arg("-v")
        .output()
        .expect("run kamailio -v");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or("")
            .trim_end()
            .to_string()
    };
    let version = line("version: ");
    let version = match version.find(')') {
        Some(i) => version[..=i].to_string(),
        None => version,
    };
    (version, line("flags: "))
}

/// The Kamailio to test against. The tests that need one are `#[ignore]`d (`scripts/test.sh`
/// includes them when there is one), so a test asking for it fails when there is none.
pub fn host(test: &str) -> Host {
    let Some(bin) = find_bin("KAMAILIO_BIN", "kamailio") else {
        panic!(
            "{test} needs a Kamailio binary: set KAMAILIO_BIN or put kamailio on PATH \
             (Debian: apt-get install kamailio)"
        );
    };
    let built_for = (
        mediaproxy::host::kamailio::sys::KAMAILIO_VERSION.to_string(),
        mediaproxy::host::kamailio::sys::KAMAILIO_FLAGS.to_string(),
    );
    let found = version_and_flags(&bin);
    assert_eq!(
        found,
        built_for,
        "{} is not the Kamailio the module was built for: build with the same KAMAILIO_BIN",
        bin.display()
    );
    let modules_dir = modules_dir(
        "KAMAILIO_MODULES_DIR",
        &bin,
        &[
            "lib/x86_64-linux-gnu/kamailio/modules",
            "lib64/kamailio/modules",
            "lib/kamailio/modules",
        ],
    );
    let module_so = built_module(
        "kamailio-headers",
        &["src/host/opensips"],
        "cargo build --lib --features kamailio",
    );
    Host {
        bin,
        modules_dir,
        module_so,
        version: found.0,
    }
}

/// `cfg-examples/kamailio.cfg` with this test's paths and ports, plus `extra` lines before
/// the routing logic.
pub fn render_example(host: &Host, site: &Site, extra: &str) -> PathBuf {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("cfg-examples");
    let mut cfg = std::fs::read_to_string(examples.join("kamailio.cfg"))
        .expect("read cfg-examples/kamailio.cfg");
    let substitutions = [
        (
            "mpath=\"/usr/lib/x86_64-linux-gnu/kamailio/modules/\"".to_string(),
            format!("mpath=\"{}/\"", host.modules_dir.display()),
        ),
        (
            "loadmodule \"/usr/local/lib/kamailio/mediaproxy.so\"".into(),
            format!("loadmodule \"{}\"", host.module_so.display()),
        ),
        (
            "listen=udp:127.0.0.1:5060".into(),
            format!("listen=udp:{}:{}", site.ip, site.sip_port),
        ),
        (
            "modparam(\"mediaproxy\", \"listen_ip\", \"127.0.0.1\")".into(),
            format!("modparam(\"mediaproxy\", \"listen_ip\", \"{}\")", site.ip),
        ),
        (
            "\"/run/mediaproxy/dispatcher.sock\"".into(),
            format!("\"{}\"", site.control_socket().display()),
        ),
        (
            "\"unix:/run/kamailio/kamailio_ctl\"".into(),
            format!("\"unix:{}\"", site.dir.join("ctl.sock").display()),
        ),
        (
            "\"/run/kamailio/kamailio_rpc.fifo\"".into(),
            format!("\"{}\"", site.dir.join("rpc.fifo").display()),
        ),
        (
            "\"40000-49999\"".into(),
            format!("\"{}-{}\"", site.port_range.0, site.port_range.1),
        ),
        (
            "\"/etc/kamailio/sip-asymmetric-clients\"".into(),
            format!("\"{}\"", examples.join("sip-asymmetric-clients").display()),
        ),
        (
            "\"/etc/kamailio/rtp-asymmetric-clients\"".into(),
            format!("\"{}\"", examples.join("rtp-asymmetric-clients").display()),
        ),
        (
            "####### Routing logic #########".into(),
            format!("{extra}\n\n####### Routing logic #########"),
        ),
    ];
    for (from, to) in &substitutions {
        cfg = replace_once(&cfg, from, to);
    }
    site.write_cfg(&cfg)
}

/// `kamcmd <args>` against the ctl socket of the site's Kamailio: whether it succeeded, and
/// what it printed (stdout and stderr).
pub fn kamcmd(site: &Site, args: &[&str]) -> (bool, String) {
    let sock = format!("unix:{}", site.dir.join("ctl.sock").display());
    let out = Command::new("kamcmd")
        .args(["-s", &sock])
        .args(args)
        .output()
        .expect("run kamcmd (Debian's kamailio package has it)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Kamailio in the foreground with its children (`-DD`), logging to stderr (`-E`) into a file
/// in the site directory, its runtime directory (`-Y`) there too (inside `site.netns` when
/// set).
pub fn start(host: &Host, site: &Site, cfg: &Path) -> Running {
    let (rt, pid) = (site.dir.join("rt"), site.dir.join("kamailio.pid"));
    let mut args: Vec<&OsStr> = ["-DD", "-E", "-m", "64", "-M", "16"]
        .map(OsStr::new)
        .to_vec();
    for (flag, value) in [
        ("-Y", rt.as_os_str()),
        ("-w", site.dir.as_os_str()),
        ("-P", pid.as_os_str()),
        ("-f", cfg.as_os_str()),
    ] {
        args.extend([OsStr::new(flag), value]);
    }
    spawn_logged(site, &host.bin, &args, site.dir.join("kamailio.log"))
}
