//! The shared object exports exactly one symbol, `exports` (what OpenSIPS dlsym()s); the core
//! symbols it uses are weak references, so loading never fails on a missing one.

#![cfg(not(feature = "kamailio"))]

mod support;

use std::process::Command;

use support::opensips;

#[test]
fn exports_is_the_only_defined_dynamic_symbol() {
    let so = opensips::module_so();
    assert!(
        so.is_file(),
        "{} missing: run `cargo build --lib` first (scripts/test.sh does)",
        so.display()
    );
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
        .expect("run nm (binutils)");
    assert!(out.status.success());
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    assert_eq!(
        names,
        vec!["exports".to_string()],
        "defined dynamic symbols"
    );

    let out = Command::new("nm")
        .args(["-D", "--undefined-only"])
        .arg(&so)
        .output()
        .expect("run nm");
    let text = String::from_utf8_lossy(&out.stdout);
    for core in [
        "dprint",
        "parse_headers_aux",
        "del_lump",
        "reactor_proc_init",
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().last() == Some(core))
            .unwrap_or_else(|| panic!("{core} not referenced"));
        assert!(
            line.trim_start().starts_with('w'),
            "{core} must be weak: {line}"
        );
    }
}
