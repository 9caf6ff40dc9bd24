//! API-server conformance, continued (see `conformance.rs`): what a controller manager does
//! that the engine relies on — a Deployment's ReplicaSets and pods, status during a rollout
//! that does not finish, revisions, garbage collection, EndpointSlices, Jobs' pods — plus
//! kubectl's protobuf writes. On a real cluster without nodes pods stay Pending; with nodes
//! the image below never pulls; on the sandbox its hold annotation keeps the rollout going.

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::conformance::{Target, deployment, kubectl, object, target};

/// An image no registry serves, and the sandbox's hold, so the rollout never completes.
const NEVER: &str = "registry.invalid/driftless/never-pulls:1";

async fn within<T>(secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(t) = f().await {
            return Some(t);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Applies a Deployment whose rollout cannot finish, with an annotation of its own.
async fn stuck(t: &Target, name: &str) -> (Api<DynamicObject>, DynamicObject) {
    let deploys = t.api("apps", "v1", "Deployment", "deployments");
    let mut d = deployment(name, NEVER);
    d.metadata.annotations = Some(
        [
            (
                "sandbox.driftless.dev/hold-rollout".to_string(),
                "forever".to_string(),
            ),
            (
                "conformance.driftless.dev/team".to_string(),
                "web".to_string(),
            ),
        ]
        .into(),
    );
    let live = deploys
        .patch(
            name,
            &PatchParams::apply("driftless").force(),
            &Patch::Apply(d),
        )
        .await
        .unwrap();
    (deploys, live)
}

/// The ReplicaSets owned by the object with `uid`.
async fn replica_sets_of(t: &Target, uid: &str) -> Vec<DynamicObject> {
    let rss = t.api("apps", "v1", "ReplicaSet", "replicasets");
    rss.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|r| {
            r.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid && o.controller == Some(true))
        })
        .collect()
}

fn annotation<'a>(o: &'a DynamicObject, k: &str) -> Option<&'a str> {
    o.metadata.annotations.as_ref()?.get(k).map(String::as_str)
}

#[tokio::test]
async fn a_rollout_that_cannot_finish_reports_progressing_with_unavailable_replicas() {
    let t = target().await;
    let (deploys, _) = stuck(&t, "slow").await;
    let d = within(30, async || {
        let d = deploys.get("slow").await.ok()?;
        (d.data["status"]["observedGeneration"].as_i64() == d.metadata.generation
            && d.data["status"]["unavailableReplicas"] == 2)
            .then_some(d)
    })
    .await
    .expect("the controller never reported the rollout");
    let conds = d.data["status"]["conditions"].as_array().unwrap();
    let cond = |k: &str| {
        conds
            .iter()
            .find(|c| c["type"] == k)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        (
            cond("Available")["status"].as_str(),
            cond("Available")["reason"].as_str()
        ),
        (Some("False"), Some("MinimumReplicasUnavailable"))
    );
    assert_eq!(
        (
            cond("Progressing")["status"].as_str(),
            cond("Progressing")["reason"].as_str()
        ),
        (Some("True"), Some("ReplicaSetUpdated"))
    );
    assert!(
        d.data["status"].get("availableReplicas").is_none(),
        "{}",
        d.data["status"]
    );
    t.cleanup().await;
}

#[tokio::test]
async fn a_deployment_owns_a_replica_set_named_by_its_pod_template_hash() {
    let t = target().await;
    let (_, d) = stuck(&t, "owner").await;
    let uid = d.metadata.uid.clone().unwrap();
    let rss = within(30, async || {
        let r = replica_sets_of(&t, &uid).await;
        (!r.is_empty()).then_some(r)
    })
    .await
    .expect("no ReplicaSet");
    let rs = &rss[0];
    let hash = rs.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(
        rs.metadata.name.as_deref(),
        Some(format!("owner-{hash}").as_str())
    );
    assert_eq!(
        rs.data["spec"]["selector"]["matchLabels"]["pod-template-hash"],
        hash.as_str()
    );
    assert_eq!(
        annotation(rs, "deployment.kubernetes.io/revision"),
        Some("1")
    );
    assert_eq!(
        annotation(rs, "conformance.driftless.dev/team"),
        Some("web"),
        "the Deployment's annotations are copied"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn replica_set_pods_are_owned_and_labelled_with_the_hash() {
    let t = target().await;
    let (_, d) = stuck(&t, "pods").await;
    let uid = d.metadata.uid.clone().unwrap();
    let rs = within(30, async || {
        replica_sets_of(&t, &uid).await.into_iter().next()
    })
    .await
    .expect("no ReplicaSet");
    let rs_uid = rs.metadata.uid.clone().unwrap();
    let pods = t.api("", "v1", "Pod", "pods");
    let owned = within(30, async || {
        let p: Vec<DynamicObject> = pods
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter(|p| {
                p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.uid == rs_uid)
            })
            .collect();
        (p.len() == 2).then_some(p)
    })
    .await
    .expect("the ReplicaSet's two pods");
    let hash = &rs.metadata.labels.as_ref().unwrap()["pod-template-hash"];
    for p in &owned {
        assert_eq!(
            p.metadata.labels.as_ref().unwrap()["pod-template-hash"],
            *hash
        );
        assert!(
            p.metadata
                .name
                .as_ref()
                .unwrap()
                .starts_with(&format!("{}-", rs.metadata.name.as_ref().unwrap()))
        );
        let ready = p.data["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        assert!(!ready, "its image never runs: {}", p.data["status"]);
    }
    t.cleanup().await;
}

#[tokio::test]
async fn a_template_change_rolls_out_as_revision_2() {
    let t = target().await;
    let (deploys, d) = stuck(&t, "rev").await;
    let uid = d.metadata.uid.clone().unwrap();
    within(30, async || {
        replica_sets_of(&t, &uid).await.into_iter().next()
    })
    .await
    .expect("revision 1");
    deploys
        .patch(
            "rev",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"template": {"metadata": {"labels": {"app": "rev", "v": "2"}}}}}),
            ),
        )
        .await
        .unwrap();
    let revs = within(30, async || {
        let mut r: Vec<String> = replica_sets_of(&t, &uid)
            .await
            .iter()
            .filter_map(|r| annotation(r, "deployment.kubernetes.io/revision").map(String::from))
            .collect();
        r.sort();
        (r.len() == 2).then_some(r)
    })
    .await
    .expect("a second ReplicaSet");
    assert_eq!(revs, ["1", "2"]);
    let d = within(30, async || {
        deploys
            .get("rev")
            .await
            .ok()
            .filter(|d| annotation(d, "deployment.kubernetes.io/revision") == Some("2"))
    })
    .await;
    assert!(d.is_some(), "the Deployment's revision follows");
    t.cleanup().await;
}

fn owned_cm(name: &str, owner: &DynamicObject) -> DynamicObject {
    object(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name, "uid": owner.metadata.uid}]}}),
    )
}

#[tokio::test]
async fn background_garbage_collection_removes_dependents_of_a_deleted_owner() {
    let t = target().await;
    let cms = t.configmaps();
    let owner = cms
        .create(
            &PostParams::default(),
            &object(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}),
            ),
        )
        .await
        .unwrap();
    cms.create(&PostParams::default(), &owned_cm("dependent", &owner))
        .await
        .unwrap();
    cms.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    let gone = within(30, async || {
        cms.get_opt("dependent")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(gone.is_some(), "the dependent outlived its owner");
    t.cleanup().await;
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents_and_drops_their_owner_reference() {
    let t = target().await;
    let cms = t.configmaps();
    let owner = cms
        .create(
            &PostParams::default(),
            &object(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}),
            ),
        )
        .await
        .unwrap();
    cms.create(&PostParams::default(), &owned_cm("kept", &owner))
        .await
        .unwrap();
    cms.delete("owner", &DeleteParams::orphan()).await.unwrap();
    let kept = within(30, async || {
        let k = cms.get_opt("kept").await.unwrap()?;
        (cms.get_opt("owner").await.unwrap().is_none()
            && k.metadata
                .owner_references
                .as_ref()
                .is_none_or(Vec::is_empty))
        .then_some(k)
    })
    .await;
    assert!(
        kept.is_some(),
        "the dependent is kept, without the reference"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn a_service_with_a_selector_gets_an_endpoint_slice_it_owns() {
    let t = target().await;
    let svcs = t.api("", "v1", "Service", "services");
    let svc = object(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}),
    );
    let svc = svcs
        .patch("web", &PatchParams::apply("driftless"), &Patch::Apply(svc))
        .await
        .unwrap();
    let slices = t.api("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices");
    let slice = within(30, async || {
        slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
            .await
            .ok()?
            .items
            .into_iter()
            .next()
    })
    .await
    .expect("an EndpointSlice for the Service");
    assert_eq!(slice.data["addressType"], "IPv4");
    let owner = &slice.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            Some(owner.uid.as_str()),
            owner.controller
        ),
        ("Service", svc.metadata.uid.as_deref(), Some(true))
    );
    assert_eq!(
        slice.metadata.labels.as_ref().unwrap()["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn a_job_runs_pods_labelled_with_its_name() {
    let t = target().await;
    let jobs = t.api("batch", "v1", "Job", "jobs");
    let job = object(
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox:1.36", "command": ["true"]}]}}}}),
    );
    let job = jobs
        .patch("once", &PatchParams::apply("driftless"), &Patch::Apply(job))
        .await
        .unwrap();
    let pods = t.api("", "v1", "Pod", "pods");
    let pod = within(30, async || {
        pods.list(&ListParams::default().labels("job-name=once"))
            .await
            .ok()?
            .items
            .into_iter()
            .next()
    })
    .await
    .expect("the Job's pod");
    assert_eq!(
        pod.metadata.owner_references.as_ref().unwrap()[0]
            .uid
            .as_str(),
        job.metadata.uid.as_deref().unwrap()
    );
    assert_eq!(
        pod.metadata.labels.as_ref().unwrap()["batch.kubernetes.io/job-name"],
        "once"
    );
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_of_a_missing_pod_is_404() {
    let t = target().await;
    let path = format!("/api/v1/namespaces/{}/pods/nope/log", t.ns);
    let (code, out) = kubectl(&t, &["get", "--raw", &path], None);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Error from server (NotFound)") && out.contains("pods \"nope\" not found"),
        "{out}"
    );
    t.cleanup().await;
}

// kubectl runs as a blocking child process: the in-process sandbox needs another worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_imperative_creates_in_protobuf_are_stored() {
    let t = target().await;
    let (code, out) = kubectl(
        &t,
        &[
            "-n",
            &t.ns,
            "create",
            "configmap",
            "made",
            "--from-literal=mode=dev",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = kubectl(
        &t,
        &["-n", &t.ns, "create", "serviceaccount", "robot"],
        None,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        t.configmaps().get("made").await.unwrap().data["data"],
        json!({"mode": "dev"})
    );
    assert!(
        t.api("", "v1", "ServiceAccount", "serviceaccounts")
            .get_opt("robot")
            .await
            .unwrap()
            .is_some()
    );
    t.cleanup().await;
}
