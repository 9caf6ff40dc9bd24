//! Conformance with kustomize v5.8.1: every case of the vendored krusty corpus
//! (`tests/kustomize-krusty/`, see its README and NOTICE) is rendered through the native
//! kustomize the way `driftless render <case> --path <run_dir> --kustomize -o yaml` does, and
//! the bytes are compared with what the real `kustomize build` printed. A case that kustomize
//! refuses must fail to render.
//!
//! `tests/kustomize-krusty-known-failures.txt` lists the cases still wrong, one per line with a
//! reason. The list may only shrink: the test fails when a listed case passes (remove it) or
//! an unlisted case fails (a regression). `KRUSTY_SHOW=<case>` prints one case's output and the
//! expected output, `KRUSTY_DUMP=<dir>` writes every case's output there; `KRUSTY_BLESS=1` rewrites the list from the current results, keeping the
//! reasons already written (for reviewing in `git diff`, never to hide a regression).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use driftless_render::local::LocalTree;
use driftless_render::{RenderLimits, RendererSpec, render};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kustomize-krusty")
}

fn known_failures_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kustomize-krusty-known-failures.txt")
}

/// What went wrong with one case, in a few words (for the known-failures list).
enum Outcome {
    Right,
    Wrong(String),
}

/// Renders one case as the CLI does and returns the YAML stream, or the error chain.
fn render_case(dir: &Path, run_dir: &str, outside_root: bool) -> Result<String, String> {
    let tree = LocalTree::new(dir).map_err(|e| e.to_string())?;
    let path = if run_dir == "." { "" } else { run_dir };
    let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        render(
            &tree,
            path,
            &RendererSpec::Kustomize,
            &RenderLimits {
                kustomize_files_outside_root: outside_root,
                ..RenderLimits::default()
            },
        )
    }))
    .map_err(|_| "the renderer panicked".to_string())?
    .map_err(|e| e.to_string())?;
    Ok(driftless_core::yaml::to_yaml_stream(rendered.set.values()))
}

fn run_case(name: &str) -> Outcome {
    let dir = corpus().join(name);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let run_dir = meta["run_dir"].as_str().unwrap();
    // The few upstream cases built with `--load-restrictor LoadRestrictionsNone` say so.
    let outside_root = meta["options"]["load_restrictor"] == "LoadRestrictionsNone";
    let got = render_case(&dir, run_dir, outside_root);
    let show = std::env::var("KRUSTY_SHOW").is_ok_and(|s| s == name);
    if let Ok(dump) = std::env::var("KRUSTY_DUMP") {
        let text = got.clone().unwrap_or_else(|e| format!("ERROR: {e}\n"));
        std::fs::write(Path::new(&dump).join(name), text).unwrap();
    }
    if meta["expect"] == "error" {
        if show {
            println!("{name}: expected an error, got {got:?}");
        }
        return match got {
            Err(e) if e.trim().is_empty() => Outcome::Wrong("error without a message".into()),
            Err(_) => Outcome::Right,
            Ok(_) => Outcome::Wrong("kustomize refuses this input; accepted".into()),
        };
    }
    let want = std::fs::read_to_string(dir.join("expected.cli.yaml")).unwrap();
    if show {
        match &got {
            Ok(g) => println!("--- got\n{g}--- want\n{want}"),
            Err(e) => println!("--- error: {e}\n--- want\n{want}"),
        }
    }
    match got {
        Ok(g) if g == want => Outcome::Right,
        Ok(_) => Outcome::Wrong("output differs".into()),
        Err(e) => Outcome::Wrong(format!(
            "render fails: {}",
            e.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(100)
                .collect::<String>()
        )),
    }
}

/// The known-failures list: case name -> reason. Blank lines and `#` comments are skipped.
fn read_known() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(known_failures_file()).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((n, r)) => (n.to_string(), r.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

fn write_known(failures: &BTreeMap<String, String>) {
    let mut out = String::from(
        "# kustomize krusty cases the native kustomize still gets wrong: `<case> <reason>`.\n\
         # This list may only shrink; see tests/kustomize_krusty.rs.\n",
    );
    for (n, r) in failures {
        out.push_str(&format!("{n} {r}\n"));
    }
    std::fs::write(known_failures_file(), out).unwrap();
}

#[test]
fn kustomize_krusty_corpus_matches_kustomize_byte_for_byte() {
    let mut cases: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("case.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 200, "the vendored corpus has 200 cases");
    let known = read_known();
    let mut failures = BTreeMap::new();
    for name in &cases {
        if let Outcome::Wrong(why) = run_case(name) {
            failures.insert(name.clone(), why);
        }
    }
    let right = cases.len() - failures.len();
    println!(
        "krusty vs kustomize v5.8.1: {right} of {} right ({}%)",
        cases.len(),
        100 * right / cases.len()
    );
    let new: Vec<_> = failures
        .iter()
        .filter(|(n, _)| !known.contains_key(*n))
        .collect();
    let fixed: Vec<_> = known
        .keys()
        .filter(|n| !failures.contains_key(*n))
        .collect();
    if std::env::var("KRUSTY_BLESS").is_ok() {
        let merged = failures
            .iter()
            .map(|(n, r)| {
                (
                    n.clone(),
                    known.get(n).cloned().unwrap_or_else(|| r.clone()),
                )
            })
            .collect();
        write_known(&merged);
        return;
    }
    for (n, why) in &new {
        println!("NEW FAILURE {n}: {why}");
    }
    for n in &fixed {
        println!("NOW PASSES (remove from the list) {n}");
    }
    assert!(
        new.is_empty() && fixed.is_empty(),
        "{} new failures, {} listed cases now pass: {new:?} {fixed:?}",
        new.len(),
        fixed.len()
    );
}
