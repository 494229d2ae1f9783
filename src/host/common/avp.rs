//! The AVPs named by `signaling_ip_avp`, `media_relay_avp`, `ice_candidate_avp`,
//! `caller_interface_avp` and `callee_interface_avp`, for
//! every host: each spec parsed once in `mod_init` by the host's own variable parser (the
//! settings already checked their `$avp(name)` form), and a looked-up value as text.

use crate::config::Config;
use crate::script::Avp;

/// The parsed specs, `S` being the host's handle for one.
pub struct Avps<S> {
    signaling_ip: S,
    media_relay: S,
    ice_candidate: S,
    interfaces: [S; 2],
}

impl<S> Avps<S> {
    /// Parses the specs with the host's parser (`None`: the core refused the text).
    /// The error is the line to log.
    pub fn parse(cfg: &Config, parse: impl Fn(&str) -> Option<S>) -> Result<Avps<S>, String> {
        let one = |param: &str, text: &str| {
            parse(text).ok_or_else(|| {
                format!(
                    "invalid value {text:?} for modparam \"{param}\": the core cannot parse it \
                     as a variable"
                )
            })
        };
        Ok(Avps {
            signaling_ip: one("signaling_ip_avp", &cfg.signaling_ip_avp)?,
            media_relay: one("media_relay_avp", &cfg.media_relay_avp)?,
            ice_candidate: one("ice_candidate_avp", &cfg.ice_candidate_avp)?,
            interfaces: [
                one("caller_interface_avp", &cfg.interface_avps[0])?,
                one("callee_interface_avp", &cfg.interface_avps[1])?,
            ],
        })
    }

    pub fn spec(&self, which: Avp) -> &S {
        match which {
            Avp::SignalingIp => &self.signaling_ip,
            Avp::MediaRelay => &self.media_relay,
            Avp::IceCandidate => &self.ice_candidate,
            Avp::CallerInterface => &self.interfaces[0],
            Avp::CalleeInterface => &self.interfaces[1],
        }
    }
}

/// A host lookup's result as text: `rc` 1 is the string `text`, 2 the integer `n`, anything
/// else none. Trimmed; empty is none.
pub fn value(rc: i32, text: &[u8], n: i32) -> Option<String> {
    match rc {
        1 => Some(String::from_utf8_lossy(text).trim().to_string()).filter(|v| !v.is_empty()),
        2 => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawParams;

    #[test]
    fn specs_parse_or_name_the_parameter() {
        let cfg = Config::from_raw(&RawParams::default()).expect("defaults");
        let a = Avps::parse(&cfg, |t| Some(t.to_string())).expect("parsed");
        assert_eq!(a.spec(Avp::MediaRelay), "$avp(mp_media_relay)");
        let e = Avps::parse(&cfg, |t| (!t.contains("relay")).then_some(())).err();
        assert_eq!(
            e.as_deref(),
            Some(
                "invalid value \"$avp(mp_media_relay)\" for modparam \"media_relay_avp\": the \
                 core cannot parse it as a variable"
            )
        );
        assert_eq!(value(1, b" 10.0.0.1 ", 0).as_deref(), Some("10.0.0.1"));
        assert_eq!(value(2, b"", 7).as_deref(), Some("7"));
        assert_eq!(value(1, b"  ", 0), None);
        assert_eq!(value(0, b"x", 0), None);
    }
}
