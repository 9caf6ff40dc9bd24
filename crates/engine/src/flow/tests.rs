//! Tests of the flow diagram: the seed's groups, gates and classes from a demo-like
//! configuration, scopes, and aggregation at 100 applications.

use super::*;

fn pipeline() -> Pipeline {
    let doc = serde_json::json!({
        "apiVersion": "driftless.dev/v1alpha1", "kind": "Pipeline",
        "metadata": {"name": "guestbook"},
        "spec": {
            "freight": [{"image": "registry.example.com/guestbook"}],
            "stages": [
                {"name": "dev", "applications": ["guestbook-dev"]},
                {"name": "staging", "applications": ["guestbook-staging"], "autoPromote": true, "soak": "5s"},
                {"name": "prod", "applications": ["guestbook-prod", "guestbook-dr"], "autoPromote": true,
                 "approval": {"required": 1, "role": "release", "timeout": "24h"},
                 "windows": [{"days": ["Mon", "Tue"], "from": "09:00", "to": "17:00"}],
                 "verification": {"command": ["./smoke.sh"]}},
            ],
        },
    });
    Pipeline::from_doc(&doc, "test").unwrap()
}

fn app(name: &str, cluster: &str, ns: &str, health: &str) -> FlowApp {
    FlowApp {
        name: name.into(),
        repo: "https://git.example.com/org/guestbook.git".into(),
        cluster: cluster.into(),
        namespace: ns.into(),
        automated: true,
        self_heal: true,
        sync: Some("Synced".into()),
        health: Some(health.into()),
    }
}

fn demo() -> FlowInput {
    FlowInput {
        apps: vec![
            app("guestbook-dev", "in-cluster", "demo-dev", "Healthy"),
            app(
                "guestbook-staging",
                "in-cluster",
                "demo-staging",
                "Progressing",
            ),
            app("guestbook-prod", "prod", "demo-prod", "Healthy"),
            app("guestbook-dr", "dr-mirror", "demo-prod", "Degraded"),
        ],
        repositories: vec![FlowRepo {
            name: "guestbook".into(),
            url: "https://git.example.com/org/".into(),
            webhook: true,
        }],
        clusters: vec!["in-cluster".into(), "prod".into(), "dr-mirror".into()],
        pipelines: vec![pipeline()],
        projects: vec!["default".into()],
        resync_secs: 180,
    }
}

/// Structural checks a Mermaid parse would fail on: balanced subgraphs, ids declared before
/// edges use them only as words, no unescaped quote inside a label.
fn well_formed(m: &str) {
    let opens = m
        .lines()
        .filter(|l| l.trim_start().starts_with("subgraph "))
        .count();
    let ends = m.lines().filter(|l| l.trim() == "end").count();
    assert_eq!(opens, ends, "unbalanced subgraphs:\n{m}");
    for l in m.lines() {
        assert_eq!(l.matches('"').count() % 2, 0, "odd quotes in {l:?}");
    }
}

#[test]
fn the_seed_groups_gates_and_classes_come_from_the_configuration() {
    let f = flow(&demo(), &Scope::All, 8);
    let m = &f.mermaid;
    well_formed(m);
    assert!(m.starts_with("flowchart LR\n"));
    for group in [
        "subgraph scm[\"Source control\"]",
        "subgraph ci[\"CI: what triggers a sync\"]",
        "subgraph cd[\"CD: Driftless engine\"]",
        "subgraph platform[",
    ] {
        assert!(m.contains(group), "{group} missing:\n{m}");
    }
    for part in [
        "controller",
        "reconciler",
        "drift detector",
        "render cache",
        "state store",
        "policy gate",
        "secret handling",
    ] {
        assert!(m.contains(part), "engine part {part} missing");
    }
    // Every cluster with its stages; the DR mirror hosts a prod-stage app.
    for c in ["cluster in-cluster", "cluster prod", "cluster dr-mirror"] {
        assert!(m.contains(c), "{c} missing");
    }
    assert!(m.contains("stage staging · pipeline guestbook"));
    // The prod gate lists soak-free health, window, approval, verification; it is a
    // verification step (class verify) between the staging and prod stage subgraphs.
    let gate = m.lines().find(|l| l.contains("staging → prod")).unwrap();
    for g in [
        "approval ×1 (release)",
        "window Mon,Tue 09:00–17:00",
        "verification",
        "moves: image registry.example.com/guestbook",
    ] {
        assert!(gate.contains(g), "{g} not in {gate}");
    }
    assert!(m.contains("soak 5s"));
    assert!(m.lines().any(|l| l.trim_start().starts_with("class ")
        && l.contains("gate_0")
        && l.ends_with(" verify")));
}

#[test]
fn triggers_classes_and_links_come_from_the_configuration() {
    let f = flow(&demo(), &Scope::All, 8);
    let m = &f.mermaid;
    // Triggers: webhook per provider (a security check: HMAC), image-set from CI, polling.
    assert!(m.contains("webhook GitHub · GitLab · Bitbucket · Gitea · generic"));
    assert!(m.contains("ci_image -->|write-back commit| repo_0"));
    // Prod is hosted by two clusters: the promotion reaches both.
    assert_eq!(
        m.lines()
            .filter(|l| l.trim_start().starts_with("gate_1 ==>|promote|"))
            .count(),
        2
    );
    // No edge inside a subgraph (it would pull the engine's nodes into the platform).
    let mut depth = 0;
    for l in m.lines() {
        let t = l.trim_start();
        if t.starts_with("subgraph ") {
            depth += 1
        } else if t == "end" {
            depth -= 1
        } else if t.contains("-->") || t.contains("==>") || t.contains("-.->") {
            assert_eq!(depth, 0, "edge inside a subgraph: {l}")
        }
    }
    assert!(m.contains("every 180s"));
    assert!(m.contains("write-back target"));
    // Class definitions per group, security highlighted, live status colours.
    for c in [
        "scm",
        "ci",
        "cd",
        "platform",
        "verify",
        "security",
        "healthy",
        "degraded",
        "progressing",
    ] {
        assert!(
            m.contains(&format!("classDef {c} ")),
            "classDef {c} missing"
        );
    }
    let security = m
        .lines()
        .find(|l| l.trim_start().starts_with("class ") && l.ends_with(" security"))
        .unwrap();
    assert!(security.contains("cd_policy") && security.contains("ci_hook_0"));
    let degraded = m
        .lines()
        .find(|l| l.trim_start().starts_with("class ") && l.ends_with(" degraded"))
        .unwrap();
    let dr = f.links.iter().find(|l| l.name == "guestbook-dr").unwrap();
    assert!(
        degraded.contains(&dr.id),
        "the degraded DR app is coloured degraded: {degraded}"
    );
    // Links for the UI: apps, stages (their pipeline), clusters.
    assert!(
        f.links
            .iter()
            .any(|l| l.kind == "cluster" && l.name == "dr-mirror")
    );
    assert!(
        f.links
            .iter()
            .any(|l| l.kind == "pipeline" && l.name == "guestbook")
    );
}

#[test]
fn scopes_narrow_to_a_pipeline_or_an_app() {
    let mut input = demo();
    input
        .apps
        .push(app("other", "in-cluster", "misc", "Healthy"));
    let all = flow(&input, &Scope::All, 8);
    assert!(all.mermaid.contains("other<br/>"));
    let p = flow(&input, &Scope::Pipeline("guestbook".into()), 8);
    assert!(!p.mermaid.contains("other<br/>") && p.mermaid.contains("guestbook-prod<br/>"));
    let a = flow(&input, &Scope::App("guestbook-prod".into()), 8);
    well_formed(&a.mermaid);
    let apps: Vec<&str> = a
        .links
        .iter()
        .filter(|l| l.kind == "application")
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(apps, ["guestbook-prod"]);
    assert!(
        !a.mermaid.contains("cluster dr-mirror"),
        "clusters without the app are left out"
    );
}

#[test]
fn a_hundred_applications_are_aggregated_per_group() {
    let mut input = demo();
    for i in 0..100 {
        let h = if i % 10 == 0 { "Degraded" } else { "Healthy" };
        input
            .apps
            .push(app(&format!("svc-{i:03}"), "in-cluster", "fleet", h));
    }
    let f = flow(&input, &Scope::All, 8);
    well_formed(&f.mermaid);
    assert!(
        f.mermaid
            .contains("100 applications<br/>10 degraded · 90 healthy"),
        "{}",
        f.mermaid
    );
    assert!(!f.mermaid.contains("svc-042"));
    assert!(
        f.mermaid.lines().count() < 120,
        "{} lines",
        f.mermaid.lines().count()
    );
    // The small groups keep their applications.
    assert!(f.links.iter().any(|l| l.name == "guestbook-prod"));
}

#[test]
fn labels_cannot_break_out_of_their_quotes() {
    let mut input = demo();
    input.apps[0].name = "x\"] --> evil[\"y<script>".into();
    let f = flow(&input, &Scope::All, 8);
    well_formed(&f.mermaid);
    assert!(!f.mermaid.contains("<script>") && f.mermaid.contains("x#quot;] --#gt; evil"));
}
