//! The proxy a test runs, whichever host this build is for: OpenSIPS (the default build) or
//! Kamailio (`--features kamailio`). Only its config, starting it and reading its log differ;
//! everything a test does through SIP, the relay's control socket and the network is the same.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use super::process::{Host, Running, Site};

pub struct Proxy {
    /// "OpenSIPS" or "Kamailio".
    pub name: &'static str,
    pub host: Host,
    render: fn(&Host, &Site, &str) -> PathBuf,
    start: fn(&Host, &Site, &Path) -> Running,
    /// What marks a log line as a problem: any error or worse, and a warning of ours.
    problem_markers: &'static [&'static str],
}

impl Proxy {
    /// Load another copy of the module (e.g. the installed one) instead of the one just built.
    pub fn use_module(&mut self, so: PathBuf) {
        self.host.module_so = so;
    }

    /// Run another example config: `render` writes it for a site (see
    /// [`Proxy::render_example`]).
    pub fn use_config(&mut self, render: fn(&Host, &Site, &str) -> PathBuf) {
        self.render = render;
    }

    /// The host's example config (`cfg-examples/`) with the site's paths, address and ports,
    /// plus `extra` lines before the routing logic.
    pub fn render_example(&self, site: &Site, extra: &str) -> PathBuf {
        (self.render)(&self.host, site, extra)
    }

    /// `<bin> -c -f cfg`.
    pub fn check_config(&self, cfg: &Path) -> Output {
        super::process::check_config(&self.host.bin, cfg)
    }

    /// The proxy in the foreground, its log in the site directory (inside `site.netns` when
    /// set).
    pub fn start(&self, site: &Site, cfg: &Path) -> Running {
        (self.start)(&self.host, site, cfg)
    }

    /// The log lines that show something went wrong.
    pub fn problems<'a>(&self, log: &'a str) -> Vec<&'a str> {
        log.lines()
            .filter(|l| self.problem_markers.iter().any(|m| l.contains(m)))
            .collect()
    }
}

/// The proxy this build is for (a test asking for it fails when there is none).
#[cfg(not(feature = "kamailio"))]
pub fn find(test: &str) -> Proxy {
    use super::opensips as os;
    Proxy {
        name: "OpenSIPS",
        host: os::host(test),
        render: os::render_example,
        start: os::start,
        // `ERROR:dialog:...`, `CRITICAL:core:...`, `WARNING:mediaproxy:...`
        problem_markers: &["ALERT:", "CRITICAL:", "ERROR:", "WARNING:mediaproxy"],
    }
}

/// The proxy this build is for (a test asking for it fails when there is none).
#[cfg(feature = "kamailio")]
pub fn find(test: &str) -> Proxy {
    use super::kamailio as kam;
    Proxy {
        name: "Kamailio",
        host: kam::host(test),
        render: kam::render_example,
        start: kam::start,
        // ` 0(1234) ERROR: <core> [...]`, ` 3(1240) BUG: dialog [...]`, ` 0(1234) WARNING: mediaproxy: ...`
        problem_markers: &[
            "ALERT:",
            "BUG:",
            "CRITICAL:",
            "ERROR:",
            "WARNING: mediaproxy",
        ],
    }
}
