//! Fixture tests: every document in `tests/fixtures/*.yaml` is an object plus `expect`:
//! `status` (or `None` for kinds without health), text the message must contain, and
//! optionally `check`, the family or rule that must have produced it (`kind` for a core
//! kind's check, `conditions` for the generic rule).

use driftless_core::yaml::{Limits, parse_stream};
use driftless_health::{Assessor, Health, HealthSource, HealthStatus};
use serde_json::Value;

fn check_name(h: &Health) -> &str {
    match &h.source {
        Some(HealthSource::BuiltinFamily { family, .. }) => family,
        Some(HealthSource::BuiltinKind { .. }) => "kind",
        Some(HealthSource::Conditions) => "conditions",
        Some(HealthSource::Lifecycle) => "lifecycle",
        Some(HealthSource::Lua { .. }) => "lua",
        None => "none",
    }
}

fn matches(expect: &Value, got: &Option<Health>) -> bool {
    let want = expect["status"].as_str().unwrap_or("?");
    match (got, want) {
        (None, "None") => true,
        (Some(h), w) => {
            HealthStatus::parse(w) == Some(h.status)
                && expect["message"]
                    .as_str()
                    .is_none_or(|m| h.message.contains(m))
                && expect["check"].as_str().is_none_or(|c| c == check_name(h))
        }
        _ => false,
    }
}

#[test]
fn every_fixture_gets_its_expected_health() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let assessor = Assessor::default();
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut seen = std::collections::BTreeMap::<String, Vec<String>>::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, doc) in parse_stream(&text, &Limits::default())
            .unwrap()
            .into_iter()
            .enumerate()
        {
            let mut obj = doc.value;
            let expect = obj
                .as_object_mut()
                .unwrap()
                .remove("expect")
                .expect("fixture has expect");
            let got = assessor.assess(Some(&obj));
            if !matches(&expect, &got) {
                failures.push(format!(
                    "{}#{i} ({}): want {expect}, got {got:?}",
                    file.display(),
                    obj["kind"]
                ));
            }
            if let Some(h) = &got {
                seen.entry(check_name(h).to_string())
                    .or_default()
                    .push(h.status.to_string());
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 100, "only {checked} fixtures found");
    // Every project family is covered by fixtures, and for healthy, progressing and
    // degraded objects at least.
    for family in [
        "cert-manager",
        "argo-rollouts",
        "argo-workflows",
        "flux",
        "crossplane",
        "external-secrets",
        "sealed-secrets",
        "keda",
        "prometheus-operator",
        "knative",
        "tekton",
        "cloudnative-pg",
        "strimzi",
        "istio",
        "conditions",
    ] {
        let statuses = seen.get(family).cloned().unwrap_or_default();
        for status in ["Healthy", "Progressing", "Degraded"] {
            assert!(
                statuses.iter().any(|s| s == status),
                "{family} has no {status} fixture: {statuses:?}"
            );
        }
    }
}
