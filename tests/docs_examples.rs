//! The module documentation's config examples are lines of the configs the tests run: every
//! line of a fenced block in doc/*.md must stand in a file of cfg-examples/ (shell blocks are
//! build commands; `opensips-cli ...` lines name MI commands the real-OpenSIPS tests call).

use std::path::Path;

fn lines_of(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("cfg-examples").flatten() {
        if let Ok(t) = std::fs::read_to_string(e.path()) {
            out.extend(t.lines().map(|l| l.trim().to_string()));
        }
    }
    out
}

#[test]
fn every_doc_example_line_is_in_a_tested_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = lines_of(&root.join("cfg-examples"));
    let mut checked = 0;
    let mut missing = Vec::new();
    for e in std::fs::read_dir(root.join("doc")).expect("doc/").flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read doc");
        let mut in_block = false;
        let mut shell = false;
        for line in text.lines() {
            if let Some(info) = line.trim_start().strip_prefix("```") {
                in_block = !in_block;
                // shell blocks (```sh) are build commands, not configuration
                shell = in_block && info.trim() == "sh";
                continue;
            }
            let l = line.trim();
            if !in_block
                || shell
                || l.is_empty()
                || l.starts_with("opensips-cli ")
                || l.starts_with("kamcmd ")
            {
                continue;
            }
            checked += 1;
            if !cfg.iter().any(|c| c == l) {
                missing.push(format!("{}: {l}", path.display()));
            }
        }
    }
    assert!(checked > 20, "only {checked} example lines found");
    assert!(
        missing.is_empty(),
        "doc examples not in cfg-examples/:\n{}",
        missing.join("\n")
    );
}
