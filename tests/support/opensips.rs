//! Running a real OpenSIPS with the module this crate just built.
//!
//! The binary comes from `OPENSIPS_BIN`, else `opensips` on `PATH`. Without one, every test
//! that needs it prints a loud SKIPPED line straight to the terminal (not captured) and returns.
//! The module directory of the other modules is `OPENSIPS_MODULES_DIR`, else found beside the
//! binary (`<prefix>/lib64/opensips/modules`, `<prefix>/lib/opensips/modules`) or in Debian's
//! place.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Host {
    pub bin: PathBuf,
    pub modules_dir: PathBuf,
    pub module_so: PathBuf,
    pub version: String,
}

/// Prints past the test harness's output capture, so a skip is always seen.
pub fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

fn find_bin() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("OPENSIPS_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(b));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("opensips"))
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

/// The OpenSIPS to test against, or `None` (after a loud SKIPPED line) when there is none.
pub fn host(test: &str) -> Option<Host> {
    let Some(bin) = find_bin() else {
        loud(&format!(
            "SKIPPED {test}: no OpenSIPS binary (set OPENSIPS_BIN or put opensips on PATH)"
        ));
        return None;
    };
    let version = dash_v(&bin);
    assert_eq!(
        version,
        mediaproxy::host::opensips::sys::OPENSIPS_VERSION,
        "{} is {version:?} but the module was built for {:?}: build with the same OPENSIPS_BIN",
        bin.display(),
        mediaproxy::host::opensips::sys::OPENSIPS_VERSION
    );
    let modules_dir = match std::env::var_os("OPENSIPS_MODULES_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let prefix = bin
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("/usr"));
            [
                prefix.join("lib64/opensips/modules"),
                prefix.join("lib/opensips/modules"),
                PathBuf::from("/usr/lib/x86_64-linux-gnu/opensips/modules"),
            ]
            .into_iter()
            .find(|d| d.join("tm.so").is_file())
            .unwrap_or_else(|| panic!("no OpenSIPS module dir found; set OPENSIPS_MODULES_DIR"))
        }
    };
    let module_so = module_so();
    assert!(
        module_so.is_file(),
        "{} missing: `cargo test` builds only the rlib; run `cargo build --lib` first with the \
         same OPENSIPS_BIN (scripts/test.sh does)",
        module_so.display()
    );
    let built = std::fs::metadata(&module_so)
        .and_then(|m| m.modified())
        .expect("mtime");
    if let Some(newer) = newest_source_after(built) {
        panic!(
            "{} is older than {}: run `cargo build --lib` first (scripts/test.sh does)",
            module_so.display(),
            newer.display()
        );
    }
    Some(Host {
        bin,
        modules_dir,
        module_so,
        version,
    })
}

/// A source file changed after the module was built, if any.
fn newest_source_after(built: std::time::SystemTime) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![
        root.join("src"),
        root.join("opensips-headers"),
        root.join("build.rs"),
    ];
    while let Some(p) = stack.pop() {
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

/// Per-test settings substituted into the example config.
pub struct Site {
    pub dir: PathBuf,
    /// The SIP socket's address and the relay's `listen_ip` (127.0.0.1 unless set).
    pub ip: String,
    pub sip_port: u16,
    pub port_range: (u16, u16),
    /// Network namespace OpenSIPS runs in (`ip netns exec`), if any.
    pub netns: Option<String>,
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

    /// OpenSIPS inside network namespace `netns`, listening (SIP and relay) on `ip`.
    pub fn in_netns(mut self, netns: &str, ip: &str) -> Site {
        self.netns = Some(netns.to_string());
        self.ip = ip.to_string();
        self
    }
    pub fn control_socket(&self) -> PathBuf {
        self.dir.join("run/dispatcher.sock")
    }
    pub fn cfg_path(&self) -> PathBuf {
        self.dir.join("opensips.cfg")
    }
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the example config no longer contains {from:?}; update the test's substitutions"
    );
    text.replacen(from, to, 1)
}

/// `cfg-examples/opensips.cfg` with this test's paths and ports, plus `extra` lines appended
/// after the module parameters.
pub fn render_example(host: &Host, site: &Site, extra: &str) -> PathBuf {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/cfg-examples/opensips.cfg"
    ))
    .expect("read cfg-examples/opensips.cfg");
    let mut cfg = src;
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
    Command::new(&host.bin)
        .args(["-c", "-f"])
        .arg(cfg)
        .output()
        .expect("run opensips -c")
}

/// OpenSIPS in the foreground (`-F`), logging to a file in the site directory.
pub struct Running {
    pub child: Child,
    pub log: PathBuf,
}

/// Starts OpenSIPS (inside `site.netns` when set: `ip netns exec` execs it, so the child's
/// pid is still OpenSIPS's main process).
pub fn start(host: &Host, site: &Site, cfg: &Path) -> Running {
    let log = site.dir.join("opensips.log");
    let logf = std::fs::File::create(&log).expect("log file");
    let mut cmd = match &site.netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(&host.bin);
            c
        }
        None => Command::new(&host.bin),
    };
    let child = cmd
        .args(["-F", "-m", "64", "-M", "16", "-w"])
        .arg(&site.dir)
        .arg("-P")
        .arg(site.dir.join("opensips.pid"))
        .arg("-f")
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(logf.try_clone().expect("dup log"))
        .stderr(logf)
        .spawn()
        .expect("start opensips");
    Running { child, log }
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

    pub fn terminate(&mut self) {
        let pid = self.child.id() as i32;
        // SIGTERM to the main (attendant) process: OpenSIPS's own shutdown sequence
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
}

impl Drop for Running {
    /// A test that failed half-way: SIGTERM first (OpenSIPS then stops its own processes);
    /// only if it has not stopped after a bounded wait, SIGKILL the attendant and each of its
    /// children by pid (SIGKILL to the attendant alone would leave its workers running).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
            if self.wait_exit(Duration::from_secs(10)).is_none() {
                let children = children_of(self.child.id());
                let _ = self.child.kill();
                let _ = self.child.wait();
                for pid in children {
                    // SAFETY: plain kill(2) of a child of the OpenSIPS this test started.
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

/// One control-socket command (`summary`, `sessions`, ...): its one-line answer.
pub fn ask(socket: &Path, cmd: &str) -> std::io::Result<String> {
    use std::io::BufRead;
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{cmd}\r\n").as_bytes())?;
    let mut line = String::new();
    std::io::BufReader::new(s).read_line(&mut line)?;
    Ok(line)
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
