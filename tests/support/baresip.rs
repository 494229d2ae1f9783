//! Real ICE user agents for the NAT lab: Debian's baresip (1.0, `ice` module: full ICE, RFC
//! 5245) run headless in a user agent's namespace, and the STUN server its ICE gathering needs
//! (a few lines here, on the proxy's public address).
//!
//! baresip has no sound card here: the source is a sine (`ausine`), the player a bridge to
//! nowhere (`aubridge`); RTP is PCMU on port 6000 (`rtp_ports`), where the lab's counters
//! look. `-s` traces every SIP message into its log, where a test reads what it received.
#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Whether baresip and its modules are installed.
pub fn available() -> Option<String> {
    let bin = Path::new("/usr/bin/baresip");
    let ice = Path::new("/usr/lib/baresip/modules/ice.so");
    (!(bin.is_file() && ice.is_file()))
        .then(|| "baresip with its ice module not installed (apt-get install baresip-core)".into())
}

pub struct Baresip {
    pub name: String,
    /// Its SIP address, `ip:5060`.
    pub sip: String,
    child: Child,
    pub log: PathBuf,
}

impl Baresip {
    /// Starts baresip in namespace `ns`, SIP on `ip`:5060, with one account (`aor` plus
    /// account parameters), ICE through the STUN server `stun` (`ip:port`), and runs `cmds`
    /// (menu commands such as `/dial sip:bob@…`) once started.
    pub fn start(
        dir: &Path,
        name: &str,
        ns: &str,
        ip: &str,
        account: &str,
        cmds: &[&str],
    ) -> Baresip {
        let conf = dir.join(format!("baresip-{name}"));
        let _ = std::fs::remove_dir_all(&conf);
        std::fs::create_dir_all(&conf).expect("baresip config dir");
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t{ip}:5060\n\
             call_local_timeout\t120\n\
             audio_player\t\taubridge,nowhere\n\
             audio_source\t\tausine,440\n\
             audio_alert\t\taubridge,nowhere\n\
             ausrc_srate\t\t48000\n\
             auplay_srate\t\t48000\n\
             ausrc_channels\t\t2\n\
             auplay_channels\t\t2\n\
             rtp_ports\t\t6000-6001\n\
             rtp_timeout\t\t0\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module\t\t\tausine.so\n\
             module\t\t\taubridge.so\n\
             module\t\t\tice.so\n\
             module_app\t\taccount.so\n\
             module_app\t\tmenu.so\n\
             ice_nomination\t\tregular\n\
             ice_debug\t\tyes\n"
        );
        std::fs::write(conf.join("config"), config).expect("baresip config");
        std::fs::write(conf.join("accounts"), format!("{account}\n")).expect("baresip accounts");
        std::fs::write(conf.join("contacts"), "").expect("baresip contacts");
        let log = dir.join(format!("baresip-{name}.log"));
        let logf = std::fs::File::create(&log).expect("baresip log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, "baresip", "-s", "-f"])
            .arg(&conf);
        for c in cmds {
            cmd.args(["-e", c]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("dup log"))
            .stderr(logf)
            .spawn()
            .expect("start baresip");
        Baresip {
            name: name.to_string(),
            sip: format!("{ip}:5060"),
            child,
            log,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The first lines of the SIP requests and responses it received, from its SIP trace
    /// (each message is traced as `UDP <from> -> <to>` and then the message).
    pub fn received_first_lines(&self) -> Vec<String> {
        let log = self.log_text();
        let to_me = format!("-> {}", self.sip);
        let mut out = Vec::new();
        let mut lines = log.lines();
        while let Some(l) = lines.next() {
            if l.starts_with("UDP ") && l.trim_end().ends_with(&to_me) {
                if let Some(first) = lines.next() {
                    out.push(first.trim().to_string());
                }
            }
        }
        out
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM (baresip hangs up its calls and unregisters), then a bounded wait, then SIGKILL.
    pub fn stop(&mut self) {
        if !self.running() {
            return;
        }
        // SAFETY: plain kill(2) of the child this harness started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if !self.running() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A STUN server (RFC 8489 Binding only): answers each Binding request with the
/// XOR-MAPPED-ADDRESS it came from. Runs until dropped (or 10 minutes at most).
pub struct StunServer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

const MAGIC: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

fn binding_response(req: &[u8], from: std::net::SocketAddr) -> Option<Vec<u8>> {
    if req.len() < 20 || req[0..2] != [0x00, 0x01] || req[4..8] != MAGIC {
        return None;
    }
    let std::net::SocketAddr::V4(v4) = from else {
        return None;
    };
    let mut r = vec![0x01, 0x01, 0x00, 12];
    r.extend_from_slice(&req[4..20]); // cookie and transaction id
    r.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
    r.extend_from_slice(&(v4.port() ^ 0x2112).to_be_bytes());
    let ip = v4.ip().octets();
    r.extend((0..4).map(|k| ip[k] ^ MAGIC[k]));
    Some(r)
}

impl StunServer {
    pub fn start(sock: UdpSocket) -> StunServer {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let handle = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut buf = [0u8; 1500];
            while !stop2.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(600) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    if let Some(r) = binding_response(&buf[..n], from) {
                        let _ = sock.send_to(&r, from);
                    }
                }
            }
        });
        StunServer {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for StunServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
