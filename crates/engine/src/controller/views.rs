//! Read-only views for the web UI and the CLI: what a sync (or a rollback) would change, an
//! application's resource tree (its tracked objects and what they own — Deployment →
//! ReplicaSet → Pod, Service → EndpointSlice, CronJob → Job → Pod — by owner references)
//! and the inputs of the GitOps flow diagram (drawn by the pure [`crate::flow`]).

use crate::error::{EngineError, EngineResult};
use std::collections::BTreeSet;

use serde_json::{Value, json};

use driftless_core::Gvk;
use driftless_core::cluster::KindScope;

use super::Controller;

fn node(obj: &Value, status: Option<&Value>, health: Option<String>) -> Value {
    let m = &obj["metadata"];
    let (group, _) = obj["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .rsplit_once('/')
        .unwrap_or(("", ""));
    let version = obj["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next();
    json!({
        "uid": m["uid"],
        "version": version,
        "owners": m["ownerReferences"].as_array().map(|o| o.iter().map(|r| r["uid"].clone()).collect::<Vec<_>>()).unwrap_or_default(),
        "group": group,
        "kind": obj["kind"],
        "namespace": m["namespace"],
        "name": m["name"],
        "status": status,
        "health": health,
    })
}

/// Applications a diagram group shows one by one; a bigger group is one node with counts.
const FLOW_GROUP_LIMIT: usize = 8;

/// Kinds whose objects are owned by the ones above them (what a tree expands into), in an
/// order where an owner's kind comes before its children's: Deployment → ReplicaSet → Pod,
/// CronJob → Job → Pod, Service → EndpointSlice, StatefulSet/DaemonSet → Pod.
const CHILDREN: [(&str, &str, &str, &str); 4] = [
    ("apps", "v1", "ReplicaSet", "replicasets"),
    ("batch", "v1", "Job", "jobs"),
    ("", "v1", "Pod", "pods"),
    ("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
];

impl Controller {
    /// What a sync would change now: the source rendered, compared with the cluster (Secret
    /// values masked). Changes nothing.
    pub async fn diff(&self, name: &str) -> EngineResult<driftless_diff::Comparison> {
        self.diff_at(name, None).await
    }

    /// What a rollback to deployment `history_id` would change: the application rendered at
    /// that deployment's revision, compared with the cluster.
    pub async fn diff_for_rollback(
        &self,
        name: &str,
        history_id: i64,
    ) -> EngineResult<driftless_diff::Comparison> {
        let target = self.rollback_target(name, Some(history_id)).await?;
        self.diff_at(name, Some(target.revision)).await
    }

    /// The comparison at `revision` (default: the current one, or the rollback's pin).
    async fn diff_at(
        &self,
        name: &str,
        revision: Option<String>,
    ) -> EngineResult<driftless_diff::Comparison> {
        let state = self
            .apps
            .lock()
            .await
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::not_found("application", name))?;
        let sources = self.sources.clone();
        let app = state.app.clone();
        let pin = revision.or_else(|| state.pinned.as_ref().map(|p| p.revision.clone()));
        let rendered =
            tokio::task::spawn_blocking(move || sources.render(&app, false, pin.as_deref()))
                .await??;
        let ns = Some(state.app.destination.namespace.clone()).filter(|n| !n.is_empty());
        let target = self.target(&state.app)?;
        let (loaded, _) = crate::load::load_cached(
            target.cluster.as_ref(),
            &target.cache,
            name,
            &rendered.set,
            ns.as_deref(),
        )
        .await?;
        Ok(crate::compare_with_cluster(
            target.cluster.as_ref(),
            &loaded,
            &state.policy.compare,
            self.config.server_side_diff,
            target.dry_runs(&self.dry_runs),
        )
        .await)
    }

    /// The application's live objects and their children, each with its sync status (for
    /// tracked ones) and health.
    pub async fn resource_tree(&self, name: &str) -> EngineResult<Vec<Value>> {
        let app = self.app_definition(name).await?;
        let target = self.target(&app)?;
        let status = self.stored_status(name).await?;
        let sync_of = |kind: &str, ns: &str, n: &str| {
            status
                .resources
                .iter()
                .find(|r| r.kind == kind && r.namespace == ns && r.name == n)
                .map(|r| r.status)
        };
        let health = |obj: &Value| {
            self.assessor
                .assess(Some(obj))
                .map(|h| h.status.as_str().to_string())
        };
        let mut nodes = Vec::new();
        let mut owners: BTreeSet<String> = BTreeSet::new();
        let mut namespaces: BTreeSet<String> = BTreeSet::new();
        for (key, obj) in target.cache.tracked_by(name) {
            if let Some(uid) = obj["metadata"]["uid"].as_str() {
                owners.insert(uid.to_string());
            }
            if !key.namespace.is_empty() {
                namespaces.insert(key.namespace.clone());
            }
            let s = sync_of(&key.kind, &key.namespace, &key.name).map(|s| serde_json::json!(s));
            nodes.push(node(&obj, s.as_ref(), health(&obj)));
        }
        for (group, version, kind, plural) in CHILDREN {
            let scope = KindScope {
                gvk: Gvk {
                    group: group.into(),
                    version: version.into(),
                    kind: kind.into(),
                },
                plural: plural.into(),
                namespaced: true,
            };
            for ns in &namespaces {
                let owned = target
                    .cluster
                    .list_where(&scope, Some(ns), |o| {
                        o.metadata
                            .owner_references
                            .as_ref()
                            .is_some_and(|refs| refs.iter().any(|r| owners.contains(&r.uid)))
                    })
                    .await;
                // A cluster that does not serve a kind (no batch API, no EndpointSlices)
                // has no such children; any other failure is the answer.
                let owned = match owned {
                    Ok(o) => o,
                    Err(e) if e.to_string().contains("404") => continue,
                    Err(e) => {
                        return Err(EngineError::cluster(format!(
                            "application {name}: listing owned objects"
                        ))(e));
                    }
                };
                for obj in owned {
                    if let Some(uid) = obj["metadata"]["uid"].as_str() {
                        owners.insert(uid.to_string());
                    }
                    nodes.push(node(&obj, None, health(&obj)));
                }
            }
        }
        Ok(nodes)
    }

    /// The GitOps flow of `scope` as Mermaid text (see [`crate::flow`]), drawn from the live
    /// configuration and the stored status of each application.
    pub async fn flow_graph(&self, scope: &crate::flow::Scope) -> crate::flow::Flow {
        let states: Vec<driftless_core::app::Application> = self
            .apps
            .lock()
            .await
            .values()
            .map(|s| s.app.clone())
            .collect();
        let mut apps = Vec::with_capacity(states.len());
        for a in states {
            let cluster = match self.target(&a) {
                Ok(t) => t.name.clone(),
                Err(_) => a.destination.name.clone(),
            };
            let status = self.stored_status(&a.name).await.unwrap_or_default();
            let automated = a.sync_policy.automated.as_ref();
            apps.push(crate::flow::FlowApp {
                repo: driftless_git::url::redact(&a.source.repo_url),
                cluster,
                namespace: a.destination.namespace.clone(),
                automated: automated.is_some(),
                self_heal: automated.is_some_and(|x| x.self_heal),
                sync: (status != crate::AppStatus::default())
                    .then(|| status.sync.status.as_str().to_string()),
                health: status.health_status().map(|h| h.as_str().to_string()),
                name: a.name,
            });
        }
        let repositories = self
            .repositories()
            .into_iter()
            .map(|r| crate::flow::FlowRepo {
                webhook: r.webhook_secret.is_some(),
                url: driftless_git::url::redact(&r.url),
                name: r.name,
            })
            .collect();
        let mut clusters: Vec<String> = self
            .clusters()
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect();
        clusters.sort();
        let input = crate::flow::FlowInput {
            apps,
            repositories,
            clusters,
            pipelines: self.pipelines().await,
            projects: self.projects.lock().await.keys().cloned().collect(),
            resync_secs: self.config.resync.as_secs(),
        };
        crate::flow::flow(&input, scope, FLOW_GROUP_LIMIT)
    }
}
