//! Test messages: the repository's own (`tests/messages/{sip,sdp}`, written for this project,
//! one message or SDP body per file, always there) and the external corpus, an optional extra:
//! the directory `MPX_CORPUS` names, by default `../shared/corpus` beside the checkout, with the
//! same `sip/` and `sdp/` layout. Without the external corpus a test runs on the own messages
//! and says SKIPPED for the external part, unless `MPX_CORPUS_REQUIRED=1` (CI), where a missing
//! corpus fails the test.
//!
//! Own messages name what they must do: `bad-sip-*` the SIP scanner rejects, `bad-sdp-*` (an
//! SDP body, or a SIP message carrying one) the SDP parser rejects; every other one is accepted.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository's own messages.
pub const OWN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/messages");

/// Where the external corpus is looked for: `MPX_CORPUS`, else `../shared/corpus` beside the
/// checkout.
pub fn external_root() -> PathBuf {
    match std::env::var_os("MPX_CORPUS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    }
}

fn read_dir_sorted(d: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
        .unwrap_or_else(|e| panic!("message directory {}: {e}", d.display()))
        .map(|e| {
            let p = e.expect("directory entry").path();
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, data)
        })
        .collect();
    v.sort();
    v
}

/// Every own message of `sub` (`sip` or `sdp`), sorted by name.
pub fn own(sub: &str) -> Vec<(String, Vec<u8>)> {
    let v = read_dir_sorted(&Path::new(OWN).join(sub));
    assert!(!v.is_empty(), "no own messages in {OWN}/{sub}");
    v
}

/// One own message.
pub fn own_file(sub: &str, name: &str) -> Vec<u8> {
    let p = Path::new(OWN).join(sub).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The external corpus's `sub` directory when it is there; `None` (after a SKIPPED line naming
/// `test`) when not, or a failure when `MPX_CORPUS_REQUIRED=1`.
pub fn dir(sub: &str, test: &str) -> Option<PathBuf> {
    let d = external_root().join(sub);
    if d.is_dir() {
        return Some(d);
    }
    assert!(
        std::env::var("MPX_CORPUS_REQUIRED").as_deref() != Ok("1"),
        "MPX_CORPUS_REQUIRED=1 but there is no corpus at {} (set MPX_CORPUS)",
        d.display()
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test} (the external corpus part): no corpus at {} (set MPX_CORPUS; the own \
         messages of tests/messages ran)",
        d.display()
    );
    None
}

/// The contents of every file of the external corpus's `sub`, sorted by name (`None` as
/// [`dir`]).
pub fn files(sub: &str, test: &str) -> Option<Vec<(String, Vec<u8>)>> {
    dir(sub, test).map(|d| read_dir_sorted(&d))
}

/// One file of the external corpus (`None` as [`dir`]).
pub fn file(sub: &str, name: &str, test: &str) -> Option<Vec<u8>> {
    let p = dir(sub, test)?.join(name);
    Some(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// The own messages of `sub`, then the external corpus's when it is there: what a test that
/// runs over every message iterates.
pub fn all(sub: &str, test: &str) -> Vec<(String, Vec<u8>)> {
    let mut v = own(sub);
    v.extend(files(sub, test).unwrap_or_default());
    v
}
