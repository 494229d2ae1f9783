use super::*;
use std::collections::HashSet;

#[test]
fn every_default_is_accepted_by_its_row() {
    for spec in table::SPECS {
        let mut s = Settings::blank();
        if let Some(d) = spec.default {
            s.set(spec, Value::Text(d), Origin::Default)
                .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            // what a row shows, it accepts again, unchanged
            let shown = (spec.show)(&s);
            assert_eq!(shown, d, "{}", spec.name);
        }
    }
}

#[test]
fn names_and_options_are_unique_and_modparams_are_plain() {
    let mut names = HashSet::new();
    let mut options = HashSet::new();
    for spec in table::SPECS {
        assert!(names.insert(spec.name), "{} twice", spec.name);
        assert!(
            spec.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{}",
            spec.name
        );
        if let Some(o) = spec.option {
            assert!(o.starts_with("--"), "{o}");
            assert!(options.insert(o), "{o} twice");
        }
        assert_eq!(
            spec.option.is_some(),
            spec.scope != Scope::Module,
            "{}",
            spec.name
        );
        assert_eq!(spec.ty.starts_with("int"), spec.is_int(), "{}", spec.name);
    }
}

#[test]
fn default_relay_config_is_the_operator_defaults() {
    let c = RelayConfig::default();
    assert_eq!(c.listen_ip, "0.0.0.0".parse::<std::net::IpAddr>().unwrap());
    assert_eq!((c.port_min, c.port_max), (40000, 60000));
    assert_eq!(c.threads, 2);
    assert_eq!(
        (c.setup_timeout, c.media_timeout, c.hold_timeout),
        (
            Duration::from_secs(90),
            Duration::from_secs(60),
            Duration::from_secs(7200)
        )
    );
    assert_eq!(c.learn_window, Duration::from_millis(5000));
    assert_eq!(
        (c.max_streams, c.max_sessions, c.max_packet_rate),
        (16, 10_000, 10_000)
    );
    assert_eq!(c.port_quarantine, Duration::from_secs(10));
    assert_eq!(c.rebind_window, 64);
    assert_eq!(
        (c.io, c.ring_buffers, c.batch_wait_us),
        (RelayIo::Auto, 4096, 0)
    );
    assert!(c.connected_sockets);
    assert_eq!(c.latch_mode, LatchMode::Heuristic);
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn validate_refuses_what_the_options_refuse() {
    type Spoil = fn(&mut RelayConfig);
    let cases: [(&str, Spoil); 6] = [
        ("relay_threads", |c| c.threads = 0),
        ("relay_threads", |c| c.threads = 65),
        ("ring_buffers", |c| c.ring_buffers = 3000),
        ("relay_max_streams", |c| c.max_streams = 1025),
        ("relay_batch_wait", |c| c.batch_wait_us = 10_001),
        ("advertised_ip", |c| {
            c.advertised_ip = Some("::".parse().unwrap())
        }),
    ];
    for (name, spoil) in cases {
        let mut c = RelayConfig::default();
        spoil(&mut c);
        let e = c.validate().expect_err(name);
        assert_eq!(e.param, name);
        assert!(
            e.to_string().starts_with(&format!(
                "invalid value {:?} for relay setting \"{name}\"",
                e.value
            )),
            "{e}"
        );
    }
}

#[test]
fn options_are_checked_against_the_same_rows() {
    let mut s = Settings::default();
    let threads = by_option("--threads").unwrap();
    let e = s
        .set(threads, Value::Text("x"), Origin::Option)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid value \"x\" for --threads: expected an integer from 1 to 64"
    );
    s.set(threads, Value::Text("4"), Origin::Option).unwrap();
    assert_eq!(s.relay.threads, 4);
    let range = by_option("--port-range").unwrap();
    s.set(range, Value::Text("30000:30099"), Origin::Option)
        .unwrap();
    assert_eq!((s.relay.port_min, s.relay.port_max), (30000, 30099));
    let help = options_help();
    for spec in table::SPECS.iter().filter(|s| s.option.is_some()) {
        assert!(help.contains(spec.option.unwrap()), "{}", spec.name);
    }
}

/// The README's configuration table is the settings table: same rows, same order, same text.
#[test]
fn readme_configuration_table_matches_the_settings_table() {
    let readme = include_str!("../../README.md");
    let header = "| parameter | type | default | meaning |";
    let start = readme
        .find(header)
        .expect("the README has its configuration table");
    let rows: Vec<&str> = readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    let expected: Vec<String> = table::SPECS
        .iter()
        .filter(|s| s.is_modparam())
        .map(Spec::readme_row)
        .collect();
    for (i, (got, want)) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(*got, want, "row {i}");
    }
    assert_eq!(rows.len(), expected.len());
}
