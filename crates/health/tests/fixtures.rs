//! Fixture tests: every document in `tests/fixtures/*.yaml` is an object plus `expect`
//! (`status`, or `None` for kinds without health, and text the message must contain).

use driftless_core::yaml::{Limits, parse_stream};
use driftless_health::{Assessor, HealthStatus};

#[test]
fn every_fixture_gets_its_expected_health() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let assessor = Assessor::default();
    let mut checked = 0;
    let mut failures = Vec::new();
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
            let want = expect["status"].as_str().unwrap();
            let got = assessor.assess(Some(&obj)).unwrap();
            let ok = match (&got, want) {
                (None, "None") => true,
                (Some(h), w) => {
                    HealthStatus::parse(w) == Some(h.status)
                        && expect["message"]
                            .as_str()
                            .is_none_or(|m| h.message.contains(m))
                }
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "{}#{i} ({}): want {expect}, got {got:?}",
                    file.display(),
                    obj["kind"]
                ));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 40, "only {checked} fixtures found");
}

#[test]
fn an_absent_object_is_missing() {
    let h = Assessor::default().assess(None).unwrap().unwrap();
    assert_eq!(h.status, HealthStatus::Missing);
}

#[test]
fn a_custom_check_overrides_the_builtin_for_its_kinds_only() {
    let check = driftless_health::LuaCheck::new(
        "apps/Deployment",
        r#"return { status = "Suspended", message = "custom " .. obj.metadata.name }"#,
    )
    .unwrap();
    let a = Assessor::new(vec![check]);
    let d = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    assert_eq!(a.assess(Some(&d)).unwrap().unwrap().message, "custom web");
    let ns =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
    assert_eq!(
        a.assess(Some(&ns)).unwrap().unwrap().status,
        HealthStatus::Healthy
    );
}
