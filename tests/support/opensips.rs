//! Running a real OpenSIPS with the module this crate just built.
//!
//! The binary comes from `OPENSIPS_BIN`, else `opensips` on `PATH`. The tests that need it are
//! `#[ignore]`d; `scripts/test.sh` includes them when there is one (a test asked to run
//! without one fails).
//! The module directory of the other modules is `OPENSIPS_MODULES_DIR`, else found beside the
//! binary (`<prefix>/lib64/opensips/modules`, `<prefix>/lib/opensips/modules`) or in Debian's
//! place.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

#[allow(unused_imports)]
pub use super::process::{
    alive, children_of, find_bin, loud, module_so, replace_once, thread_count, wait_until, Host,
    Running, Site,
};
use super::process::{built_module, modules_dir, spawn_logged};
#[allow(unused_imports)]
pub use super::sipcall::try_ask as ask;

fn dash_v(bin: &Path) -> String {
    let out = Command::new(bin)
        .arg("-V")
        .output()
        .expect("run opensips -V");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("version: "))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The OpenSIPS to test against. The tests that need one are `#[ignore]`d (`scripts/test.sh`
/// includes them when there is one), so a test asking for it fails when there is none.
pub fn host(test: &str) -> Host {
    let Some(bin) = find_bin("OPENSIPS_BIN", "opensips") else {
        panic!("{test} needs an OpenSIPS binary: set OPENSIPS_BIN or put opensips on PATH");
    };
    let version = dash_v(&bin);
    assert_eq!(
        version,
        mediaproxy::host::opensips::sys::OPENSIPS_VERSION,
        "{} is {version:?} but the module was built for {:?}: build with the same OPENSIPS_BIN",
        bin.display(),
        mediaproxy::host::opensips::sys::OPENSIPS_VERSION
    );
    let modules_dir = modules_dir(
        "OPENSIPS_MODULES_DIR",
        &bin,
        &[
            "lib64/opensips/modules",
            "lib/opensips/modules",
            "/usr/lib/x86_64-linux-gnu/opensips/modules",
        ],
    );
    let module_so = built_module(
        "opensips-headers",
        &["src/host/kamailio", "build/kamailio.rs"],
        "cargo build --lib",
    );
    Host {
        bin,
        modules_dir,
        module_so,
        version,
    }
}

/// `cfg-examples/opensips.cfg` with this test's paths and ports, plus `extra` lines appended
/// after the module parameters.
pub fn render_example(host: &Host, site: &Site, extra: &str) -> PathBuf {
    render_cfg(host, site, "opensips.cfg", extra)
}

/// `cfg-examples/opensips-rtp_relay.cfg` (mediaproxy.so as the rtp_relay engine), rendered as
/// [`render_example`] does.
pub fn render_rtp_relay_example(host: &Host, site: &Site, extra: &str) -> PathBuf {
    render_cfg(host, site, "opensips-rtp_relay.cfg", extra)
}

/// `cfg-examples/opensips-rtp_relay-b2b.cfg` (the rtp_relay engine behind b2b_logic's
/// topology hiding), rendered as [`render_example`] does.
pub fn render_rtp_relay_b2b_example(host: &Host, site: &Site, extra: &str) -> PathBuf {
    render_cfg(host, site, "opensips-rtp_relay-b2b.cfg", extra)
}

/// `cfg-examples/opensips-rtp_relay-branch.cfg` (the rtp_relay engine engaged per branch),
/// rendered as [`render_example`] does.
pub fn render_rtp_relay_branch_example(host: &Host, site: &Site, extra: &str) -> PathBuf {
    render_cfg(host, site, "opensips-rtp_relay-branch.cfg", extra)
}

/// `cfg-examples/<file>` with this test's paths and ports, plus `extra` lines appended after
/// the module parameters.
pub fn render_cfg(host: &Host, site: &Site, file: &str, extra: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("cfg-examples")
        .join(file);
    let mut cfg =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    cfg = replace_once(
        &cfg,
        "mpath=\"/usr/lib/x86_64-linux-gnu/opensips/modules/\"",
        &format!("mpath=\"{}/\"", host.modules_dir.display()),
    );
    cfg = replace_once(
        &cfg,
        "loadmodule \"mediaproxy.so\"",
        &format!("loadmodule \"{}\"", host.module_so.display()),
    );
    cfg = replace_once(
        &cfg,
        "socket=udp:127.0.0.1:5060",
        &format!("socket=udp:{}:{}", site.ip, site.sip_port),
    );
    cfg = replace_once(
        &cfg,
        "modparam(\"mediaproxy\", \"listen_ip\", \"127.0.0.1\")",
        &format!("modparam(\"mediaproxy\", \"listen_ip\", \"{}\")", site.ip),
    );
    cfg = replace_once(
        &cfg,
        "\"/run/mediaproxy/dispatcher.sock\"",
        &format!("\"{}\"", site.control_socket().display()),
    );
    cfg = replace_once(
        &cfg,
        "\"/tmp/opensips_fifo\"",
        &format!("\"{}\"", site.dir.join("fifo").display()),
    );
    cfg = replace_once(
        &cfg,
        "\"40000-49999\"",
        &format!("\"{}-{}\"", site.port_range.0, site.port_range.1),
    );
    for list in ["sip-asymmetric-clients", "rtp-asymmetric-clients"] {
        cfg = replace_once(
            &cfg,
            &format!("\"/etc/opensips/{list}\""),
            &format!("\"{}/cfg-examples/{list}\"", env!("CARGO_MANIFEST_DIR")),
        );
    }
    if !extra.is_empty() {
        cfg = replace_once(
            &cfg,
            "####### Routing logic #########",
            &format!("{extra}\n\n####### Routing logic #########"),
        );
    }
    let path = site.cfg_path();
    std::fs::write(&path, cfg).expect("write cfg");
    path
}

/// `opensips -c -f cfg`.
pub fn check_config(host: &Host, cfg: &Path) -> Output {
    super::process::check_config(&host.bin, cfg)
}

/// Starts OpenSIPS in the foreground (`-F`), logging to a file in the site directory (inside
/// `site.netns` when set).
pub fn start(host: &Host, site: &Site, cfg: &Path) -> Running {
    let pid = site.dir.join("opensips.pid");
    let mut args: Vec<&OsStr> = ["-F", "-m", "64", "-M", "16", "-w"]
        .map(OsStr::new)
        .to_vec();
    args.extend([site.dir.as_os_str(), OsStr::new("-P"), pid.as_os_str()]);
    args.extend([OsStr::new("-f"), cfg.as_os_str()]);
    spawn_logged(site, &host.bin, &args, site.dir.join("opensips.log"))
}

/// One MI command through mi_fifo (`:reply_fifo:{json-rpc}`); returns the JSON reply text.
pub fn mi(site: &Site, method: &str, params: &str) -> Result<String, String> {
    use std::io::Read;
    let fifo = site.dir.join("fifo");
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let reply_name = format!("mpx_reply_{}_{n}", std::process::id());
    let reply = Path::new("/tmp").join(&reply_name);
    let _ = std::fs::remove_file(&reply);
    let ok = Command::new("mkfifo")
        .arg("-m")
        .arg("0666")
        .arg(&reply)
        .status()
        .map_err(|e| e.to_string())?;
    if !ok.success() {
        return Err("mkfifo failed".into());
    }
    let req = format!(
        ":{reply_name}:{{\"jsonrpc\":\"2.0\",\"method\":\"{method}\",\"params\":{params},\"id\":1}}\n"
    );
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .map_err(|e| format!("open {}: {e}", fifo.display()))?;
    f.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    drop(f);
    // the reply fifo: open blocks until OpenSIPS opens it for writing; bound it with a thread
    let (tx, rx) = std::sync::mpsc::channel();
    let path = reply.clone();
    std::thread::spawn(move || {
        let mut s = String::new();
        let r = std::fs::File::open(&path).and_then(|mut f| f.read_to_string(&mut s));
        let _ = tx.send(r.map(|_| s));
    });
    let out = rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| "no MI reply within 5 s".to_string())?
        .map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&reply);
    out
}

/// `get_statistics mediaproxy:` through MI (the JSON reply).
pub fn statistics(site: &Site) -> String {
    mi(site, "get_statistics", "{\"statistics\":[\"mediaproxy:\"]}").expect("get_statistics")
}

/// One `mediaproxy:<name>` figure of a `statistics()` reply.
pub fn stat(stats: &str, name: &str) -> u64 {
    let key = format!("\"mediaproxy:{name}\":");
    let at = stats
        .find(&key)
        .unwrap_or_else(|| panic!("{key} not in {stats}"))
        + key.len();
    stats[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {stats}"))
}

/// The MI name of one of our commands: `mediaproxy:<cmd>` on 4.0, `mediaproxy_<cmd>` on 3.6.
pub fn mi_name(host: &Host, cmd: &str) -> String {
    if host.version.contains(" 4.0.") {
        format!("mediaproxy:{cmd}")
    } else {
        format!("mediaproxy_{cmd}")
    }
}
