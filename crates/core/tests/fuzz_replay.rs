//! Replays the fuzz corpus (`fuzz/corpus/`) on stable Rust: every file goes through the same
//! core parsers the fuzz targets call, which must answer without panicking.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    assert!(out.len() >= 5, "{}: corpus too small", dir.display());
    out
}

#[test]
fn fuzz_corpus_yaml_loader_replays_without_panic() {
    for (_, bytes) in corpus("yaml_loader") {
        driftless_fuzz_shapes::yaml_loader(&bytes);
    }
}

#[test]
fn fuzz_corpus_definitions_replays_without_panic() {
    for (_, bytes) in corpus("definitions") {
        driftless_fuzz_shapes::definitions(&bytes);
    }
}

#[test]
fn fuzz_corpus_duration_replays_without_panic() {
    for (_, bytes) in corpus("duration") {
        driftless_fuzz_shapes::duration(&bytes);
    }
}

/// The bodies of the fuzz targets, kept identical to `fuzz/fuzz_targets/*.rs`.
mod driftless_fuzz_shapes {
    use driftless_core::yaml::{Limits, parse_stream};

    pub fn yaml_loader(data: &[u8]) {
        if let Ok(text) = std::str::from_utf8(data) {
            let limits = Limits {
                max_bytes: 1 << 20,
                ..Limits::default()
            };
            if let Ok(docs) = parse_stream(text, &limits) {
                let _ = driftless_core::yaml::yaml11_warnings(text, &docs, &limits);
            }
        }
    }

    pub fn definitions(data: &[u8]) {
        if let Ok(text) = std::str::from_utf8(data) {
            let mut d = driftless_core::definitions::Definitions::default();
            d.add_file(text, "fuzz.yaml");
            for a in &d.apps {
                let _ = a.app.validate();
            }
            for r in &d.repositories {
                let _ = r.validate();
                let _ = r.redacted();
            }
            for c in &d.clusters {
                let _ = c.validate();
            }
            for p in &d.projects {
                let _ = p.violations("x", &Default::default(), None, &[]);
            }
        }
    }

    pub fn duration(data: &[u8]) {
        if let Ok(text) = std::str::from_utf8(data)
            && let Ok(d) = driftless_core::app::duration(text)
        {
            // Every accepted duration can be added to now: deadlines never overflow.
            let _ = std::time::Instant::now() + d;
            assert!(d <= driftless_core::app::MAX_DURATION);
        }
    }
}
