//! The proxy a test runs, whichever host this build is for: OpenSIPS (the default build) or
//! Kamailio (`--features kamailio`). Only starting it, its config and reading its log differ;
//! everything a test does through SIP, the relay's control socket and the network is the same.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use super::process::{Running, Site};

pub trait Proxy {
    /// "OpenSIPS" or "Kamailio".
    fn name(&self) -> &'static str;
    /// What the binary says it is, e.g. "opensips 4.0.1 (x86_64/linux)".
    fn version(&self) -> String;
    fn bin(&self) -> &Path;
    /// The mediaproxy.so the config loads (by default the one this crate just built).
    fn module_so(&self) -> &Path;
    /// Load another copy of the module (e.g. the installed one) instead.
    fn use_module(&mut self, so: PathBuf);
    /// The host's example config (`cfg-examples/`) with the site's paths, address and ports,
    /// plus `extra` lines before the routing logic.
    fn render_example(&self, site: &Site, extra: &str) -> PathBuf;
    /// The proxy in the foreground, its log in the site directory (inside `site.netns` when
    /// set).
    fn start(&self, site: &Site, cfg: &Path) -> Running;
    /// The log lines that show something went wrong: any error or worse from any module, and
    /// a warning from ours.
    fn problems<'a>(&self, log: &'a str) -> Vec<&'a str>;

    /// `<bin> -c -f cfg`.
    fn check_config(&self, cfg: &Path) -> Output {
        super::process::check_config(self.bin(), cfg)
    }
}

/// Lines of `log` holding one of `markers`.
pub fn lines_with<'a>(log: &'a str, markers: &[&str]) -> Vec<&'a str> {
    log.lines()
        .filter(|l| markers.iter().any(|m| l.contains(m)))
        .collect()
}

/// The proxy this build is for, or `None` after a loud SKIPPED line when there is none.
#[cfg(not(feature = "kamailio"))]
pub fn find(test: &str) -> Option<Box<dyn Proxy>> {
    super::opensips::host(test).map(|h| Box::new(h) as Box<dyn Proxy>)
}

/// The proxy this build is for, or `None` after a loud SKIPPED line when there is none.
#[cfg(feature = "kamailio")]
pub fn find(test: &str) -> Option<Box<dyn Proxy>> {
    super::kamailio::host(test).map(|h| Box::new(h) as Box<dyn Proxy>)
}
