//! RELIABILITY.md "bad inputs", one named test per item this module owns (the number is the
//! item's): URLs, kubeconfig exec, credentials, Secret masking, projects, ignore rules, and
//! (in [`render`]) render paths, symlinks, caps, cycles, plugins, the render cache and the
//! peak memory of hostile YAML. Each asserts the behaviour in the item's brackets. Also the
//! stable replay of the kustomization and webhook fuzz corpora.

use crate::common;

mod render;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use driftless_core::ResourceKey;
use driftless_diff::CompareOptions;
use driftless_render::local::LocalTree;
use driftless_render::{RenderLimits, Rendered, RendererSpec, render};
use serde_json::json;

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// Renders `path` of the directory `root`.
fn render_dir(
    root: &Path,
    path: &str,
    spec: &RendererSpec,
) -> Result<Rendered, driftless_render::RenderError> {
    let tree = LocalTree::new(root).expect("the test's directory opens");
    render(&tree, path, spec, &RenderLimits::default())
}

/// The whole message of a render that must fail (with its causes).
fn failure(r: Result<Rendered, driftless_render::RenderError>) -> String {
    match r {
        Ok(_) => panic!("the render succeeded"),
        Err(e) => format!("{e:#}"),
    }
}

const SECRET: &str = "TOPSECRET-c0ffee";

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{a: b}}\n")
}

#[test]
fn reliability_input_10_unsafe_repository_urls_are_refused() {
    use driftless_git::url::check;
    let policy = driftless_git::UrlPolicy::default();
    for url in [
        "file:///etc",
        "/var/lib/driftless",
        "ext::sh -c touch% /tmp/pwned",
        "https://127.0.0.1/x.git",
        "https://[::1]/x.git",
        "https://169.254.169.254/latest/meta-data",
        "https://100.100.100.200/x",
        "http://git.example.com/x.git",
        "https://user:pw@github.com/a/b.git",
    ] {
        let e = check(url, &policy).unwrap_err().to_string();
        assert!(!e.contains(":pw@"), "{e}");
    }
}

/// An HTTPS Git server asking for basic auth with a password full of shell syntax.
fn shell_server(
    repo: &driftless_testkit::repo::TestRepo,
    password: &str,
) -> driftless_testkit::http::GitHttpServer {
    driftless_testkit::http::GitHttpServer::start_tls(
        repo.root(),
        driftless_testkit::http::Auth::Basic {
            user: "bot".into(),
            password: password.into(),
        },
    )
}

fn mirror_of(
    data: &Path,
    srv: &driftless_testkit::http::GitHttpServer,
    repo: &str,
) -> driftless_git::Mirror {
    let policy = driftless_git::UrlPolicy {
        allow_local: true,
        allow_insecure: false,
    };
    let m = driftless_git::Mirror::open(data, &srv.url(repo), policy).unwrap();
    m.with_ca_file(srv.ca_file().unwrap())
}

fn basic(password: &str) -> driftless_git::Credentials {
    driftless_git::Credentials::Basic {
        username: "bot".into(),
        password: driftless_git::Secret::new(password),
    }
}

#[test]
fn reliability_input_10_a_cross_host_redirect_is_refused_without_credentials() {
    use driftless_testkit::http::{Auth, Fault, GitHttpServer};
    let repo = driftless_testkit::repo::TestRepo::new("r");
    repo.commit(&[("a.yaml", Some(&cm("a")))], "a");
    let elsewhere = GitHttpServer::start_tls(repo.root(), Auth::None);
    let front = shell_server(&repo, "pw");
    front.set_fault(Fault::RedirectTo(
        elsewhere.base().replace("127.0.0.1", "localhost"),
    ));
    let data = tempfile::tempdir().unwrap();
    let m = mirror_of(data.path(), &front, &repo.name());
    assert!(
        m.fetch(&basic("pw"), &driftless_git::FetchOptions::default())
            .is_err()
    );
    assert!(elsewhere.authorization_headers_seen().is_empty());
    assert_eq!(elsewhere.requests(), 0, "the redirect was followed");
}

#[test]
fn reliability_input_12_shell_metacharacters_in_credentials_are_used_literally() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let password = format!(
        "p'\"$(touch {m}) `touch {m}`; touch {m} | & %s",
        m = marker.display()
    );
    let repo = driftless_testkit::repo::TestRepo::new("r");
    let head = repo.commit(&[("a.yaml", Some(&cm("a")))], "a");
    let srv = shell_server(&repo, &password);
    let m = mirror_of(dir.path().join("data").as_path(), &srv, &repo.name());
    m.fetch(&basic(&password), &driftless_git::FetchOptions::default())
        .unwrap();
    assert_eq!(m.resolve("main").unwrap(), head);
    assert!(!marker.exists(), "a shell ran part of the password");
    // And a wrong one (one character off) is refused: the server really checked it.
    let other = tempfile::tempdir().unwrap();
    let m = mirror_of(other.path(), &srv, &repo.name());
    assert!(
        m.fetch(
            &basic(&password[1..]),
            &driftless_git::FetchOptions::default()
        )
        .is_err()
    );
}

#[tokio::test]
async fn reliability_input_11_kubeconfig_exec_is_refused_by_default() {
    use driftless_kube::{ClusterSource, connect};
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:1'}}}}]\nusers: [{{name: u, user: {{exec: {{apiVersion: client.authentication.k8s.io/v1, command: sh, args: [-c, 'touch {}'], interactiveMode: Never}}}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\n",
        marker.display()
    );
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    let Err(err) = connect(&ClusterSource::Kubeconfig {
        path,
        context: None,
        allow_exec: false,
    })
    .await
    else {
        panic!("an exec kubeconfig was accepted")
    };
    assert!(err.to_string().contains("exec"), "{err}");
    assert!(!marker.exists(), "the exec plugin ran");
}

#[test]
fn reliability_input_13_bad_base64_secrets_never_show_their_values() {
    let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"},
        "data": {"token": format!("!!not-base64 {SECRET}")}});
    let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"},
        "data": {"token": "b2xk"}});
    let key = ResourceKey::new("", "Secret", "n", "s");
    let opts = CompareOptions {
        app: "a".into(),
        ..Default::default()
    };
    for live in [None, Some(&live)] {
        let d = driftless_diff::compare_resource(&key, Some(&desired), live, None, &opts);
        let shown = serde_json::to_string(&d).unwrap();
        assert!(
            !shown.contains(SECRET) && !shown.contains("b2xk"),
            "{shown}"
        );
        assert!(!d.diff.is_empty());
    }
}

#[test]
fn reliability_input_14_secret_data_in_annotations_and_last_applied_is_masked() {
    let encoded = "VE9QU0VDUkVULWMwZmZlZQ==".to_string(); // base64 of SECRET
    let secret = |value: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": format!("{{\"data\":{{\"t\":\"{value}\"}}}}"),
                "copied": format!("token={SECRET}"),
                "copied-b64": value,
            }},
            "data": {"t": value}})
    };
    let key = ResourceKey::new("", "Secret", "n", "s");
    let opts = CompareOptions {
        app: "a".into(),
        ..Default::default()
    };
    let d = driftless_diff::compare_resource(
        &key,
        Some(&secret(&encoded)),
        Some(&secret("b2xk")),
        None,
        &opts,
    );
    let shown = serde_json::to_string(&d).unwrap();
    assert!(
        !shown.contains(SECRET) && !shown.contains(&encoded),
        "{shown}"
    );
    let one = driftless_diff::mask::masked(&secret(&encoded));
    let shown = one.to_string();
    assert!(
        !shown.contains(SECRET) && !shown.contains(&encoded),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_input_15_forbidden_kind_rejects_the_whole_sync_before_applying() {
    let env = env().await;
    let repo = driftless_testkit::repo::TestRepo::new("team");
    let url = format!("file://{}/{}", repo.root().display(), repo.name());
    repo.commit(
        &[
            ("app/cm.yaml", Some(&cm("allowed"))),
            (
                "app/ns.yaml",
                Some("apiVersion: v1\nkind: Namespace\nmetadata: {name: elsewhere}\n"),
            ),
        ],
        "a",
    );
    let (ctl, _stop, _dir) = running_controller(&env, fast()).await;
    let team = driftless_core::project::parse(
        "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: team}\nspec: {sourceRepos: ['*'], destinations: [{namespace: team, server: 'https://kubernetes.default.svc'}]}\n",
        "p.yaml",
    )
    .unwrap()
    .remove(0);
    ctl.set_project(team, "alice").await.unwrap();
    ctl.set_app(
        app_yaml("t", "team", &url, "app", "team", "automated: {prune: true}"),
        "alice",
    )
    .await
    .unwrap();
    let status = wait_status(&ctl, "t", "the expected status", |s| {
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("project team"))
    })
    .await;
    let e = status.error.as_deref().unwrap();
    assert!(e.contains("cluster-scoped Namespace"), "{e}");
    assert!(
        get(&env, "v1", "ConfigMap", "team", "allowed")
            .await
            .is_none(),
        "nothing applied"
    );
    assert!(
        get(&env, "v1", "Namespace", "", "elsewhere")
            .await
            .is_none()
    );
    // A destination cluster the project does not list is refused the same way.
    ctl.set_app(
        app_yaml("u", "team", &url, "app", "team", "automated: {}"),
        "alice",
    )
    .await
    .unwrap();
    let mut other = app_yaml("u", "team", &url, "app", "team", "automated: {}");
    other.destination.name = "in-cluster".into();
    other.destination.server = String::new();
    let p = driftless_core::project::parse(
        "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: team}\nspec: {sourceRepos: ['*'], destinations: [{namespace: team, server: 'https://prod.example.com'}]}\n",
        "p.yaml",
    )
    .unwrap()
    .remove(0);
    ctl.set_project(p, "alice").await.unwrap();
    ctl.set_app(other, "alice").await.unwrap();
    wait_status(&ctl, "u", "the expected status", |s| {
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("destination cluster"))
    })
    .await;
}

#[test]
fn reliability_input_21_javascript_urls_are_inert() {
    let policy = driftless_git::UrlPolicy {
        allow_local: true,
        allow_insecure: true,
    };
    for url in [
        "javascript:alert(1)",
        "JavaScript:fetch('//x')",
        "data:text/html,<script>",
    ] {
        assert!(driftless_git::url::check(url, &policy).is_err(), "{url}");
    }
    // In an application's annotations a link is data: it is stored and shown, never run or
    // fetched by the engine (the UI renders annotation text, not markup; docs/SECURITY.md).
    let mut d = driftless_core::definitions::Definitions::default();
    d.add_file(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x, annotations: {link.argocd.argoproj.io/external-link: 'javascript:alert(1)'}}\nspec: {source: {repoURL: 'javascript:alert(1)', path: x}, destination: {}}\n",
        "a.yaml",
    );
    assert_eq!(d.apps.len(), 1, "{:?}", d.errors);
}

#[test]
fn reliability_input_26_expensive_ignore_expressions_stay_bounded() {
    // ignoreDifferences has no regex and a jq subset without recursion: the cost is linear in
    // the object. A wide object and a long expression still finish well inside a second.
    let rule: driftless_diff::IgnoreRule = serde_json::from_value(json!({
        "kind": "*",
        "jqPathExpressions": [format!(".spec{}", "[]".repeat(64)), ".spec.items[] | select(.name == \"x\") | .value"],
    }))
    .unwrap();
    rule.validate().unwrap();
    let items: Vec<_> = (0..200_000)
        .map(|i| json!({"name": if i % 2 == 0 { "x" } else { "y" }, "value": i}))
        .collect();
    let mut obj = json!({"spec": {"items": items}});
    let started = Instant::now();
    rule.strip(&mut obj);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(obj["spec"]["items"][0].get("value").is_none());
    assert!(obj["spec"]["items"][1].get("value").is_some());
    // An unsupported (potentially costly) construct is refused at load, not run.
    let bad: driftless_diff::IgnoreRule = serde_json::from_value(
        json!({"kind": "*", "jqPathExpressions": [".. | test(\"(a+)+$\")"]}),
    )
    .unwrap();
    assert!(bad.validate().is_err());
}

fn fast() -> driftless_engine::controller::ControllerConfig {
    driftless_engine::controller::ControllerConfig {
        resync: Duration::from_millis(300),
        self_heal_grace: Duration::from_millis(300),
        ..Default::default()
    }
}

/// An application of `project` on `url`/`path` into `ns`; `sync` is the syncPolicy body.
pub(crate) fn app_yaml(
    name: &str,
    project: &str,
    url: &str,
    path: &str,
    ns: &str,
    sync: &str,
) -> driftless_core::app::Application {
    driftless_core::app::parse(
        &format!(
            "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\nspec:\n  project: {project}\n  source: {{repoURL: \"{url}\", path: {path}, targetRevision: main}}\n  destination: {{namespace: {ns}}}\n  syncPolicy:\n    {sync}\n    syncOptions: [CreateNamespace=true]\n"
        ),
        "test.yaml",
    )
    .unwrap()
    .remove(0)
    .app
}

/// The fuzz corpus of `target` (`fuzz/corpus/TARGET/`), sorted.
fn fuzz_corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(paths.len() >= 5, "{}: corpus too small", dir.display());
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// The kustomization fuzz target's body on stable: each corpus file is the kustomization of
/// a tree that also holds the files it may name; any answer but a panic is fine.
#[test]
fn fuzz_corpus_kustomization_replays_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "app/deploy.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx:1.0}]}\n",
            ),
            (
                "app/patch.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n",
            ),
            ("app/values.env", "A=1\nB=2\n"),
            ("base/kustomization.yaml", "resources: [cm.yaml]\n"),
            ("base/cm.yaml", &cm("c")),
        ],
    );
    let limits = RenderLimits {
        max_objects: 500,
        ..RenderLimits::default()
    };
    for bytes in fuzz_corpus("kustomization") {
        std::fs::write(dir.path().join("app/kustomization.yaml"), &bytes).unwrap();
        let tree = LocalTree::new(dir.path()).unwrap();
        let _ = render(&tree, "app", &RendererSpec::Kustomize, &limits);
    }
}

/// The webhook fuzz target's body on stable.
#[test]
fn fuzz_corpus_webhook_replays_without_panic() {
    let pointers = [
        "/repository/clone_url",
        "/repository/ssh_url",
        "/repository/html_url",
        "/project/git_http_url",
        "/project/git_ssh_url",
        "/project/web_url",
        "/repository/links/html/href",
        "/repoURL",
    ];
    let mut urls = 0;
    for bytes in fuzz_corpus("webhook") {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            for p in pointers {
                if let Some(url) = v.pointer(p).and_then(serde_json::Value::as_str) {
                    urls += 1;
                    let _ = driftless_core::trust::host_of_url(url);
                    let _ = driftless_engine::controller::normalize_repo_url(url);
                }
            }
        }
    }
    assert!(urls >= 5, "the corpus exercises the URL pointers");
}
