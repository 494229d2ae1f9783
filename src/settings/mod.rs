//! Every setting of the module and of the relay, from one table ([`table::SPECS`]): its name
//! (the `modparam` and, for relay settings, `mediaproxy-relay`'s option), its default, its
//! bounds and its documentation. The module's `modparam` table, [`crate::config`]'s
//! validation, `mediaproxy-relay`'s argument parser and `--help`, and the README's
//! configuration table all come from it. Adding a setting is one room: a field in [`Settings`]
//! (or [`RelayConfig`], with its placeholder in `blank()`) and a row in the table; the
//! `modparam`, the option, the bounds check, `--help` and (for a `modparam`) the README row the
//! test asks for follow.
//!
//! A leaf: nothing here knows the relay runtime, the host or the network; the only I/O is
//! checking that an asymmetric-clients file can be opened.

mod relay;
mod remote;
pub mod table;
mod values;

pub use relay::{
    interface_name_ok, LatchMode, RelayConfig, RelayInterface, RelayIo, RelayKernel,
    MAX_INTERFACES, MAX_INTERFACE_NAME, REBIND_WINDOW,
};

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the relay runs (`relay_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayMode {
    /// Relay threads in a process of the module's own, serving `mediaproxy_socket`.
    Embedded,
    /// No relay process; `mediaproxy_socket` names an external MediaProxy dispatcher.
    External,
    /// A relay process with no media threads: it dispatches to remote relays only
    /// (`relay_listen`).
    Remote,
}

/// `ice_candidate`: whether and how a relay candidate is added to streams that use ICE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceCandidate {
    None,
    LowPriority,
    HighPriority,
}

impl IceCandidate {
    /// Parses the value of the parameter or of `ice_candidate_avp` (case-insensitive).
    pub fn parse(s: &str) -> Option<IceCandidate> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("none") {
            Some(IceCandidate::None)
        } else if s.eq_ignore_ascii_case("low-priority") {
            Some(IceCandidate::LowPriority)
        } else if s.eq_ignore_ascii_case("high-priority") {
            Some(IceCandidate::HighPriority)
        } else {
            None
        }
    }
}

/// The validated settings of the module; `relay` is what the relay runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub disable: bool,
    pub mediaproxy_socket: PathBuf,
    pub mediaproxy_timeout: Duration,
    pub signaling_ip_avp: String,
    pub media_relay_avp: String,
    /// `caller_interface_avp`, `callee_interface_avp`.
    pub interface_avps: [String; 2],
    pub ice_candidate: IceCandidate,
    pub ice_candidate_avp: String,
    pub sip_asymmetrics: Option<PathBuf>,
    pub rtp_asymmetrics: Option<PathBuf>,
    /// Seconds; 0 = off.
    pub natping_interval: u32,
    pub relay_mode: RelayMode,
    /// `learn_from_signaling_ip 1`: the relay's latch policy is `signalling` (see
    /// [`Settings::resolve`]).
    pub learn_from_signaling_ip: bool,
    /// Remote relays connect here (`relay_listen`, TLS); `None`: no remote relays.
    pub relay_listen: Option<SocketAddr>,
    /// The proxy's certificate, its key and the CA of every relay (PEM), with `relay_listen`.
    pub relay_cert: Option<PathBuf>,
    pub relay_key: Option<PathBuf>,
    pub relay_ca: Option<PathBuf>,
    /// How long one relay may take to answer; `None`: derived from `mediaproxy_timeout`.
    pub relay_timeout: Option<Duration>,
    pub relay: RelayConfig,
}

impl Settings {
    fn blank() -> Settings {
        Settings {
            disable: false,
            mediaproxy_socket: PathBuf::new(),
            mediaproxy_timeout: Duration::ZERO,
            signaling_ip_avp: String::new(),
            media_relay_avp: String::new(),
            interface_avps: [String::new(), String::new()],
            ice_candidate: IceCandidate::None,
            ice_candidate_avp: String::new(),
            sip_asymmetrics: None,
            rtp_asymmetrics: None,
            natping_interval: 0,
            relay_mode: RelayMode::Embedded,
            learn_from_signaling_ip: false,
            relay_listen: None,
            relay_cert: None,
            relay_key: None,
            relay_ca: None,
            relay_timeout: None,
            relay: RelayConfig::blank(),
        }
    }

    /// Sets one setting from its text (an option's argument, a default) or integer (an int
    /// `modparam`), checked against its row; `origin` names it in the error.
    pub fn set(&mut self, spec: &Spec, v: Value<'_>, origin: Origin) -> Result<(), SettingError> {
        let refused = |accepted: String| SettingError {
            param: match origin {
                Origin::Option => spec.option.unwrap_or(spec.name),
                _ => spec.name,
            },
            origin,
            value: v.to_string(),
            accepted,
        };
        let parsed = match (spec.kind, v) {
            (Kind::Int { min, max, .. }, v) => {
                let n = match v {
                    Value::Int(n) => Some(n),
                    Value::Text(t) => t.trim().parse::<i64>().ok(),
                };
                match n {
                    Some(n) if (min..=max).contains(&n) => Parsed::Int(n),
                    _ => return Err(refused(spec.accepted())),
                }
            }
            (Kind::Flag, Value::Int(0)) => Parsed::Flag(false),
            (Kind::Flag, Value::Int(1)) => Parsed::Flag(true),
            (Kind::Flag, Value::Text(t)) if t.trim() == "0" => Parsed::Flag(false),
            (Kind::Flag, Value::Text(t)) if t.trim() == "1" => Parsed::Flag(true),
            (Kind::Flag, _) => return Err(refused(spec.accepted())),
            (Kind::Text { .. }, Value::Text(t)) => Parsed::Text(t.trim()),
            (Kind::Text { .. }, Value::Int(_)) => return Err(refused(spec.accepted())),
        };
        (spec.set)(self, parsed).map_err(|why| refused(why.unwrap_or_else(|| spec.accepted())))
    }

    /// What one setting combines with another, once all are set: `learn_from_signaling_ip 1`
    /// selects the `signalling` latch policy.
    pub fn resolve(&mut self) {
        if self.learn_from_signaling_ip {
            self.relay.latch_mode = LatchMode::Signalling;
        }
    }
}

impl Settings {
    /// What a setting requires of another, once all are set: `relay_mode "remote"` needs
    /// `relay_listen`, which needs `relay_cert`, `relay_key` and `relay_ca` (and they need it).
    pub fn check_combinations(&self) -> Result<(), SettingError> {
        let refuse = |param: &'static str, value: String, accepted: &str| SettingError {
            param,
            origin: Origin::Modparam,
            value,
            accepted: accepted.into(),
        };
        if self.relay_mode == RelayMode::Remote && self.relay_listen.is_none() {
            return Err(refuse(
                "relay_mode",
                "remote".into(),
                "\"embedded\" or \"external\" (\"remote\" needs relay_listen)",
            ));
        }
        let files = [
            ("relay_cert", &self.relay_cert),
            ("relay_key", &self.relay_key),
            ("relay_ca", &self.relay_ca),
        ];
        for (name, f) in files {
            match (self.relay_listen.is_some(), f) {
                (true, None) => {
                    return Err(refuse(
                        name,
                        String::new(),
                        "the absolute path of a PEM file (needed with relay_listen)",
                    ))
                }
                (false, Some(p)) => {
                    return Err(refuse(
                        name,
                        p.display().to_string(),
                        "to be set only with relay_listen",
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Default for Settings {
    /// Every row's default. The table's own test proves each is accepted; were one refused,
    /// the placeholder would stay (no panic in a proxy).
    fn default() -> Self {
        let mut s = Settings::blank();
        for spec in table::SPECS {
            if let Some(d) = spec.default {
                let _ = s.set(spec, Value::Text(d), Origin::Default);
            }
        }
        s.resolve();
        s
    }
}

/// A setting's value as given: an int `modparam` is an integer, everything else text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Int(i64),
    Text(&'a str),
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Text(t) => f.write_str(t.trim()),
        }
    }
}

/// A value that passed its row's generic check (bounds, 0 or 1, trimmed text), handed to the
/// row's setter.
#[derive(Clone, Copy, Debug)]
pub enum Parsed<'a> {
    Int(i64),
    Flag(bool),
    Text(&'a str),
}

impl<'a> Parsed<'a> {
    pub fn int(self) -> i64 {
        match self {
            Parsed::Int(n) => n,
            Parsed::Flag(b) => i64::from(b),
            Parsed::Text(_) => 0,
        }
    }
    pub fn flag(self) -> bool {
        self.int() != 0
    }
    pub fn text(self) -> &'a str {
        match self {
            Parsed::Text(t) => t,
            _ => "",
        }
    }
    pub fn secs(self) -> Duration {
        Duration::from_secs(u64::try_from(self.int()).unwrap_or(0))
    }
}

/// What a row accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An integer from `min` to `max`; `note` follows the range in messages (" (seconds)").
    Int {
        min: i64,
        max: i64,
        note: &'static str,
    },
    /// 0 or 1.
    Flag,
    /// Text the row's setter checks; `accepted` says what it accepts.
    Text { accepted: &'static str },
}

/// Which parts of the product a setting belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A `modparam` of the module only.
    Module,
    /// A relay setting: a `modparam`, and an option of `mediaproxy-relay`.
    Relay,
    /// A relay setting only `mediaproxy-relay` offers (an option, no `modparam`).
    RelayOnly,
}

/// A row's setter: stores a checked value, or refuses it (`Some(text)`: what is accepted, when
/// it is not the row's usual text).
pub type Setter = fn(&mut Settings, Parsed<'_>) -> Result<(), Option<String>>;

/// One setting.
pub struct Spec {
    /// The `modparam` name (also the name in the relay's messages).
    pub name: &'static str,
    /// `mediaproxy-relay`'s option (relay settings).
    pub option: Option<&'static str>,
    pub scope: Scope,
    pub kind: Kind,
    /// The README's type column ("int (s)"); the `modparam` type follows `kind`.
    pub ty: &'static str,
    /// As text; `None`: not set.
    pub default: Option<&'static str>,
    /// The README's meaning column (markdown, one line).
    pub doc: &'static str,
    pub set: Setter,
    /// The current value as text that `set` accepts (checks a [`RelayConfig`] built by hand).
    pub show: fn(&Settings) -> String,
}

impl Spec {
    /// Whether the module's `modparam` for this row is an integer (else a string).
    pub const fn is_int(&self) -> bool {
        matches!(self.kind, Kind::Int { .. } | Kind::Flag)
    }

    pub const fn is_modparam(&self) -> bool {
        !matches!(self.scope, Scope::RelayOnly)
    }

    /// What the row accepts, as the error messages say it.
    pub fn accepted(&self) -> String {
        match self.kind {
            Kind::Int { min, max, note } => format!("an integer from {min} to {max}{note}"),
            Kind::Flag => "0 or 1".into(),
            Kind::Text { accepted } => accepted.into(),
        }
    }

    /// The row of the README's configuration table.
    pub fn readme_row(&self) -> String {
        let default = match (self.default, self.kind) {
            (None, _) => "(none)".to_string(),
            (Some(d), Kind::Text { .. }) => format!("`{d}`"),
            (Some(d), _) => d.to_string(),
        };
        format!(
            "| `{}` | {} | {default} | {} |",
            self.name, self.ty, self.doc
        )
    }
}

/// The row of `mediaproxy-relay`'s option `option`.
pub fn by_option(option: &str) -> Option<&'static Spec> {
    table::SPECS.iter().find(|s| s.option == Some(option))
}

/// Who set a refused value: the error message names it accordingly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Modparam,
    Option,
    /// A [`RelayConfig`] given to the relay (or a default).
    Relay,
    Default,
}

/// A refused value: `param` (the `modparam` name, or the option), the `value` as given, and
/// what is `accepted`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingError {
    pub param: &'static str,
    pub origin: Origin,
    pub value: String,
    pub accepted: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.origin {
            Origin::Modparam => format!("modparam \"{}\"", self.param),
            Origin::Option => self.param.to_string(),
            Origin::Relay | Origin::Default => format!("relay setting \"{}\"", self.param),
        };
        write!(
            f,
            "invalid value {:?} for {what}: expected {}",
            self.value, self.accepted
        )
    }
}

impl std::error::Error for SettingError {}

fn validate_relay(cfg: &RelayConfig) -> Result<(), SettingError> {
    let mut s = Settings::blank();
    s.relay = cfg.clone();
    let mut scratch = Settings::blank();
    for spec in table::SPECS.iter().filter(|s| s.scope != Scope::Module) {
        let shown = (spec.show)(&s);
        scratch.set(spec, Value::Text(&shown), Origin::Relay)?;
    }
    Ok(())
}

/// `mediaproxy-relay`'s options from the table, for `--help`: one line per option with what
/// it accepts and its default.
pub fn options_help() -> String {
    let mut out = String::new();
    for spec in table::SPECS {
        let Some(opt) = spec.option else { continue };
        let arg = match spec.kind {
            Kind::Int { .. } => "N",
            Kind::Flag => "0|1",
            Kind::Text { .. } => "VALUE",
        };
        let default = spec.default.unwrap_or("none");
        let modparam = if spec.is_modparam() {
            format!("; modparam {}", spec.name)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {opt} {arg}\n      {} (default {default}{modparam})\n",
            spec.accepted()
        ));
    }
    out
}

#[cfg(test)]
mod tests;
