//! Read-only views for the web UI and the CLI: what a sync (or a rollback) would change, an
//! application's resource tree (its tracked objects and what they own — Deployment →
//! ReplicaSet → Pod — by owner references) and the GitOps flow graph (repositories →
//! applications → clusters, pipeline stages), also as Mermaid text.

use std::collections::{BTreeMap, BTreeSet};

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
    json!({
        "uid": m["uid"],
        "owners": m["ownerReferences"].as_array().map(|o| o.iter().map(|r| r["uid"].clone()).collect::<Vec<_>>()).unwrap_or_default(),
        "group": group,
        "kind": obj["kind"],
        "namespace": m["namespace"],
        "name": m["name"],
        "status": status,
        "health": health,
    })
}

/// Kinds whose objects own the next ones down (what a tree expands into).
const CHILDREN: [(&str, &str, &str, &str); 2] = [
    ("apps", "v1", "ReplicaSet", "replicasets"),
    ("", "v1", "Pod", "pods"),
];

impl Controller {
    /// What a sync would change now: the source rendered, compared with the cluster (Secret
    /// values masked). Changes nothing.
    pub async fn diff(&self, name: &str) -> Result<driftless_diff::Comparison, String> {
        self.diff_at(name, None).await
    }

    /// What a rollback to deployment `history_id` would change: the application rendered at
    /// that deployment's revision, compared with the cluster.
    pub async fn diff_for_rollback(
        &self,
        name: &str,
        history_id: i64,
    ) -> Result<driftless_diff::Comparison, String> {
        let target = self.rollback_target(name, Some(history_id)).await?;
        self.diff_at(name, Some(target.revision)).await
    }

    /// The comparison at `revision` (default: the current one, or the rollback's pin).
    async fn diff_at(
        &self,
        name: &str,
        revision: Option<String>,
    ) -> Result<driftless_diff::Comparison, String> {
        let state = self
            .apps
            .lock()
            .await
            .get(name)
            .cloned()
            .ok_or_else(|| format!("application {name} not found"))?;
        let sources = self.sources.clone();
        let app = state.app.clone();
        let pin = revision.or_else(|| state.pinned.as_ref().map(|p| p.revision.clone()));
        let rendered =
            tokio::task::spawn_blocking(move || sources.render(&app, false, pin.as_deref()))
                .await
                .map_err(|e| e.to_string())??;
        let ns = Some(state.app.destination.namespace.clone()).filter(|n| !n.is_empty());
        let target = self.target(&state.app)?;
        let (loaded, _) = crate::load::load_cached(
            target.cluster.as_ref(),
            &target.cache,
            name,
            &rendered.set,
            ns.as_deref(),
        )
        .await
        .map_err(|e| e.to_string())?;
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
    pub async fn resource_tree(&self, name: &str) -> Result<Vec<Value>, String> {
        let app = self.app_definition(name).await?;
        let target = self.target(&app)?;
        let status = self.stored_status(name).await?;
        let sync_of = |kind: &str, ns: &str, n: &str| {
            status["resources"].as_array().and_then(|rs| {
                rs.iter()
                    .find(|r| r["kind"] == kind && r["namespace"] == ns && r["name"] == n)
                    .map(|r| r["status"].clone())
            })
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
            let s = sync_of(&key.kind, &key.namespace, &key.name);
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
                    .await
                    .map_err(|e| e.to_string())?;
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

    /// The GitOps flow: nodes (repositories, applications, clusters, pipeline stages) and
    /// edges, plus the same as a Mermaid flowchart.
    pub async fn flow_graph(&self) -> Value {
        let apps: Vec<driftless_core::app::Application> = self
            .apps
            .lock()
            .await
            .values()
            .map(|s| s.app.clone())
            .collect();
        let pipelines = self.pipelines().await;
        let mut nodes: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
        for a in &apps {
            let repo = format!("repo:{}", a.source.repo_url);
            let app = format!("app:{}", a.name);
            let cluster = match self.target(a) {
                Ok(t) => t.name.clone(),
                Err(_) => a.destination.name.clone(),
            };
            let cluster_id = format!("cluster:{cluster}");
            nodes.insert(
                repo.clone(),
                (
                    "repository".into(),
                    driftless_git::url::redact(&a.source.repo_url),
                ),
            );
            nodes.insert(app.clone(), ("application".into(), a.name.clone()));
            nodes.insert(cluster_id.clone(), ("cluster".into(), cluster));
            edges.insert((repo, app.clone()));
            edges.insert((app, cluster_id));
        }
        for p in &pipelines {
            for s in &p.stages {
                let id = format!("stage:{}/{}", p.name, s.name);
                nodes.insert(
                    id.clone(),
                    ("stage".into(), format!("{} / {}", p.name, s.name)),
                );
                if let Some(src) = p.source_of(&s.name) {
                    edges.insert((format!("stage:{}/{}", p.name, src.name), id.clone()));
                }
                for a in &s.applications {
                    edges.insert((id.clone(), format!("app:{a}")));
                }
            }
        }
        // Mermaid ids: n0, n1... (labels quoted, so any name is safe).
        let ids: BTreeMap<&String, String> = nodes
            .keys()
            .enumerate()
            .map(|(i, k)| (k, format!("n{i}")))
            .collect();
        let mut mermaid = String::from("flowchart LR\n");
        for (k, (kind, label)) in &nodes {
            let shape = match kind.as_str() {
                "repository" => ("[(", ")]"),
                "cluster" => ("[[", "]]"),
                "stage" => ("([", "])"),
                _ => ("[", "]"),
            };
            mermaid.push_str(&format!(
                "  {}{}\"{}: {}\"{}\n",
                ids[k],
                shape.0,
                kind,
                label.replace('"', "'"),
                shape.1
            ));
        }
        for (from, to) in &edges {
            if let (Some(a), Some(b)) = (ids.get(from), ids.get(to)) {
                mermaid.push_str(&format!("  {a} --> {b}\n"));
            }
        }
        json!({
            "nodes": nodes.iter().map(|(id, (kind, label))| json!({"id": id, "kind": kind, "label": label})).collect::<Vec<_>>(),
            "edges": edges.iter().map(|(f, t)| json!({"from": f, "to": t})).collect::<Vec<_>>(),
            "mermaid": mermaid,
        })
    }
}
