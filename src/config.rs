//! Validated module settings.
//!
//! The host layer copies the raw `modparam` values into [`RawParams`] (strings as the script
//! wrote them, integers as the core stored them) and [`Config::from_raw`] turns them into
//! [`Config`] or refuses the first bad one with a [`ParamError`] that names the parameter, the
//! value and what is accepted. What each parameter accepts and defaults to is its row of the
//! settings table ([`crate::settings`]); no FFI types and no I/O here.

use std::collections::BTreeMap;

use crate::settings::{table::SPECS, Origin, Value};
pub use crate::settings::{
    IceCandidate, LatchMode, RelayConfig, RelayIo, RelayMode, SettingError as ParamError,
    Settings as Config,
};

/// A parameter's value as the core stored it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawValue {
    Int(i32),
    Str(String),
}

impl From<i32> for RawValue {
    fn from(v: i32) -> Self {
        RawValue::Int(v)
    }
}

impl From<&str> for RawValue {
    fn from(v: &str) -> Self {
        RawValue::Str(v.to_string())
    }
}

impl From<String> for RawValue {
    fn from(v: String) -> Self {
        RawValue::Str(v)
    }
}

/// The module parameters the script set, by name (absent: use the default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawParams {
    values: BTreeMap<String, RawValue>,
}

impl RawParams {
    /// Records `name` as set to `v` (a later value for the same name wins).
    pub fn set(mut self, name: &str, v: impl Into<RawValue>) -> RawParams {
        self.values.insert(name.to_string(), v.into());
        self
    }

    /// Records `name` as set to `v`, in place.
    pub fn insert(&mut self, name: &str, v: impl Into<RawValue>) {
        self.values.insert(name.to_string(), v.into());
    }

    pub fn get(&self, name: &str) -> Option<&RawValue> {
        self.values.get(name)
    }
}

impl Config {
    /// Validates every parameter, in the table's order; the first bad one is the error. A
    /// parameter the table does not know is refused too (the host declares only the table's).
    pub fn from_raw(raw: &RawParams) -> Result<Config, ParamError> {
        let mut cfg = Config::default();
        for spec in SPECS.iter().filter(|s| s.is_modparam()) {
            let v = match raw.get(spec.name) {
                Some(RawValue::Int(n)) => Value::Int(i64::from(*n)),
                Some(RawValue::Str(s)) => Value::Text(s),
                None => continue,
            };
            cfg.set(spec, v, Origin::Modparam)?;
        }
        if let Some(unknown) = raw.values.keys().find(|k| {
            !SPECS
                .iter()
                .any(|s| s.is_modparam() && s.name == k.as_str())
        }) {
            return Err(ParamError {
                param: "(unknown)",
                origin: Origin::Modparam,
                value: unknown.clone(),
                accepted: "a parameter of this module".into(),
            });
        }
        cfg.resolve();
        cfg.check_combinations()?;
        Ok(cfg)
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
