//! One node of an application's resource tree, for the UI and the API: its live manifest
//! (Secret values masked), its desired manifest (tracked objects), its diff, the Kubernetes
//! Events about it, and for a pod its log lines (streamed, with follow). Only objects of the
//! application's tree are answered: the tree is the permission boundary, so a caller who may
//! read the application cannot read other objects of the cluster through these views.

use crate::error::{EngineError, EngineResult};
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

use driftless_core::cluster::{Cluster, KindScope};
use driftless_core::{Gvk, ResourceKey};

use super::Controller;

/// Which object of the tree: its API group, version, kind, namespace and name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeRef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl NodeRef {
    fn key(&self) -> ResourceKey {
        ResourceKey::new(&self.group, &self.kind, &self.namespace, &self.name)
    }
    fn gvk(&self) -> Gvk {
        Gvk {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
        }
    }
}

impl Controller {
    /// The tree node `r` names, or an error saying it is not part of the application.
    async fn tree_node(&self, app: &str, r: &NodeRef) -> EngineResult<Value> {
        self.resource_tree(app)
            .await?
            .into_iter()
            .find(|n| {
                n["group"] == r.group.as_str()
                    && n["kind"] == r.kind.as_str()
                    && n["name"] == r.name.as_str()
                    && n["namespace"].as_str().unwrap_or_default() == r.namespace
            })
            .ok_or_else(|| {
                EngineError::not_found("resource", format!("{} of application {app}", r.key()))
            })
    }

    /// Live and desired manifests (Secret values masked) and the diff of one node.
    pub async fn resource_detail(&self, app: &str, r: &NodeRef) -> EngineResult<Value> {
        let node = self.tree_node(app, r).await?;
        let definition = self.app_definition(app).await?;
        let target = self.target(&definition)?;
        let live = target
            .cluster
            .get(&r.gvk(), &r.key())
            .await
            .map_err(EngineError::cluster(format!(
                "application {app}: reading {}",
                r.key()
            )))?
            .map(|o| driftless_diff::mask::masked(&o));
        // Only tracked objects have a desired state and a diff; children are the
        // controllers' (a ReplicaSet's pods are nobody's manifest).
        let (mut desired, mut diff) = (None, None);
        if !node["status"].is_null() {
            let state = self.apps.lock().await.get(app).cloned();
            if let Some(state) = state {
                let sources = self.sources.clone();
                let a = state.app.clone();
                let pin = state.pinned.as_ref().map(|p| p.revision.clone());
                let rendered =
                    tokio::task::spawn_blocking(move || sources.render(&a, false, pin.as_deref()))
                        .await??;
                let unscoped = ResourceKey::new(&r.group, &r.kind, "", &r.name);
                desired = rendered
                    .set
                    .get(&r.key())
                    .or_else(|| rendered.set.get(&unscoped))
                    .map(driftless_diff::mask::masked);
            }
            let comparison = self.diff(app).await?;
            diff = comparison
                .resources
                .into_iter()
                .find(|d| d.key == r.key())
                .map(|d| json!({"status": d.status, "diff": d.diff, "message": d.message}));
        }
        Ok(json!({"node": node, "live": live, "desired": desired, "diff": diff}))
    }

    /// The Kubernetes Events about one node, oldest first.
    pub async fn resource_events(&self, app: &str, r: &NodeRef) -> EngineResult<Vec<Value>> {
        let node = self.tree_node(app, r).await?;
        let uid = node["uid"].as_str().unwrap_or_default().to_string();
        let definition = self.app_definition(app).await?;
        let target = self.target(&definition)?;
        let scope = KindScope {
            gvk: Gvk {
                group: String::new(),
                version: "v1".into(),
                kind: "Event".into(),
            },
            plural: "events".into(),
            namespaced: true,
        };
        let ns = Some(r.namespace.as_str()).filter(|n| !n.is_empty());
        let (kind, name) = (r.kind.clone(), r.name.clone());
        let mut events = target
            .cluster
            .list_where(&scope, ns, |o| {
                let about = &o.data["involvedObject"];
                match about["uid"].as_str() {
                    Some(u) if !u.is_empty() && !uid.is_empty() => u == uid,
                    _ => about["kind"] == kind.as_str() && about["name"] == name.as_str(),
                }
            })
            .await
            .map_err(EngineError::cluster(format!(
                "application {app}: listing events"
            )))?;
        let at = |e: &Value| {
            [&e["lastTimestamp"], &e["eventTime"], &e["firstTimestamp"]]
                .into_iter()
                .find_map(|t| t.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        events.sort_by_key(at);
        Ok(events
            .iter()
            .map(|e| {
                json!({
                    "type": e["type"],
                    "reason": e["reason"],
                    "message": e["message"],
                    "count": e["count"],
                    "at": at(e),
                    "source": e["source"]["component"],
                })
            })
            .collect())
    }

    /// A pod's log lines, each ending in a newline, streamed as the API server sends them.
    pub async fn pod_logs(
        &self,
        app: &str,
        namespace: &str,
        pod: &str,
        opts: &driftless_kube::LogOptions,
    ) -> EngineResult<impl Stream<Item = EngineResult<String>> + Send + use<>> {
        let r = NodeRef {
            group: String::new(),
            version: "v1".into(),
            kind: "Pod".into(),
            namespace: namespace.into(),
            name: pod.into(),
        };
        self.tree_node(app, &r).await?;
        let definition = self.app_definition(app).await?;
        let target = self.target(&definition)?;
        let lines = target
            .cluster
            .pod_logs(namespace, pod, opts)
            .await
            .map_err(EngineError::cluster(format!(
                "application {app}: logs of pod {pod}"
            )))?;
        let what = format!("logs of pod {namespace}/{pod}");
        Ok(lines.map(move |l| {
            l.map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(EngineError::cluster(what.clone()))
        }))
    }
}
