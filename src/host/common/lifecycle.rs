//! The host-neutral part of the module's life cycle: what `mod_init` checks and prepares in
//! the attendant before any fork, the validated settings every forked process inherits, and
//! the control socket's clean-up at shutdown.

use std::ffi::c_int;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use once_cell::sync::OnceCell;

use super::guard::{install_hook, mark_host_thread};
use super::log::{emit, guard, HostLogger, Level};
use super::params;
use super::relay;
use crate::config::{Config, RelayMode};

static CONFIG: OnceCell<Config> = OnceCell::new();
static ATTENDANT_PID: OnceCell<u32> = OnceCell::new();

/// True in the attendant (the process that ran `mod_init`), false in every forked child.
pub fn is_attendant() -> bool {
    ATTENDANT_PID.get() == Some(&std::process::id())
}

/// The validated configuration (set in `mod_init`, inherited by every forked process).
pub fn config() -> Option<&'static Config> {
    CONFIG.get()
}

/// Whether this configuration runs the relay process of the module's own: the embedded relay,
/// or the dispatcher of remote relays (`relay_mode = "remote"`), or both.
pub fn embedded(cfg: &Config) -> bool {
    matches!(cfg.relay_mode, RelayMode::Embedded | RelayMode::Remote) && !cfg.disable
}

fn prepare_socket_dir(path: &Path) -> Result<(), String> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create the directory {} for mediaproxy_socket: {e}",
            dir.display()
        )
    })
}

/// `mod_init`'s common part, in the attendant: reads every modparam, validates them into a
/// [`Config`] (the error is the one line to log), creates the control socket's directory for
/// the embedded relay and maps the counters every process shares. The host finishes its own
/// initialisation and then calls [`install`].
pub fn prepare() -> Result<Config, String> {
    let _ = ATTENDANT_PID.set(std::process::id());
    let cfg = Config::from_raw(&params::read_raw()).map_err(|e| e.to_string())?;
    if embedded(&cfg) {
        prepare_socket_dir(&cfg.mediaproxy_socket)?;
        if let Some(d) = crate::remote::settings::dispatcher(&cfg) {
            // the TLS files are read again when the dispatcher starts: refuse bad ones now
            crate::remote::tls::server_config(&d.tls)
                .map_err(|e| format!("relay_cert/relay_key/relay_ca: {e}"))?;
        }
    }
    relay::init_counters()?;
    Ok(cfg)
}

/// Makes `cfg` the settings of this process and of every process forked after.
pub fn install(cfg: Config) {
    let _ = CONFIG.set(cfg);
}

/// At shutdown (after the relay process ended): removes the control socket file if the
/// embedded relay left it behind. Returns a warning to log when it cannot.
pub fn remove_socket_file() -> Option<String> {
    let cfg = config()?;
    if !embedded(cfg) {
        return None;
    }
    let path = &cfg.mediaproxy_socket;
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_socket() {
        return None;
    }
    std::fs::remove_file(path)
        .err()
        .map(|e| format!("cannot remove {}: {e}", path.display()))
}

/// What a host's own part of `mod_init` found.
pub struct HostInit {
    /// The dialog module's API is bound (`engage_media_proxy()` works).
    pub dialog: bool,
    /// The host this module runs in, for the start-up line.
    pub host: String,
}

/// `mod_init` for every host (attendant / main process, before any fork): validates and
/// prepares ([`prepare`]), runs the host's own part (AVPs, dialog API, the relay's process),
/// logs the start-up line and installs the settings. A failure is one error line and -1,
/// which stops the proxy.
pub fn mod_init<H: HostLogger>(
    log: &H,
    host: impl FnOnce(&Config) -> Result<HostInit, String>,
) -> c_int {
    install_hook();
    mark_host_thread();
    guard(log, "mod_init", -1, || {
        let (cfg, init) = match prepare().and_then(|cfg| host(&cfg).map(|i| (cfg, i))) {
            Ok(r) => r,
            Err(e) => {
                emit(log, Level::Err, "mod_init", format_args!("{e}"));
                return -1;
            }
        };
        if !init.dialog {
            emit(
                log,
                Level::Info,
                "mod_init",
                format_args!("dialog module not loaded: engage_media_proxy() is unavailable"),
            );
        }
        emit(
            log,
            Level::Info,
            "mod_init",
            format_args!(
                "mediaproxy.so {} for {}: relay_mode={:?}{}, socket {}",
                env!("CARGO_PKG_VERSION"),
                init.host,
                cfg.relay_mode,
                if cfg.disable { " (disabled)" } else { "" },
                cfg.mediaproxy_socket.display()
            ),
        );
        if cfg.relay_mode == RelayMode::External
            && (cfg.relay.record_all || cfg.relay.recording_dir.is_some())
        {
            emit(
                log,
                Level::Warn,
                "mod_init",
                format_args!(
                    "recording_dir and record_all apply to this module's relay only: with relay_mode=external nothing is recorded (run mediaproxy-relay with --recording-dir instead)"
                ),
            );
        }
        install(cfg);
        0
    })
}

/// `mod_destroy` for every host (after the children exited): the socket clean-up.
pub fn mod_destroy<H: HostLogger>(log: &H) {
    guard(log, "mod_destroy", (), || {
        if let Some(w) = remove_socket_file() {
            emit(log, Level::Warn, "mod_destroy", format_args!("{w}"));
        }
    })
}
