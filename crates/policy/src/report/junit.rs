//! JUnit XML: a `<testsuite>` per environment with a `<testcase>` per object and check
//! (schema, policy, deprecation), failing with every error message; repository-wide checks
//! (structure, YAML) form the `repository` suite, a test case per finding or one passing
//! case per check. Warnings go to `<system-out>` (JUnit has no warning level).

use std::fmt::Write;

use super::{EnvironmentReport, Report, xml_escape};
use crate::finding::{Check, Finding, Severity};

struct Case {
    name: String,
    classname: String,
    file: Option<String>,
    errors: Vec<String>,
    warnings: Vec<String>,
}

fn message(f: &Finding) -> String {
    let mut m = format!("[{}] ", f.rule);
    if let Some(field) = &f.field {
        m.push_str(&format!("{field}: "));
    }
    m.push_str(&f.message);
    m
}

fn case_of(name: String, classname: &str, file: Option<String>, findings: &[&Finding]) -> Case {
    let (errors, warnings) = findings
        .iter()
        .partition::<Vec<&&Finding>, _>(|f| f.severity == Severity::Error);
    Case {
        name,
        classname: classname.to_string(),
        file,
        errors: errors.into_iter().map(|f| message(f)).collect(),
        warnings: warnings.into_iter().map(|f| message(f)).collect(),
    }
}

fn repository_cases(report: &Report) -> Vec<Case> {
    let mut cases = Vec::new();
    for check in [Check::Structure, Check::Yaml] {
        let found: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.environment.is_empty() && f.check == check)
            .collect();
        if found.is_empty() {
            cases.push(case_of(check.as_str().into(), "repository", None, &[]));
        }
        for f in found {
            let loc = f.file.clone().unwrap_or_default();
            let name = match f.line {
                Some(l) => format!("{} {loc}:{l}", check.as_str()),
                None => format!("{} {loc}", check.as_str()),
            };
            cases.push(case_of(name, "repository", f.file.clone(), &[f]));
        }
    }
    cases
}

fn environment_cases(report: &Report, env: &EnvironmentReport) -> Vec<Case> {
    let mine: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.environment == env.name)
        .collect();
    let mut cases = Vec::new();
    // Findings not about one object (the render failed, a CRD was bad).
    let loose: Vec<&Finding> = mine
        .iter()
        .copied()
        .filter(|f| f.object.is_none())
        .collect();
    if !env.rendered || !loose.is_empty() {
        cases.push(case_of(
            "render".into(),
            &env.name,
            Some(env.path.clone()),
            &loose,
        ));
    }
    for (object, file) in &env.objects {
        for check in [Check::Schema, Check::Policy, Check::Deprecation] {
            let found: Vec<&Finding> = mine
                .iter()
                .copied()
                .filter(|f| f.check == check && f.object.as_ref() == Some(object))
                .collect();
            cases.push(case_of(
                format!("{object} [{}]", check.as_str()),
                &env.name,
                Some(file.clone()),
                &found,
            ));
        }
    }
    cases
}

fn write_suite(out: &mut String, name: &str, cases: &[Case]) {
    let failures = cases.iter().filter(|c| !c.errors.is_empty()).count();
    let _ = writeln!(
        out,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="0" skipped="0">"#,
        xml_escape(name),
        cases.len()
    );
    for c in cases {
        let _ = write!(
            out,
            r#"    <testcase name="{}" classname="{}""#,
            xml_escape(&c.name),
            xml_escape(&c.classname)
        );
        if let Some(f) = &c.file {
            let _ = write!(out, r#" file="{}""#, xml_escape(f));
        }
        if c.errors.is_empty() && c.warnings.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        if !c.errors.is_empty() {
            let _ = writeln!(
                out,
                r#"      <failure message="{}" type="error">{}</failure>"#,
                xml_escape(&c.errors[0]),
                xml_escape(&c.errors.join("\n"))
            );
        }
        if !c.warnings.is_empty() {
            let _ = writeln!(
                out,
                "      <system-out>{}</system-out>",
                xml_escape(
                    &c.warnings
                        .iter()
                        .map(|w| format!("warning: {w}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            );
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n");
}

pub fn junit(report: &Report) -> String {
    let mut suites = vec![("repository".to_string(), repository_cases(report))];
    for env in &report.environments {
        suites.push((env.name.clone(), environment_cases(report, env)));
    }
    let tests: usize = suites.iter().map(|(_, c)| c.len()).sum();
    let failures: usize = suites
        .iter()
        .flat_map(|(_, c)| c)
        .filter(|c| !c.errors.is_empty())
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        r#"<testsuites name="driftless validate" tests="{tests}" failures="{failures}" errors="0">"#
    );
    for (name, cases) in &suites {
        write_suite(&mut out, name, cases);
    }
    out.push_str("</testsuites>\n");
    out
}
