//! RELIABILITY.md items whose behaviour lives in core: bounded YAML, durations and numbers
//! validated with their object, and project fields that cannot be enforced refused loudly.

use driftless_core::definitions::Definitions;
use driftless_core::yaml::{Limits, YamlError, parse_stream};

/// A document that expands to `10^levels` scalars through 10-way aliases (under 100 aliases,
/// so the parser's alias/anchor ratio heuristic does not fire: only the node budget can stop it).
fn bomb_document(levels: usize) -> String {
    let names: Vec<char> = "abcdefgh".chars().collect();
    let mut doc = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..levels {
        doc.push_str(&format!(
            "{}: &{} [{}]\n",
            names[i],
            names[i],
            vec![format!("*{}", names[i - 1]); 10].join(",")
        ));
    }
    doc
}

#[test]
fn reliability_input_06_yaml_anchor_bomb_bounded() {
    // One big bomb (10^8 scalars), a 10k-deep flow nesting and a 10k-deep block nesting: each
    // is a bounded error naming the document, not an allocation failure or a stack overflow.
    let big = parse_stream(&bomb_document(8), &Limits::default()).unwrap_err();
    assert!(
        matches!(big, YamlError::Budget { document: 0, .. }),
        "{big}"
    );
    let flow = "[".repeat(10_000) + &"]".repeat(10_000);
    assert!(parse_stream(&flow, &Limits::default()).is_err());
    let block: String = (0..10_000)
        .map(|i| format!("{}- \n", " ".repeat(i)))
        .collect();
    assert!(parse_stream(&block, &Limits::default()).is_err());
    // Many documents each under any per-document limit still share the stream's budget.
    let stream: String = (0..40)
        .map(|_| format!("---\n{}", bomb_document(5)))
        .collect();
    let err = parse_stream(&stream, &Limits::default()).unwrap_err();
    match err {
        YamlError::Budget { document, .. } => assert!(document < 12, "{err}"),
        other => panic!("{other}"),
    }
}

#[test]
fn reliability_input_25_bad_intervals_invalidate_only_their_object() {
    let app = |name: &str, backoff: &str| {
        format!(
            "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\nspec:\n  source: {{repoURL: \"https://git.example.com/r.git\", path: x}}\n  destination: {{namespace: x}}\n  syncPolicy: {{retry: {{limit: 3, backoff: {backoff}}}}}\n"
        )
    };
    let text = [
        app("good", "{duration: 5s, factor: 2, maxDuration: 3m}"),
        app("negative", "{duration: -5s}"),
        app("overflow", "{duration: 99999999999999999999999h}"),
        app("huge", "{duration: 1000000000h}"),
        app("zero", "{duration: 0s}"),
        app("zero-factor", "{duration: 5s, factor: 0}"),
        app("inverted", "{duration: 5m, maxDuration: 5s}"),
        "---\napiVersion: driftless.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  freight: [{image: x}]\n  stages: [{name: a, applications: [good]}, {name: b, applications: [x], healthTimeout: 0s}]\n".into(),
    ]
    .concat();
    let mut d = Definitions::default();
    d.add_file(&text, "apps.yaml");
    let names: Vec<&str> = d.apps.iter().map(|p| p.app.name.as_str()).collect();
    assert_eq!(names, ["good"], "{:?}", d.errors);
    assert_eq!(d.errors.len(), 7, "{:?}", d.errors);
    for (i, field) in [
        (1, "backoff.duration: \"-5s\" is negative"),
        (2, "backoff.duration"),
        (3, "longer than"),
        (4, "must be more than 0"),
        (5, "factor 0"),
        (6, "maxDuration is shorter"),
        (7, "healthTimeout: must be more than 0"),
    ] {
        let e = &d.errors[i - 1];
        assert!(
            e.starts_with(&format!("apps.yaml#{i}")) && e.contains(field),
            "{e}"
        );
    }
}

#[test]
fn reliability_input_28_signature_verification_is_never_silently_off() {
    // Driftless does not verify commit signatures; a project asking for it (Argo CD's
    // signatureKeys) is refused rather than deployed unverified.
    let p = "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: signed}\nspec:\n  sourceRepos: ['*']\n  signatureKeys: [{keyID: 4AEE18F83AFDEB23}]\n";
    let e = driftless_core::project::parse(p, "p.yaml").unwrap_err();
    assert!(
        e.contains("spec.signatureKeys") && e.contains("refused"),
        "{e}"
    );
}
