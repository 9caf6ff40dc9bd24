//! Image updates from CI on a real Git repository and the sandbox: the tag lands in the
//! overlay's kustomization by a commit (comments kept), the app deploys it, and concurrent
//! updates of the same file both land.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use driftless_engine::controller::ControllerConfig;
use driftless_testkit::repo::TestRepo;

const BASE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n";
const DEV: &str = "# dev overlay: CI writes the tag below\nresources:\n- ../../base\nimages:\n- name: nginx\n  newTag: \"1.27\"  # bumped by CI\n";

async fn image_in_cluster(env: &Env) -> String {
    get(env, "apps/v1", "Deployment", "shop", "web")
        .await
        .map(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default()
}

async fn until_image(env: &Env, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while image_in_cluster(env).await != want {
        assert!(
            Instant::now() < deadline,
            "image is {}, expected {want}",
            image_in_cluster(env).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `shop` application (the dev overlay of a Git repository) running on the sandbox,
/// created by `actor` and synced at `nginx:1.27`.
struct Shop {
    ctl: std::sync::Arc<driftless_engine::controller::Controller>,
    repo: TestRepo,
    url: String,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn shop_synced(env: &Env, actor: &str) -> Shop {
    let repo = TestRepo::new("config");
    repo.commit(
        &[
            ("base/deploy.yaml", Some(BASE)),
            (
                "base/kustomization.yaml",
                Some("resources: [deploy.yaml]\n"),
            ),
            ("overlays/dev/kustomization.yaml", Some(DEV)),
        ],
        "dev",
    );
    let url = format!("file://{}/{}", repo.root().display(), repo.name());
    let cfg = ControllerConfig {
        resync: Duration::from_millis(300),
        ..Default::default()
    };
    let (ctl, _stop, _dir) = running_controller(env, cfg).await;
    let app = driftless_core::app::parse(
        &format!("apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: shop}}\nspec:\n  source: {{repoURL: \"{url}\", path: overlays/dev, targetRevision: main}}\n  destination: {{namespace: shop}}\n  syncPolicy:\n    automated: {{prune: true}}\n    syncOptions: [CreateNamespace=true]\n"),
        "shop.yaml",
    )
    .unwrap()
    .remove(0)
    .app;
    ctl.set_app(app, actor).await.unwrap();
    until_image(env, "nginx:1.27").await;
    Shop {
        ctl,
        repo,
        url,
        _stop,
        _dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_set_commits_the_tag_and_the_app_deploys_it() {
    let env = env().await;
    let Shop { ctl, repo, .. } = &shop_synced(&env, "ci").await;

    let done = ctl.set_image("shop", "nginx:1.28", "ci-bot").await.unwrap();
    assert_eq!(done.file, "overlays/dev/kustomization.yaml");
    assert_eq!(done.previous.as_deref(), Some("1.27"));
    assert_eq!(repo.git_bare(&["rev-parse", "main"]).trim(), done.commit);
    let file = repo.git_bare(&["show", "main:overlays/dev/kustomization.yaml"]);
    assert_eq!(
        file.trim(),
        DEV.replace("1.27", "1.28").trim(),
        "only the tag changed"
    );
    let log = repo.git_bare(&["log", "-1", "--format=%an|%B", "main"]);
    assert!(
        log.starts_with("Driftless|Set image nginx:1.28 in overlays/dev")
            && log.contains("By ci-bot"),
        "{log}"
    );
    until_image(&env, "nginx:1.28").await;

    // Two updates of the same file at once: both land, one after the other.
    let (a, b) = tokio::join!(
        ctl.set_image("shop", "nginx:1.29", "ci-1"),
        ctl.set_image("shop", "redis:7.4", "ci-2")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.commit, b.commit);
    let file = repo.git_bare(&["show", "main:overlays/dev/kustomization.yaml"]);
    assert!(
        file.contains("newTag: \"1.29\"  # bumped by CI") || file.contains("newTag: \"1.29\""),
        "{file}"
    );
    assert!(file.contains("- name: redis\n  newTag: \"7.4\""), "{file}");
    assert!(
        file.starts_with("# dev overlay: CI writes the tag below\n"),
        "{file}"
    );
    until_image(&env, "nginx:1.29").await;
    let audit = ctl
        .store
        .list_audit(&driftless_store::AuditQuery {
            action: Some("image.set".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 3);

    // Bad input changes nothing.
    let head = repo.git_bare(&["rev-parse", "main"]);
    let e = ctl.set_image("shop", "nginx", "ci").await.unwrap_err();
    assert_eq!(e.kind(), driftless_engine::ErrorKind::Invalid, "{e}");
    assert!(e.to_string().contains("neither a tag nor a digest"), "{e}");
    let e = ctl.set_image("nope", "nginx:1", "ci").await.unwrap_err();
    assert_eq!(e.kind(), driftless_engine::ErrorKind::NotFound, "{e}");
    assert_eq!(repo.git_bare(&["rev-parse", "main"]), head);
}

/// The UI's views: the resource tree follows owner references from a tracked Deployment to
/// what it owns (the ReplicaSet and Pod the sandbox's controllers make), and
/// the flow graph links the repository, the application and its cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_tree_follows_owner_references_and_the_graph_links_the_flow() {
    use driftless_core::cluster::Cluster;
    let env = env().await;
    let Shop { ctl, url, .. } = &shop_synced(&env, "test").await;
    let deploy = get(&env, "apps/v1", "Deployment", "shop", "web")
        .await
        .unwrap();
    // Not owned by anything of the app: not in its tree.
    let stray = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray", "namespace": "shop"},
        "spec": {"containers": [{"name": "x", "image": "busybox"}]}});
    env.cluster.create(&stray).await.unwrap();

    // The sandbox's controllers grow the Deployment's ReplicaSet and Pod, as a real
    // controller manager does.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let tree = loop {
        let synced = ctl.stored_status("shop").await.unwrap().is_synced();
        let tree = ctl.resource_tree("shop").await.unwrap();
        if synced && tree.iter().any(|n| n["kind"] == "Pod") {
            break tree;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "shop never Synced with its pod: {tree:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let d = tree.iter().find(|n| n["kind"] == "Deployment").unwrap();
    assert_eq!(d["status"], "Synced");
    let p = tree.iter().find(|n| n["kind"] == "Pod").unwrap();
    let r = tree
        .iter()
        .find(|n| n["kind"] == "ReplicaSet" && n["uid"] == p["owners"][0])
        .unwrap_or_else(|| panic!("the pod's ReplicaSet is in the tree: {tree:?}"));
    assert_eq!(r["owners"][0], deploy["metadata"]["uid"]);
    assert!(
        tree.iter().all(|n| n["name"] != "stray"),
        "the stray pod is not the app's: {tree:?}"
    );

    // The flow diagram from the live configuration: the app in its cluster, rendered from
    // its repository (labels are Mermaid-escaped, so the URL shows as it is).
    let g = ctl.flow_graph(&driftless_engine::flow::Scope::All).await;
    let mermaid = &g.mermaid;
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert!(
        mermaid.contains("subgraph cl_0[\"cluster in-cluster\"]"),
        "{mermaid}"
    );
    let app = g
        .links
        .iter()
        .find(|l| l.kind == "application" && l.name == "shop")
        .unwrap_or_else(|| panic!("no shop node: {mermaid}"));
    assert!(
        mermaid.contains(&format!("repo_0 -.->|renders| {}", app.id)),
        "{mermaid}"
    );
    assert!(
        mermaid.contains(&format!("{}<br/>", driftless_git::url::redact(url))),
        "{mermaid}"
    );
}
