//! The dispatcher's configuration from the module's settings (`relay_listen`, `relay_cert`,
//! `relay_key`, `relay_ca`, `relay_timeout`: rows of the settings table, which checks each and
//! their combination).

use super::dispatcher::DispatcherConfig;
use super::tls::TlsFiles;
use crate::settings::Settings;

/// The dispatcher to run, when `relay_listen` is set. `relay_timeout` defaults to two fifths of
/// `mediaproxy_timeout` (at least 50 ms), so that one failover fits in a SIP worker's wait.
pub fn dispatcher(s: &Settings) -> Option<DispatcherConfig> {
    let listen = s.relay_listen?;
    let file = |f: &Option<std::path::PathBuf>| f.clone().unwrap_or_default();
    Some(DispatcherConfig {
        listen: Some(listen),
        tls: TlsFiles {
            cert: file(&s.relay_cert),
            key: file(&s.relay_key),
            ca: file(&s.relay_ca),
        },
        relay_timeout: s
            .relay_timeout
            .unwrap_or_else(|| DispatcherConfig::relay_timeout_for(s.mediaproxy_timeout)),
        ..DispatcherConfig::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RawParams};
    use std::time::Duration;

    #[test]
    fn from_the_module_settings() {
        let raw = RawParams::default()
            .set("relay_listen", "tls:0.0.0.0:25060")
            .set("relay_cert", "/etc/tls/p.pem")
            .set("relay_key", "/etc/tls/p.key")
            .set("relay_ca", "/etc/tls/ca.pem")
            .set("mediaproxy_timeout", 1000);
        let d = dispatcher(&Config::from_raw(&raw).unwrap()).unwrap();
        assert_eq!(d.listen, Some("0.0.0.0:25060".parse().unwrap()));
        assert_eq!(d.relay_timeout, Duration::from_millis(400));
        assert_eq!(d.tls.key, std::path::PathBuf::from("/etc/tls/p.key"));
        let d = dispatcher(&Config::from_raw(&raw.set("relay_timeout", 30)).unwrap()).unwrap();
        assert_eq!(d.relay_timeout, Duration::from_millis(30));
        assert!(dispatcher(&Config::default()).is_none());
    }
}
