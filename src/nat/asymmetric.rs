//! Lists of asymmetric clients (`sip_asymmetrics`, `rtp_asymmetrics`): one case-insensitive
//! regular expression per line, matched against the User-Agent (else Server) header. Blank
//! lines and lines starting with `#` are ignored; a line that does not compile is reported and
//! skipped. The file is read again when its modification time or size changes, looked at most
//! once per `recheck` interval (the caller passes `now`, so this is testable without sleeping).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use regex::bytes::{Regex, RegexBuilder};

/// How often the file's metadata is looked at.
pub const RECHECK: Duration = Duration::from_secs(5);

/// A line that was skipped, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub text: String,
    pub error: String,
}

/// What a (re)load produced, for the caller to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reload {
    Unchanged,
    Loaded { patterns: usize, bad: Vec<BadLine> },
    Failed(String),
}

#[derive(Debug)]
pub struct AsymmetricList {
    path: PathBuf,
    patterns: Vec<Regex>,
    stamp: Option<(SystemTime, u64)>,
    next_check: Option<Instant>,
    recheck: Duration,
}

/// Compiles the lines of a list. Returns the patterns and the lines that were skipped.
pub fn compile(text: &str) -> (Vec<Regex>, Vec<BadLine>) {
    let mut patterns = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match RegexBuilder::new(line)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
        {
            Ok(r) => patterns.push(r),
            Err(e) => bad.push(BadLine {
                line: i + 1,
                text: line.to_string(),
                error: e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            }),
        }
    }
    (patterns, bad)
}

impl AsymmetricList {
    pub fn new(path: impl Into<PathBuf>) -> AsymmetricList {
        AsymmetricList {
            path: path.into(),
            patterns: Vec::new(),
            stamp: None,
            next_check: None,
            recheck: RECHECK,
        }
    }

    pub fn with_recheck(mut self, d: Duration) -> Self {
        self.recheck = d;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again if it changed (looked at most once per recheck interval).
    /// When the file cannot be read the previous patterns stay in force.
    pub fn refresh(&mut self, now: Instant) -> Reload {
        if self.next_check.is_some_and(|t| now < t) {
            return Reload::Unchanged;
        }
        self.next_check = Some(now + self.recheck);
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) => return Reload::Failed(format!("{}: {e}", self.path.display())),
        };
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        if self.stamp == Some(stamp) {
            return Reload::Unchanged;
        }
        let text = match std::fs::read(&self.path) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => return Reload::Failed(format!("{}: {e}", self.path.display())),
        };
        let (patterns, bad) = compile(&text);
        self.stamp = Some(stamp);
        self.patterns = patterns;
        Reload::Loaded {
            patterns: self.patterns.len(),
            bad,
        }
    }

    /// Whether the User-Agent/Server value matches a pattern.
    pub fn matches(&self, user_agent: &[u8]) -> bool {
        self.patterns.iter().any(|r| r.is_match(user_agent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn compiles_skips_comments_and_reports_bad_lines() {
        let (p, bad) = compile("# comment\n\nipDialog SipTone.*\nfoo(\n  Linksys/SPA9[0-9]+  \n");
        assert_eq!(p.len(), 2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 4);
        assert_eq!(bad[0].text, "foo(");
        assert!(p[0].is_match(b"IPDIALOG SIPTONE 1.2"));
        assert!(p[1].is_match(b"linksys/spa942-5.1"));
        assert!(!p[1].is_match(b"Linphone/5"));
    }

    #[test]
    fn reloads_when_the_file_changes_and_keeps_old_patterns_when_it_vanishes() {
        let dir = std::env::temp_dir().join(format!("mpx-asym-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("list");
        std::fs::write(&path, "Alpha.*\n").unwrap();
        let mut l = AsymmetricList::new(&path).with_recheck(Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(
            l.refresh(t0),
            Reload::Loaded {
                patterns: 1,
                bad: vec![]
            }
        );
        assert!(l.matches(b"alpha 1.0"));
        assert!(!l.matches(b"Beta 2"));

        // changed content (size differs) but within the recheck interval: not looked at yet
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"Beta [0-9]\n").unwrap();
        drop(f);
        assert_eq!(l.refresh(t0 + Duration::from_secs(1)), Reload::Unchanged);
        assert!(!l.matches(b"Beta 2"));
        assert_eq!(
            l.refresh(t0 + Duration::from_secs(6)),
            Reload::Loaded {
                patterns: 2,
                bad: vec![]
            }
        );
        assert!(l.matches(b"Beta 2"));

        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            l.refresh(t0 + Duration::from_secs(12)),
            Reload::Failed(_)
        ));
        assert!(l.matches(b"Beta 2"), "old patterns stay in force");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
