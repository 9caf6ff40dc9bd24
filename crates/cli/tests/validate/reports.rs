//! The JUnit XML and SARIF reports of `driftless validate`, parsed and checked element by
//! element.

use std::path::PathBuf;

use serde_json::Value;

use super::{edit, seed, validate};

fn failing_repo() -> tempfile::TempDir {
    let dir = seed();
    edit(
        dir.path(),
        "applications/shop/deployment.yaml",
        "web:1.4.2",
        "web:latest",
    );
    std::fs::write(dir.path().join("clusters/eu-1/dup.yaml"), "a: 1\na: 2\n").unwrap();
    dir
}

#[test]
fn junit_report_has_a_suite_per_environment_and_failures() {
    let dir = failing_repo();
    let report: PathBuf = dir.path().join("out/report.xml");
    std::fs::create_dir_all(report.parent().unwrap()).unwrap();
    let out = validate(
        dir.path(),
        &["-o", "junit", "--output", report.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("4 error(s)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = std::fs::read_to_string(&report).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("failures"), Some("4"));
    let suites: Vec<&str> = root
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.attribute("name").unwrap())
        .collect();
    assert_eq!(
        suites,
        ["repository", "shop-dev", "shop-prod", "shop-staging"]
    );
    let dev = root
        .children()
        .find(|n| n.attribute("name") == Some("shop-dev"))
        .unwrap();
    // 3 objects x 3 checks.
    assert_eq!(dev.attribute("tests"), Some("9"));
    assert_eq!(dev.attribute("failures"), Some("1"));
    let failed = dev
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    let case = failed.parent().unwrap();
    assert_eq!(
        case.attribute("name"),
        Some("apps/v1 Deployment shop-dev/shop [policy]")
    );
    assert_eq!(
        case.attribute("file"),
        Some("applications/shop/deployment.yaml")
    );
    assert!(
        failed
            .attribute("message")
            .unwrap()
            .starts_with("[builtin.no-latest-tag] spec.template.spec.containers[0].image:")
    );
    let repo = root
        .children()
        .find(|n| n.attribute("name") == Some("repository"))
        .unwrap();
    let dup = repo
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert!(dup.text().unwrap().contains("[yaml.duplicate-key]"));
}

#[test]
fn sarif_report_locates_results() {
    let dir = failing_repo();
    let out = validate(dir.path(), &["-o", "sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["version"], "2.1.0");
    let run = &s["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "driftless");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        assert_eq!(
            rules[r["ruleIndex"].as_u64().unwrap() as usize],
            r["ruleId"].as_str().unwrap()
        );
        assert_eq!(r["level"], "error");
    }
    let dup = results
        .iter()
        .find(|r| r["ruleId"] == "yaml.duplicate-key")
        .unwrap();
    let loc = &dup["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "clusters/eu-1/dup.yaml");
    assert_eq!(
        (
            loc["region"]["startLine"].as_u64(),
            loc["region"]["startColumn"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let latest = results
        .iter()
        .find(|r| r["ruleId"] == "builtin.no-latest-tag")
        .unwrap();
    assert_eq!(
        latest["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "applications/shop/deployment.yaml"
    );
    let region = &latest["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (region["startLine"].as_u64(), region["startColumn"].as_u64()),
        (Some(20), Some(11))
    );
    assert_eq!(
        latest["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "apps/v1 Deployment shop-dev/shop/spec.template.spec.containers[0].image"
    );
}
