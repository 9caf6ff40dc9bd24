//! API-server conformance through kube-rs: what Driftless needs of a cluster, asserted on
//! objects read back. By default against a fresh Driftless sandbox; with
//! `DRIFTLESS_CONFORMANCE_KUBECONFIG=path` the same assertions run against that cluster
//! (each test works in a namespace of its own and deletes it). Nothing here needs a node.

use std::time::Duration;

use driftless_kube::{ClusterSource, connect};
use futures_util::StreamExt;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Discovery;
use serde_json::{Value, json};

/// A cluster to test against, and a namespace of this test's own.
pub(crate) struct Target {
    pub(crate) client: kube::Client,
    pub(crate) ns: String,
    pub(crate) kubeconfig: std::path::PathBuf,
    /// The sandbox when the suite runs on one (`None` on a real cluster).
    pub(crate) sandbox: Option<driftless_sandbox::Sandbox>,
    _dir: tempfile_dir::Dir,
}

mod tempfile_dir {
    /// A directory removed on drop (the sandbox's kubeconfig lives there).
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub(crate) async fn target() -> Target {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("driftless-conformance-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (path, sandbox) = match std::env::var_os("DRIFTLESS_CONFORMANCE_KUBECONFIG") {
        Some(p) => (std::path::PathBuf::from(p), None),
        None => {
            let sb = driftless_sandbox::Sandbox::start(0).await.unwrap();
            let path = dir.join("kubeconfig");
            std::fs::write(&path, sb.kubeconfig()).unwrap();
            (path, Some(sb))
        }
    };
    let client = connect(&ClusterSource::Kubeconfig {
        path: path.clone(),
        context: None,
        // The person running the suite chose this kubeconfig.
        allow_exec: true,
    })
    .await
    .unwrap();
    let ns = format!(
        "conformance-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    namespaces(&client)
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    Target {
        client,
        ns,
        kubeconfig: path,
        sandbox,
        _dir: tempfile_dir::Dir(dir),
    }
}

impl Target {
    pub(crate) fn api(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
    ) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
        Api::namespaced_with(self.client.clone(), &self.ns, &ar)
    }

    /// Applies `deployment(name, image)` as `driftless`; the Deployments API and the params.
    pub(crate) async fn apply_deployment(
        &self,
        name: &str,
        image: &str,
    ) -> (Api<DynamicObject>, PatchParams) {
        let deploys = self.api("apps", "v1", "Deployment", "deployments");
        let pp = PatchParams::apply("driftless").force();
        deploys
            .patch(name, &pp, &Patch::Apply(deployment(name, image)))
            .await
            .unwrap();
        (deploys, pp)
    }

    pub(crate) fn configmaps(&self) -> Api<DynamicObject> {
        self.api("", "v1", "ConfigMap", "configmaps")
    }

    pub(crate) async fn cleanup(self) {
        let _ = namespaces(&self.client)
            .delete(&self.ns, &DeleteParams::default())
            .await;
    }
}

pub(crate) fn namespaces(client: &kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("", "v1", "Namespace"),
        "namespaces",
    );
    Api::all_with(client.clone(), &ar)
}

pub(crate) fn object(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

pub(crate) fn deployment(name: &str, image: &str) -> DynamicObject {
    object(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image}]}}}
    }))
}

/// Reads back until `check` holds (5 s).
pub(crate) async fn eventually<T>(mut f: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    for _ in 0..100 {
        if let Some(t) = f().await {
            return Some(t);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn server_side_apply_get_list_and_delete_work_through_kube_rs() {
    let t = target().await;
    let (deploys, pp) = t.apply_deployment("web", "nginx:1.27").await;
    deploys
        .patch("api", &pp, &Patch::Apply(deployment("api", "nginx:1.27")))
        .await
        .unwrap();

    let web = deploys.get("web").await.unwrap();
    assert_eq!(web.data["spec"]["replicas"], 2);
    // Server defaults are filled in, and the applier owns what it applied.
    assert_eq!(web.data["spec"]["strategy"]["type"], "RollingUpdate");
    let managers: Vec<String> = web
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(managers.contains(&"driftless".to_string()), "{managers:?}");

    let listed = deploys
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    let names: Vec<_> = listed
        .items
        .iter()
        .filter_map(|d| d.metadata.name.clone())
        .collect();
    assert_eq!(names, vec!["web".to_string()]);

    deploys
        .delete("web", &DeleteParams::foreground())
        .await
        .unwrap();
    let gone = eventually(async || {
        deploys
            .get_opt("web")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(gone.is_some(), "web was never deleted");
    assert!(deploys.get_opt("api").await.unwrap().is_some());
    t.cleanup().await;
}

#[tokio::test]
async fn apply_conflicts_are_409_and_force_takes_ownership() {
    let t = target().await;
    let cms = t.configmaps();
    let cm = |v: &str| {
        object(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": v}}),
        )
    };
    cms.patch(
        "settings",
        &PatchParams::apply("alice"),
        &Patch::Apply(cm("a")),
    )
    .await
    .unwrap();
    let err = cms
        .patch(
            "settings",
            &PatchParams::apply("bob"),
            &Patch::Apply(cm("b")),
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409);
            assert_eq!(status.reason, "Conflict");
            assert!(
                status.message.contains("conflict with \"alice\""),
                "{}",
                status.message
            );
        }
        other => panic!("expected a 409, got {other}"),
    }
    assert_eq!(cms.get("settings").await.unwrap().data["data"]["mode"], "a");
    cms.patch(
        "settings",
        &PatchParams::apply("bob").force(),
        &Patch::Apply(cm("b")),
    )
    .await
    .unwrap();
    let now = cms.get("settings").await.unwrap();
    assert_eq!(now.data["data"]["mode"], "b");
    let owners: Vec<String> = now
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0["f:data"].get("f:mode").is_some())
        })
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(owners, vec!["bob".to_string()]);
    t.cleanup().await;
}

#[tokio::test]
async fn dry_run_apply_answers_without_storing() {
    let t = target().await;
    let (deploys, pp) = t.apply_deployment("web", "nginx:1.27").await;
    let dry = deploys
        .patch(
            "web",
            &pp.clone().dry_run(),
            &Patch::Apply(deployment("web", "nginx:1.28")),
        )
        .await
        .unwrap();
    assert_eq!(
        dry.data["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    let live = deploys.get("web").await.unwrap();
    assert_eq!(
        live.data["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn a_kube_rs_watcher_sees_creations_changes_and_deletions() {
    let t = target().await;
    let cms = t.configmaps();
    let stream = kube::runtime::watcher(
        cms.clone(),
        kube::runtime::watcher::Config::default().labels("conformance=watch"),
    );
    let mut stream = Box::pin(stream);
    // A watcher starts with its initial list (empty here); write only once it is done.
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap();
        match ev {
            Some(Ok(kube::runtime::watcher::Event::InitDone)) => break,
            Some(Ok(kube::runtime::watcher::Event::Init)) => {}
            other => panic!("unexpected start of the watch: {other:?}"),
        }
    }

    let cm = |v: &str| {
        object(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched", "labels": {"conformance": "watch"}}, "data": {"v": v}}),
        )
    };
    let pp = PatchParams::apply("driftless");
    cms.patch("watched", &pp, &Patch::Apply(cm("1")))
        .await
        .unwrap();
    cms.patch("watched", &pp, &Patch::Apply(cm("2")))
        .await
        .unwrap();
    cms.delete("watched", &DeleteParams::default())
        .await
        .unwrap();

    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("deleted") {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap_or_else(|_| panic!("watch stalled after {seen:?}"))
            .unwrap()
            .unwrap();
        match ev {
            kube::runtime::watcher::Event::Apply(o) => seen.push(format!(
                "applied {}",
                o.data["data"]["v"].as_str().unwrap_or("?")
            )),
            kube::runtime::watcher::Event::Delete(_) => seen.push("deleted".into()),
            _ => {}
        }
    }
    assert_eq!(seen, vec!["applied 1", "applied 2", "deleted"]);
    t.cleanup().await;
}

#[tokio::test]
async fn aggregated_discovery_finds_built_in_kinds_and_new_crds() {
    let t = target().await;
    let discovery = Discovery::new(t.client.clone())
        .run_aggregated()
        .await
        .unwrap();
    let deploy = GroupVersionKind::gvk("apps", "v1", "Deployment");
    let (ar, caps) = discovery
        .resolve_gvk(&deploy)
        .expect("apps/v1 Deployment is served");
    assert_eq!(ar.plural, "deployments");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);

    // A CRD applied now becomes a kind discovery knows.
    let group = format!("{}.conformance.driftless.dev", t.ns);
    let crd_name = format!("widgets.{group}");
    let crds = Api::<DynamicObject>::all_with(
        t.client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    crds.patch(
        &crd_name,
        &PatchParams::apply("driftless"),
        &Patch::Apply(object(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": crd_name},
            "spec": {"group": group, "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer", "default": 3}}}}}}}]}
        }))),
    )
    .await
    .unwrap();
    let widget = GroupVersionKind::gvk(&group, "v1", "Widget");
    let found = eventually(async || {
        let established = crds.get(&crd_name).await.ok()?.data["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True");
        let d = Discovery::new(t.client.clone())
            .run_aggregated()
            .await
            .ok()?;
        (established && d.resolve_gvk(&widget).is_some()).then_some(())
    })
    .await;
    assert!(found.is_some(), "the new CRD never showed up in discovery");

    let widgets = t.api(&group, "v1", "Widget", "widgets");
    widgets
        .patch("small", &PatchParams::apply("driftless"), &Patch::Apply(object(json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"name": "small"}, "spec": {}}))))
        .await
        .unwrap();
    // The schema's default was applied.
    assert_eq!(widgets.get("small").await.unwrap().data["spec"]["size"], 3);
    crds.delete(&crd_name, &DeleteParams::default())
        .await
        .unwrap();
    t.cleanup().await;
}

/// Runs kubectl against the target; (exit code, stdout + stderr).
pub(crate) fn kubectl(t: &Target, args: &[&str], stdin: Option<&str>) -> (i32, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&t.kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl is installed (.ci/run installs it)");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

// kubectl runs as a blocking child process: the in-process sandbox needs another worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_side_apply_diff_watch_and_delete_work_unchanged() {
    let t = target().await;
    let manifest = |mode: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kubectl-made\n  namespace: {}\ndata:\n  mode: {mode}\n",
            t.ns
        )
    };
    let (code, out) = kubectl(
        &t,
        &["apply", "--server-side", "-f", "-"],
        Some(&manifest("dev")),
    );
    assert_eq!(code, 0, "{out}");
    let made = t.configmaps().get("kubectl-made").await.unwrap();
    assert_eq!(made.data["data"]["mode"], "dev");
    assert!(
        made.metadata
            .managed_fields
            .iter()
            .flatten()
            .any(|m| m.manager.as_deref() == Some("kubectl"))
    );

    // diff: exit 1 with the change shown; nothing stored.
    let (code, out) = kubectl(
        &t,
        &["diff", "--server-side", "-f", "-"],
        Some(&manifest("prod")),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("-  mode: dev") && out.contains("+  mode: prod"),
        "{out}"
    );
    assert_eq!(
        t.configmaps().get("kubectl-made").await.unwrap().data["data"]["mode"],
        "dev"
    );

    // get -w: the initial list, then a change made through kube-rs.
    let mut watch = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&t.kubeconfig)
        .args([
            "get",
            "configmaps",
            "-n",
            &t.ns,
            "-w",
            "-o",
            "name",
            "--field-selector",
            "metadata.name=kubectl-made",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .take(2)
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    t.configmaps()
        .patch("kubectl-made", &PatchParams::apply("kubectl").force(), &Patch::Apply(object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubectl-made"}, "data": {"mode": "staging"}}))))
        .await
        .unwrap();
    let seen = tokio::task::spawn_blocking(move || lines.join().unwrap())
        .await
        .unwrap();
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(
        seen,
        vec!["configmap/kubectl-made", "configmap/kubectl-made"]
    );

    let (code, out) = kubectl(
        &t,
        &["delete", "configmap", "kubectl-made", "-n", &t.ns],
        None,
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        t.configmaps()
            .get_opt("kubectl-made")
            .await
            .unwrap()
            .is_none()
    );
    t.cleanup().await;
}
