//! What the tests that run a real proxy need whichever proxy it is: finding its binary, the
//! module this crate just built (and refusing a stale one), the proxy running in the
//! foreground with its log in a file, and its processes and threads from /proc.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime};

/// Prints past the test harness's output capture, so a skip is always seen.
pub fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

/// The binary named by the variable `var`, else `name` on `PATH`.
pub fn find_bin(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(b) = std::env::var_os(var).filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(b));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The built cdylib: `target/<profile>/libmediaproxy.so`, beside this test's `deps/` folder.
pub fn module_so() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    profile_dir.join("libmediaproxy.so")
}

/// A source file (under `src/`, `build.rs`, `build/`, `shim-common/` or the host's `headers`
/// folder, but not the other host's files `skip`) changed after the module was built, if any.
fn newest_source_after(built: SystemTime, headers: &str, skip: &[&str]) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let skip: Vec<PathBuf> = skip.iter().map(|s| root.join(s)).collect();
    let mut stack = vec![
        root.join("src"),
        root.join(headers),
        root.join("build.rs"),
        root.join("build"),
        root.join("shim-common"),
    ];
    while let Some(p) = stack.pop() {
        if skip.iter().any(|s| p.starts_with(s)) {
            continue;
        }
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if std::fs::metadata(&p)
            .and_then(|m| m.modified())
            .is_ok_and(|m| m > built)
        {
            return Some(p);
        }
    }
    None
}

/// The built module, after checking it exists and is newer than every source it is built
/// from (`headers`: the host's headers folder; `skip`: the other host's files, which this
/// build does not compile; `build`: the command that builds it).
pub fn built_module(headers: &str, skip: &[&str], build: &str) -> PathBuf {
    let so = module_so();
    assert!(
        so.is_file(),
        "{} missing: `cargo test` builds only the rlib; run `{build}` first (scripts/test.sh does)",
        so.display()
    );
    let built = std::fs::metadata(&so)
        .and_then(|m| m.modified())
        .expect("mtime");
    if let Some(newer) = newest_source_after(built, headers, skip) {
        panic!(
            "{} is older than {}: run `{build}` first (scripts/test.sh does)",
            so.display(),
            newer.display()
        );
    }
    so
}

pub fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the example config no longer contains {from:?}; update the test's substitutions"
    );
    text.replacen(from, to, 1)
}

/// A proxy's binary and the module it loads.
pub struct Host {
    pub bin: PathBuf,
    /// The directory of its other modules (the config's mpath).
    pub modules_dir: PathBuf,
    /// The mediaproxy.so the config loads (by default the one this crate just built).
    pub module_so: PathBuf,
    /// What the binary says it is, e.g. "opensips 4.0.1 (x86_64/linux)".
    pub version: String,
}

/// A proxy running in the foreground, its stdout and stderr in `log`.
pub struct Running {
    pub child: Child,
    pub log: PathBuf,
}

impl Running {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) for the process to exit by itself; returns its exit status code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGTERM to the main process: the proxy's own shutdown sequence.
    pub fn terminate(&mut self) {
        let pid = self.child.id() as i32;
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
}

impl Drop for Running {
    /// A test that failed half-way: SIGTERM first (the proxy then stops its own processes);
    /// only if it has not stopped after a bounded wait, SIGKILL the main process and each of
    /// its children by pid (SIGKILL to the main process alone would leave its workers running).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
            if self.wait_exit(Duration::from_secs(10)).is_none() {
                let children = children_of(self.child.id());
                let _ = self.child.kill();
                let _ = self.child.wait();
                for pid in children {
                    // SAFETY: plain kill(2) of a child of the proxy this test started.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
            }
        }
    }
}

/// Every process whose parent is `pid` (from /proc).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let ppid = after.split_whitespace().nth(1).and_then(|s| s.parse().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

pub fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

pub fn alive(pid: u32) -> bool {
    // a zombie still has a /proc entry; count it as gone
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rfind(')')
            .map(|i| s[i + 1..].trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Per-test settings substituted into the example config.
pub struct Site {
    pub dir: PathBuf,
    /// The SIP socket's address and the relay's `listen_ip` (127.0.0.1 unless set).
    pub ip: String,
    pub sip_port: u16,
    pub port_range: (u16, u16),
    /// Network namespace the proxy runs in (`ip netns exec`), if any.
    pub netns: Option<String>,
}

/// Whether to keep every test's directory (`MPX_KEEP=1`; `MPX_E2E_KEEP=1` too).
pub fn keep_dirs() -> bool {
    ["MPX_KEEP", "MPX_E2E_KEEP"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty() && v != "0"))
}

impl Drop for Site {
    /// A passing test removes its directory (config, logs); a failing one keeps it for a look
    /// and says where, as does every test with `MPX_KEEP=1`. The proxy using it was stopped
    /// already: it is declared after its site, so it is dropped first.
    fn drop(&mut self) {
        if std::thread::panicking() || keep_dirs() {
            if self.dir.exists() {
                loud(&format!("kept {}", self.dir.display()));
            }
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Site {
    pub fn new(name: &str, sip_port: u16, port_range: (u16, u16)) -> Site {
        let dir = std::env::temp_dir().join(format!("mpx-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test dir");
        Site {
            dir,
            ip: "127.0.0.1".to_string(),
            sip_port,
            port_range,
            netns: None,
        }
    }

    /// The proxy inside network namespace `netns`, listening (SIP and relay) on `ip`.
    pub fn in_netns(mut self, netns: &str, ip: &str) -> Site {
        self.netns = Some(netns.to_string());
        self.ip = ip.to_string();
        self
    }
    pub fn control_socket(&self) -> PathBuf {
        self.dir.join("run/dispatcher.sock")
    }
    pub fn cfg_path(&self) -> PathBuf {
        self.dir.join("proxy.cfg")
    }
}

/// Each entry: the modparam line, and the message mod_init must log before start-up stops.
pub const BAD_PARAMS: &[(&str, &str)] = &[
    (
        r#"modparam("mediaproxy", "relay_mode", "remote")"#,
        r#"invalid value "remote" for modparam "relay_mode""#,
    ),
    (
        r#"modparam("mediaproxy", "relay_listen", "0.0.0.0:25060")"#,
        r#"invalid value "0.0.0.0:25060" for modparam "relay_listen""#,
    ),
    (
        "modparam(\"mediaproxy\", \"relay_listen\", \"tls:127.0.0.1:25999\")\n\
         modparam(\"mediaproxy\", \"relay_cert\", \"/nonexistent/p.pem\")\n\
         modparam(\"mediaproxy\", \"relay_key\", \"/nonexistent/p.key\")\n\
         modparam(\"mediaproxy\", \"relay_ca\", \"/nonexistent/ca.pem\")",
        "relay_cert/relay_key/relay_ca: /nonexistent/ca.pem",
    ),
    (
        r#"modparam("mediaproxy", "disable", 3)"#,
        r#"invalid value "3" for modparam "disable""#,
    ),
    (
        r#"modparam("mediaproxy", "mediaproxy_socket", "relative.sock")"#,
        r#"invalid value "relative.sock" for modparam "mediaproxy_socket""#,
    ),
    (
        r#"modparam("mediaproxy", "mediaproxy_timeout", 0)"#,
        r#"invalid value "0" for modparam "mediaproxy_timeout""#,
    ),
    (
        r#"modparam("mediaproxy", "signaling_ip_avp", "mp_ip")"#,
        r#"invalid value "mp_ip" for modparam "signaling_ip_avp""#,
    ),
    (
        r#"modparam("mediaproxy", "media_relay_avp", "$var(x)")"#,
        r#"invalid value "$var(x)" for modparam "media_relay_avp""#,
    ),
    (
        r#"modparam("mediaproxy", "ice_candidate", "medium")"#,
        r#"invalid value "medium" for modparam "ice_candidate""#,
    ),
    (
        r#"modparam("mediaproxy", "ice_candidate_avp", "$avp()")"#,
        r#"invalid value "$avp()" for modparam "ice_candidate_avp""#,
    ),
    (
        r#"modparam("mediaproxy", "sip_asymmetrics", "/nonexistent/sip")"#,
        r#"invalid value "/nonexistent/sip" for modparam "sip_asymmetrics""#,
    ),
    (
        r#"modparam("mediaproxy", "rtp_asymmetrics", "/nonexistent/rtp")"#,
        r#"invalid value "/nonexistent/rtp" for modparam "rtp_asymmetrics""#,
    ),
    (
        r#"modparam("mediaproxy", "natping_interval", -1)"#,
        r#"invalid value "-1" for modparam "natping_interval""#,
    ),
    (
        r#"modparam("mediaproxy", "relay_mode", "kernel")"#,
        r#"invalid value "kernel" for modparam "relay_mode""#,
    ),
    (
        r#"modparam("mediaproxy", "listen_ip", "relay.example.com")"#,
        r#"invalid value "relay.example.com" for modparam "listen_ip""#,
    ),
    (
        r#"modparam("mediaproxy", "advertised_ip", "300.1.1.1")"#,
        r#"invalid value "300.1.1.1" for modparam "advertised_ip""#,
    ),
    (
        r#"modparam("mediaproxy", "port_range", "40001-50000")"#,
        r#"invalid value "40001-50000" for modparam "port_range""#,
    ),
    (
        r#"modparam("mediaproxy", "relay_threads", 0)"#,
        r#"invalid value "0" for modparam "relay_threads""#,
    ),
    (
        r#"modparam("mediaproxy", "setup_timeout", 0)"#,
        r#"invalid value "0" for modparam "setup_timeout""#,
    ),
    (
        r#"modparam("mediaproxy", "media_timeout", -5)"#,
        r#"invalid value "-5" for modparam "media_timeout""#,
    ),
    (
        r#"modparam("mediaproxy", "hold_timeout", 0)"#,
        r#"invalid value "0" for modparam "hold_timeout""#,
    ),
    (
        r#"modparam("mediaproxy", "learn_from_signaling_ip", 2)"#,
        r#"invalid value "2" for modparam "learn_from_signaling_ip""#,
    ),
    (
        r#"modparam("mediaproxy", "relay_io", "aio")"#,
        r#"invalid value "aio" for modparam "relay_io""#,
    ),
    (
        r#"modparam("mediaproxy", "relay_batch_wait", 20000)"#,
        r#"invalid value "20000" for modparam "relay_batch_wait""#,
    ),
    (
        r#"modparam("mediaproxy", "relay_kernel", "xdp")"#,
        r#"invalid value "xdp" for modparam "relay_kernel""#,
    ),
];

/// The children of the proxy's main process, and those with at least four threads: the relay
/// process runs the relay worker threads (2 in the examples), the control thread and its own
/// main thread.
pub fn relay_processes(main_pid: u32) -> (Vec<u32>, Vec<u32>) {
    let children = children_of(main_pid);
    let relays = children
        .iter()
        .copied()
        .filter(|&p| thread_count(p) >= 4)
        .collect();
    (children, relays)
}

/// SIGTERM to the proxy's main process: it must stop (within 20 s) leaving none of `children`
/// behind and no control socket file. Returns its log.
pub fn stop_cleanly(run: &mut Running, children: &[u32], sock: &Path) -> String {
    run.terminate();
    let code = run.wait_exit(Duration::from_secs(20));
    assert!(
        code.is_some(),
        "the proxy did not stop; log:\n{}",
        run.log_text()
    );
    let leftover: Vec<u32> = children.iter().copied().filter(|&p| alive(p)).collect();
    assert!(leftover.is_empty(), "processes left behind: {leftover:?}");
    assert!(!sock.exists(), "control socket file left behind");
    run.log_text()
}

/// Starts the proxy once per entry of [`BAD_PARAMS`] (`start(i, line)`: with that line added,
/// in a site of its own): each must exit non-zero having logged `error_prefix` followed by the
/// entry's message. Panics listing every one that did not.
pub fn each_bad_param_stops_startup(
    error_prefix: &str,
    mut start: impl FnMut(usize, &str) -> (Running, Site),
) {
    let mut failures = Vec::new();
    for (i, (line, expected)) in BAD_PARAMS.iter().enumerate() {
        let (mut run, site) = start(i, line);
        let code = run.wait_exit(Duration::from_secs(15));
        let log = run.log_text();
        let wanted = format!("{error_prefix}{expected}");
        if matches!(code, None | Some(0)) || !log.contains(&wanted) {
            failures.push(format!(
                "{line}: exit {code:?}, wanted {wanted:?}; log:\n{log}"
            ));
        }
        let _ = std::fs::remove_dir_all(&site.dir);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `bin -c -f cfg`: both proxies check a config file so.
pub fn check_config(bin: &Path, cfg: &Path) -> std::process::Output {
    Command::new(bin)
        .args(["-c", "-f"])
        .arg(cfg)
        .output()
        .expect("run the proxy's config check")
}

/// `bin args…` in the foreground, stdout and stderr into the file `log`; inside `site.netns`
/// when set (`ip netns exec` execs the binary, so the child's pid is still the proxy's main
/// process).
pub fn spawn_logged(site: &Site, bin: &Path, args: &[&std::ffi::OsStr], log: PathBuf) -> Running {
    let logf = std::fs::File::create(&log).expect("log file");
    let mut cmd = match &site.netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns.as_str()]).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let child = cmd
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(logf.try_clone().expect("dup log"))
        .stderr(logf)
        .spawn()
        .expect("start the proxy");
    Running { child, log }
}

/// The other modules' directory of a proxy: the variable `var`, else the first of `dirs`
/// (relative to the binary's prefix, then absolute) that holds `tm.so`.
pub fn modules_dir(var: &str, bin: &Path, dirs: &[&str]) -> PathBuf {
    if let Some(d) = std::env::var_os(var) {
        return PathBuf::from(d);
    }
    let prefix = bin
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("/usr"));
    dirs.iter()
        .map(|d| prefix.join(d))
        .find(|d| d.join("tm.so").is_file())
        .unwrap_or_else(|| panic!("no module directory with tm.so found; set {var}"))
}

impl Site {
    /// Writes the rendered config into the site; its path.
    pub fn write_cfg(&self, text: &str) -> PathBuf {
        let path = self.cfg_path();
        std::fs::write(&path, text).expect("write cfg");
        path
    }
}

/// One `update` written by hand on the relay's control socket `sock`, as any dispatcher client
/// would (an audio stream at 127.0.0.1:4000, signalling from 127.0.0.1); asserts that the answer
/// names the relay, and keeps the connection open for the caller.
pub fn raw_update(sock: &Path, call_id: &str) -> std::os::unix::net::UnixStream {
    use std::io::{BufRead, BufReader};
    let mut s = std::os::unix::net::UnixStream::connect(sock).expect("control socket");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        format!(
            "update\r\ntype: request\r\ncall_id: {call_id}\r\ncseq: 1\r\nfrom_uri: a@x\r\n\
             to_uri: b@x\r\nfrom_tag: ft\r\nto_tag: \r\nuser_agent: t\r\nsignaling_ip: 127.0.0.1\r\n\
             media: audio:127.0.0.1:4000:sendrecv:ice=no\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(line.starts_with("127.0.0.1 "), "update answer: {line:?}");
    s
}
