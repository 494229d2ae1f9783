//! SIPp user agents inside network namespaces, running the scenarios in `tests/scenarios/`.
//!
//! Each run traces its SIP messages to a file (`-trace_msg`), so a test can check what a user
//! agent really received, and its unexpected messages (`-trace_err`). A global `-timeout`
//! bounds every run; the Drop guard kills a run that is still going.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
}

pub struct Sipp {
    pub name: String,
    child: Child,
    status: Option<ExitStatus>,
    out: PathBuf,
    messages: PathBuf,
    errors: PathBuf,
}

/// Options of one SIPp run.
pub struct Run<'a> {
    /// A label for files and messages, e.g. "caller-hold".
    pub name: &'a str,
    pub netns: &'a str,
    pub scenario: &'a str,
    /// Local address (SIP and media).
    pub ip: &'a str,
    pub sip_port: u16,
    pub media_port: u16,
    /// The proxy (`host:port`), for a scenario that starts the call.
    pub remote: Option<&'a str>,
    /// Request-URI user of the first request (`-s`).
    pub service: &'a str,
    /// Call-ID (`-cid_str`; SIPp replaces `%u` with the call number).
    pub call_id: Option<&'a str>,
    /// `-key name value` pairs.
    pub keys: &'a [(&'a str, &'a str)],
    /// Global timeout in seconds.
    pub timeout_s: u32,
}

impl Sipp {
    pub fn start(dir: &Path, r: &Run<'_>) -> Sipp {
        let out = dir.join(format!("sipp-{}.out", r.name));
        let messages = dir.join(format!("sipp-{}.messages", r.name));
        let errors = dir.join(format!("sipp-{}.errors", r.name));
        let outf = std::fs::File::create(&out).expect("sipp output file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", r.netns, "sipp"])
            .arg("-sf")
            .arg(scenario(r.scenario))
            .args(["-i", r.ip, "-p", &r.sip_port.to_string()])
            .args(["-mi", r.ip, "-mp", &r.media_port.to_string()])
            .args(["-s", r.service, "-m", "1", "-nostdin"])
            .args(["-timeout", &format!("{}s", r.timeout_s), "-timeout_error"])
            .args(["-trace_msg", "-message_file"])
            .arg(&messages)
            .args(["-trace_err", "-error_file"])
            .arg(&errors);
        if let Some(cid) = r.call_id {
            cmd.args(["-cid_str", cid]);
        }
        for (k, v) in r.keys {
            cmd.args(["-key", k, v]);
        }
        if let Some(remote) = r.remote {
            cmd.arg(remote);
        }
        let child = cmd
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(outf.try_clone().expect("dup"))
            .stderr(outf)
            .spawn()
            .expect("start sipp");
        Sipp {
            name: r.name.to_string(),
            child,
            status: None,
            out,
            messages,
            errors,
        }
    }

    /// Whether it has ended (and how); never blocks.
    pub fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.status = Some(st);
            }
        }
        self.status
    }

    /// Waits (bounded) for the run to end; `None` if it is still running after `limit`.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.poll() {
                return Some(st);
            }
            if t0.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every SIP message SIPp traced as received, in order.
    pub fn received(&self) -> Vec<String> {
        self.traced("message received")
    }

    /// Every SIP message this run sent.
    pub fn sent(&self) -> Vec<String> {
        self.traced("message sent")
    }

    /// The traced messages whose entry says `what` ("message received", "message sent").
    fn traced(&self, what: &str) -> Vec<String> {
        let text = std::fs::read_to_string(&self.messages).unwrap_or_default();
        // each entry: "----...---- <time>\nUDP message received [n] bytes :\n\n<message>"
        text.split("----------------------------------------------- ")
            .filter_map(|entry| {
                let (head, rest) = entry.split_once('\n')?;
                let _ = head;
                let (kind, msg) = rest.split_once('\n')?;
                kind.contains(what)
                    .then(|| msg.trim_start_matches(['\r', '\n']).to_string())
            })
            .collect()
    }

    /// What to show when the run failed: its exit status, screen, errors and messages.
    pub fn report(&mut self) -> String {
        let st = self.poll();
        let tail = |p: &Path, n: usize| {
            let t = std::fs::read_to_string(p).unwrap_or_default();
            let lines: Vec<&str> = t.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        format!(
            "=== sipp {} (exit {:?}) ===\n--- screen (tail) ---\n{}\n--- unexpected messages ---\n{}\n--- messages (tail) ---\n{}\n",
            self.name,
            st,
            strip_ansi(&tail(&self.out, 40)),
            tail(&self.errors, 60),
            tail(&self.messages, 120)
        )
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if self.poll().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\u{1b}' {
            if it.peek() == Some(&'[') {
                it.next();
                for d in it.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}
