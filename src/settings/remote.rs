//! The rows of the remote-relay settings (`relay_listen`, `relay_cert`, `relay_key`,
//! `relay_ca`, `relay_timeout`), placed in the table after `relay_mode`. Their combination is
//! checked by [`super::Settings::check_combinations`].

use super::{Kind, Parsed, Scope, Spec};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `"tls:IP:PORT"` (IPv6 in brackets), port not 0.
pub fn parse_listen(v: &str) -> Option<SocketAddr> {
    v.trim()
        .strip_prefix("tls:")
        .and_then(|a| a.parse::<SocketAddr>().ok())
        .filter(|a| a.port() != 0)
}

fn pem_path(v: Parsed<'_>) -> Result<Option<PathBuf>, Option<String>> {
    match v.text() {
        "" => Ok(None),
        p if p.starts_with('/') => Ok(Some(PathBuf::from(p))),
        _ => Err(None),
    }
}

fn show_path(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

const PEM: Kind = Kind::Text {
    accepted: "the absolute path of a PEM file",
};

pub const RELAY_LISTEN: Spec = Spec {
    name: "relay_listen",
    option: None,
    scope: Scope::Module,
    kind: Kind::Text {
        accepted: "\"tls:IP:PORT\", for example \"tls:0.0.0.0:25060\"",
    },
    ty: "str",
    default: None,
    doc: "`\"tls:IP:PORT\"` (e.g. `tls:0.0.0.0:25060`): accept `mediaproxy-relay --dispatcher` (or MediaProxy) relays from other hosts over TLS and spread calls over them and the embedded relay (see \"Remote relays\" in `doc/mediaproxy.md`)",
    set: |s, v| {
        s.relay_listen = match v.text() {
            "" => None,
            t => Some(parse_listen(t).ok_or(None)?),
        };
        Ok(())
    },
    show: |s| s.relay_listen.map(|a| format!("tls:{a}")).unwrap_or_default(),
};

pub const RELAY_CERT: Spec = Spec {
    name: "relay_cert",
    option: None,
    scope: Scope::Module,
    kind: PEM,
    ty: "str",
    default: None,
    doc: "with `relay_listen`: the proxy's certificate (PEM, absolute path; read at start-up)",
    set: |s, v| {
        s.relay_cert = pem_path(v)?;
        Ok(())
    },
    show: |s| show_path(&s.relay_cert),
};

pub const RELAY_KEY: Spec = Spec {
    name: "relay_key",
    option: None,
    scope: Scope::Module,
    kind: PEM,
    ty: "str",
    default: None,
    doc: "with `relay_listen`: the certificate's private key (PEM, absolute path)",
    set: |s, v| {
        s.relay_key = pem_path(v)?;
        Ok(())
    },
    show: |s| show_path(&s.relay_key),
};

pub const RELAY_CA: Spec = Spec {
    name: "relay_ca",
    option: None,
    scope: Scope::Module,
    kind: PEM,
    ty: "str",
    default: None,
    doc: "with `relay_listen`: the CA that issued the proxy's and every relay's certificate (PEM, absolute path)",
    set: |s, v| {
        s.relay_ca = pem_path(v)?;
        Ok(())
    },
    show: |s| show_path(&s.relay_ca),
};

pub const RELAY_TIMEOUT: Spec = Spec {
    name: "relay_timeout",
    option: None,
    scope: Scope::Module,
    kind: Kind::Int {
        min: 10,
        max: 60_000,
        note: " (milliseconds)",
    },
    ty: "int (ms)",
    default: None,
    doc: "how long a relay may take to answer before the next one is tried (10–60000; default two fifths of `mediaproxy_timeout`, at least 50); a relay that did not answer takes no new calls until heard from",
    set: |s, v| {
        s.relay_timeout = Some(Duration::from_millis(u64::try_from(v.int()).unwrap_or(0)));
        Ok(())
    },
    show: |s| {
        s.relay_timeout
            .map(|d| d.as_millis().to_string())
            .unwrap_or_default()
    },
};

#[cfg(test)]
mod tests {
    use crate::config::{Config, RawParams, RelayMode};
    use std::time::Duration;

    fn full() -> RawParams {
        RawParams::default()
            .set("relay_listen", "tls:0.0.0.0:25060")
            .set("relay_cert", "/etc/tls/p.pem")
            .set("relay_key", "/etc/tls/p.key")
            .set("relay_ca", "/etc/tls/ca.pem")
    }

    #[test]
    fn listen_forms() {
        let c = Config::from_raw(&full()).unwrap();
        assert_eq!(c.relay_listen, Some("0.0.0.0:25060".parse().unwrap()));
        let c = Config::from_raw(&full().set("relay_listen", " tls:[::1]:25060 ")).unwrap();
        assert_eq!(c.relay_listen, Some("[::1]:25060".parse().unwrap()));
        for bad in [
            "0.0.0.0:25060",
            "tls:0.0.0.0",
            "tls:host:25060",
            "tls:0.0.0.0:0",
            "udp:1.2.3.4:5",
        ] {
            let e = Config::from_raw(&full().set("relay_listen", bad)).unwrap_err();
            assert_eq!(e.param, "relay_listen", "{bad}");
            assert!(e.accepted.contains("tls:IP:PORT"), "{e}");
        }
        assert_eq!(Config::default().relay_listen, None);
    }

    #[test]
    fn combinations_are_checked() {
        let e = Config::from_raw(&full().set("relay_key", "relative.key")).unwrap_err();
        assert_eq!(e.param, "relay_key");
        let e = Config::from_raw(&full().set("relay_key", "")).unwrap_err();
        assert_eq!(e.param, "relay_key");
        assert!(e.accepted.contains("needed with relay_listen"), "{e}");
        let lone = RawParams::default().set("relay_ca", "/etc/tls/ca.pem");
        assert_eq!(Config::from_raw(&lone).unwrap_err().param, "relay_ca");
        let e = Config::from_raw(&RawParams::default().set("relay_mode", "remote")).unwrap_err();
        assert_eq!(e.param, "relay_mode");
        assert!(e.to_string().contains("needs relay_listen"), "{e}");
        let c = Config::from_raw(&full().set("relay_mode", "Remote")).unwrap();
        assert_eq!(c.relay_mode, RelayMode::Remote);
        let e = Config::from_raw(&full().set("relay_timeout", 5)).unwrap_err();
        assert_eq!(e.param, "relay_timeout");
        let c = Config::from_raw(&full().set("relay_timeout", 300)).unwrap();
        assert_eq!(c.relay_timeout, Some(Duration::from_millis(300)));
    }
}
