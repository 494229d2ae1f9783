//! The shared corpus (`../shared/corpus`, beside the checkout): where it is, and whether a test
//! can use it. Without it a test says SKIPPED loudly and returns, unless
//! `MPX_CORPUS_REQUIRED=1` (CI), where a missing corpus fails the test.
#![allow(dead_code)]

use std::path::PathBuf;

pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus");

/// `DIR/sub` when the corpus is there; `None` (after a SKIPPED line naming `test`) when not.
pub fn dir(sub: &str, test: &str) -> Option<PathBuf> {
    let d = PathBuf::from(DIR).join(sub);
    if d.is_dir() {
        return Some(d);
    }
    assert!(
        std::env::var("MPX_CORPUS_REQUIRED").as_deref() != Ok("1"),
        "MPX_CORPUS_REQUIRED=1 but there is no corpus at {}",
        d.display()
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: no shared corpus at {} (the directory beside the checkout)",
        d.display()
    );
    None
}

/// The contents of every file of `DIR/sub`, sorted by name (`None` as [`dir`]).
pub fn files(sub: &str, test: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let d = dir(sub, test)?;
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", d.display()))
        .map(|e| {
            let p = e.expect("corpus entry").path();
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
    Some(v)
}

/// One corpus file, `DIR/sub/name` (`None` as [`dir`]).
pub fn file(sub: &str, name: &str, test: &str) -> Option<Vec<u8>> {
    let p = dir(sub, test)?.join(name);
    Some(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}
