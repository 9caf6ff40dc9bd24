//! Lua checks laid out as Argo CD's `resource_customizations` directory, with Argo CD's
//! `health_test.yaml` files (`healthStatus` expected for each `inputPath`; an empty
//! `healthStatus` means "no health"). The scripts use `goto`, `require("os")`, `os.time`,
//! `os.date` and `string.format` with nil, and a wildcard directory. The same scripts are
//! then loaded through argocd-cm keys and the native list, and must answer the same.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use driftless_core::yaml::{Limits, parse_one};
use driftless_health::config::read_directory;
use driftless_health::{Assessor, HealthChecks, HealthSource, HealthStatus, LuaOrigin};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lua/resource_customizations")
}

fn yaml(path: &Path) -> Value {
    parse_one(&std::fs::read_to_string(path).unwrap(), &Limits::default()).unwrap()
}

/// Every (kind directory, input object, expected health) of the health_test.yaml files.
fn cases() -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    for (path, _) in read_directory(&root()).unwrap() {
        let dir = root().join(&path).parent().unwrap().to_path_buf();
        let tests = yaml(&dir.join("health_test.yaml"));
        for t in tests["tests"].as_array().unwrap() {
            let input = yaml(&dir.join(t["inputPath"].as_str().unwrap()));
            out.push((path.clone(), input, t["healthStatus"].clone()));
        }
    }
    out
}

fn check_all(assessor: &Assessor, want_origin: impl Fn(&str) -> LuaOrigin) -> usize {
    let mut n = 0;
    for (path, input, expected) in cases() {
        let got = assessor.assess(Some(&input));
        let Some(status) = expected.get("status").and_then(Value::as_str) else {
            assert_eq!(got, None, "{path}: {input}");
            n += 1;
            continue;
        };
        let got = got.unwrap_or_else(|| panic!("{path}: no health for {input}"));
        assert_eq!(
            Some(got.status),
            HealthStatus::parse(status),
            "{path}: {got:?}"
        );
        assert_eq!(
            got.message,
            expected["message"].as_str().unwrap_or(""),
            "{path}"
        );
        match got.source {
            Some(HealthSource::Lua { origin, .. }) => assert_eq!(origin, want_origin(&path)),
            other => panic!("{path}: produced by {other:?}"),
        }
        n += 1;
    }
    n
}

#[test]
fn a_resource_customizations_directory_passes_its_own_tests() {
    let files = read_directory(&root()).unwrap();
    assert_eq!(files.len(), 3, "{files:?}");
    let mut checks = HealthChecks::default();
    checks.add_directory(files.iter().map(|(p, t)| (p.as_str(), t.as_str())));
    let n = check_all(&Assessor::with_checks(checks), |path| {
        LuaOrigin::Directory {
            path: path.to_string(),
        }
    });
    assert_eq!(n, 9);
}

/// `jobs.example.io/Batch/health.lua` → `jobs.example.io_Batch` (wildcards only exist in
/// the old block, as ConfigMap keys cannot hold `*`).
fn argo_key(path: &str) -> String {
    path.trim_end_matches("/health.lua").replace('/', "_")
}

#[test]
fn the_same_scripts_from_argocd_cm_and_from_the_native_list() {
    let files = read_directory(&root()).unwrap();
    let mut data = BTreeMap::new();
    let mut block = String::new();
    for (path, text) in &files {
        if path.starts_with('_') {
            let selector = path.trim_end_matches("/health.lua").replace('_', "*");
            let indented: String = text.lines().map(|l| format!("    {l}\n")).collect();
            block.push_str(&format!("\"{selector}\":\n  health.lua: |\n{indented}"));
        } else {
            data.insert(
                format!("resource.customizations.health.{}", argo_key(path)),
                text.clone(),
            );
        }
    }
    data.insert("resource.customizations".into(), block);
    let mut checks = HealthChecks::default();
    checks.add_argocd_cm(&data).unwrap();
    let n = check_all(&Assessor::with_checks(checks), |path| {
        if path.starts_with('_') {
            LuaOrigin::ArgoConfigMap {
                key: "resource.customizations[*.infra.example.io/*]".into(),
            }
        } else {
            LuaOrigin::ArgoConfigMap {
                key: format!("resource.customizations.health.{}", argo_key(path)),
            }
        }
    });
    assert_eq!(n, 9);

    let native: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| {
            (
                p.trim_end_matches("/health.lua").replace('_', "*"),
                t.clone(),
            )
        })
        .collect();
    let checks = HealthChecks::from_native(native.iter().map(|(s, t)| (s.as_str(), t.as_str())));
    assert_eq!(
        check_all(&Assessor::with_checks(checks), |_| LuaOrigin::Native),
        9
    );
}
