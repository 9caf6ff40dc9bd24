//! Mermaid's own parser and renderer, in the browser, on the diagram of a fleet: 100
//! applications over four clusters (a DR mirror among them), aggregated, and the scoped ones.

use driftless_testkit::browser::Browser;

use super::WAIT;

pub(super) async fn mermaid_takes_a_fleet(b: &Browser) {
    // Mermaid's own parser and renderer take the diagram of 100 applications over four
    // clusters (a DR mirror among them), grouped and aggregated, and every scope's.
    let big = big_flow();
    let q = serde_json::to_string(&big).unwrap();
    b.eval(
        &format!("window.bigFlow = null; mermaid.parse({q}).then(() => mermaid.render('big-flow', {q})).then((r) => {{ window.bigFlow = {{ok: true, svg: r.svg}}; }}, (e) => {{ window.bigFlow = {{ok: false, error: String(e.message || e)}}; }}); return true;"),
        serde_json::json!([]),
    )
    .await;
    b.wait_for(
        "Mermaid's answer for 100 applications",
        "window.bigFlow",
        WAIT,
    )
    .await;
    let answer = b
        .eval("return {ok: window.bigFlow.ok, problem: window.bigFlow.error || '', text: window.bigFlow.svg ? new DOMParser().parseFromString(window.bigFlow.svg, 'text/html').body.textContent : ''};", serde_json::json!([]))
        .await;
    assert_eq!(answer["ok"], true, "{answer}");
    let text = answer["text"].as_str().unwrap();
    for part in [
        "96 applications",
        "cluster dr-mirror",
        "Source control",
        "stage prod · pipeline shop",
    ] {
        assert!(text.contains(part), "{part:?} not drawn: {text}");
    }
}

/// The diagram of a fleet: 96 applications in one namespace, a pipeline dev → staging → prod
/// with prod mirrored to a DR cluster, webhooks, projects.
fn big_flow() -> String {
    use driftless_engine::flow::{FlowApp, FlowInput, FlowRepo, Scope, flow};
    let app = |name: &str, cluster: &str, ns: &str| FlowApp {
        name: name.into(),
        repo: "https://git.example.com/org/fleet.git".into(),
        cluster: cluster.into(),
        namespace: ns.into(),
        automated: true,
        self_heal: true,
        sync: Some("Synced".into()),
        health: Some("Healthy".into()),
    };
    let mut apps: Vec<FlowApp> = (0..96)
        .map(|i| app(&format!("svc-{i:02}"), "fleet", "fleet"))
        .collect();
    apps.push(app("shop-dev", "in-cluster", "shop-dev"));
    apps.push(app("shop-staging", "in-cluster", "shop-staging"));
    apps.push(app("shop-prod", "prod", "shop"));
    apps.push(app("shop-dr", "dr-mirror", "shop"));
    let pipeline = serde_json::json!({
        "apiVersion": "driftless.dev/v1alpha1", "kind": "Pipeline", "metadata": {"name": "shop"},
        "spec": {"freight": [{"image": "registry.example.com/shop"}], "stages": [
            {"name": "dev", "applications": ["shop-dev"]},
            {"name": "staging", "applications": ["shop-staging"], "autoPromote": true, "soak": "10m"},
            {"name": "prod", "applications": ["shop-prod", "shop-dr"], "approval": {"required": 2, "role": "release"},
             "windows": [{"days": ["Mon"], "from": "09:00", "to": "17:00"}], "verification": {"command": ["./smoke"]}},
        ]},
    });
    let input = FlowInput {
        apps,
        repositories: vec![FlowRepo {
            name: "fleet".into(),
            url: "https://git.example.com/org/".into(),
            webhook: true,
        }],
        clusters: ["dr-mirror", "fleet", "in-cluster", "prod"]
            .map(String::from)
            .to_vec(),
        pipelines: vec![driftless_core::pipeline::Pipeline::from_doc(&pipeline, "test").unwrap()],
        projects: vec!["fleet".into()],
        resync_secs: 180,
    };
    for scope in [Scope::Pipeline("shop".into()), Scope::App("svc-01".into())] {
        assert!(
            flow(&input, &scope, 8)
                .mermaid
                .contains("subgraph platform")
        );
    }
    flow(&input, &Scope::All, 8).mermaid
}
