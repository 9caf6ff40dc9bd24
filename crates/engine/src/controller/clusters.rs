//! The clusters the engine deploys to: its own (`in-cluster`, the one it was started with)
//! and those added by Cluster definitions (`cluster add`, files, an app-of-apps). Each has its
//! own kube-rs client and live cache (watch-fed drift detection per cluster); an application
//! is reconciled against the cluster its `destination.name` or `destination.server` names.
//! An unknown destination is an error on that application — never a silent deploy to the
//! engine's own cluster.

use crate::error::{EngineError, EngineResult};
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use driftless_core::app::Application;
use driftless_core::clusters::{ClusterDefinition, IN_CLUSTER_NAME, IN_CLUSTER_SERVER};
use driftless_kube::{ClusterSource, KubeCluster, LiveCache, connect};

use super::{Controller, Reason};

/// The store's kind for cluster definitions.
const CLUSTER: &str = "Cluster";

/// One cluster: its client, its live cache, and the task that turns its watch events into
/// reconciles.
pub struct ClusterHandle {
    pub name: String,
    /// The API server URL applications may name (`destination.server`).
    pub server: String,
    pub cluster: Arc<KubeCluster>,
    pub cache: LiveCache,
    /// None for the engine's own cluster.
    pub definition: Option<ClusterDefinition>,
    forwarder: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for ClusterHandle {
    fn drop(&mut self) {
        if let Some(f) = self.forwarder.take() {
            f.abort();
        }
    }
}

impl ClusterHandle {
    /// The dry-run cache, for the engine's own cluster only: it is keyed by object, and the
    /// same object in two clusters must never share an answer.
    pub(crate) fn dry_runs<'a>(
        &self,
        cache: &'a crate::compare::DryRunCache,
    ) -> Option<&'a crate::compare::DryRunCache> {
        self.definition.is_none().then_some(cache)
    }
}

pub(crate) type Clusters = std::sync::RwLock<BTreeMap<String, Arc<ClusterHandle>>>;

/// The registry with only the engine's own cluster.
pub(crate) fn own_cluster(cluster: Arc<KubeCluster>, cache: LiveCache) -> Clusters {
    let own = ClusterHandle {
        name: IN_CLUSTER_NAME.into(),
        server: IN_CLUSTER_SERVER.into(),
        cluster,
        cache,
        definition: None,
        forwarder: None,
    };
    std::sync::RwLock::new(BTreeMap::from([(
        IN_CLUSTER_NAME.to_string(),
        Arc::new(own),
    )]))
}

impl Controller {
    /// The cluster an application deploys to.
    pub(crate) fn target(&self, app: &Application) -> EngineResult<Arc<ClusterHandle>> {
        let d = &app.destination;
        let clusters = self.clusters.read().expect("clusters lock");
        let own = || clusters.get(IN_CLUSTER_NAME).cloned().expect("own cluster");
        // The engine's own cluster answers to Argo CD's names and to its kubeconfig name.
        let own_name = |n: &str| n == IN_CLUSTER_NAME || n == self.cluster.name();
        if !d.name.is_empty() {
            if own_name(&d.name) {
                return Ok(own());
            }
            return clusters.get(&d.name).cloned().ok_or_else(|| {
                EngineError::invalid(format!(
                    "application {}: destination cluster {} is not defined (driftless cluster add {} --kubeconfig FILE); known: {}",
                    app.name,
                    d.name,
                    d.name,
                    clusters.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            });
        }
        let server = d.server.trim_end_matches('/');
        if server.is_empty() || server == IN_CLUSTER_SERVER {
            return Ok(own());
        }
        clusters
            .values()
            .find(|c| c.server.trim_end_matches('/') == server)
            .cloned()
            .ok_or_else(|| {
                EngineError::invalid(format!(
                    "application {}: no cluster is defined for destination server {server} (driftless cluster add NAME --kubeconfig FILE)",
                    app.name
                ))
            })
    }

    /// Connects to a cluster definition and adds (or replaces) it; `persist` keeps it in the
    /// store. The applications deploying to it are re-queued. Audited without credentials.
    pub async fn set_cluster(
        &self,
        mut def: ClusterDefinition,
        actor: &str,
        persist: bool,
    ) -> EngineResult<()> {
        def.validate().map_err(EngineError::invalid)?;
        let name = def.name.clone();
        let text = def.kubeconfig_text().map_err(EngineError::invalid)?;
        let path = self.sources.data_dir().join("clusters").join(format!(
            "{}.kubeconfig",
            super::repositories::safe_name(&name)
        ));
        super::repositories::write_private(&path, &text).map_err(|e| {
            EngineError::invalid(format!("cluster {name}: writing its kubeconfig: {e}"))
        })?;
        let source = ClusterSource::Kubeconfig {
            path,
            context: def.context.clone(),
            allow_exec: def.allow_exec_credentials,
        };
        let client = connect(&source)
            .await
            .map_err(|e| EngineError::invalid(format!("cluster {name}: {e}")))?;
        if def.server.is_empty() {
            def.server = server_of(&text, def.context.as_deref()).unwrap_or_default();
        }
        if persist {
            let spec = serde_json::to_value(&def)?;
            self.store.put_definition(CLUSTER, &name, &spec).await?;
        }
        let cache = LiveCache::new(client.clone());
        let forwarder = {
            let mut changes = cache.subscribe();
            let queue = self.queue.clone();
            tokio::spawn(async move {
                while let Ok(ch) = changes.recv().await {
                    queue.enqueue(&ch.app, Reason::Drift);
                }
            })
        };
        let handle = ClusterHandle {
            name: name.clone(),
            server: def.server.clone(),
            // Credentials re-read on a 401 (a rotated token, a rewritten kubeconfig).
            cluster: Arc::new(KubeCluster::new(client, name.clone()).with_source(source)),
            cache,
            definition: Some(def.clone()),
            forwarder: Some(forwarder),
        };
        let old = self
            .clusters
            .write()
            .expect("clusters lock")
            .insert(name.clone(), Arc::new(handle));
        let changed = old.and_then(|o| o.definition.clone()).as_ref() != Some(&def);
        if changed {
            self.store
                .audit(
                    actor,
                    "cluster.set",
                    &format!("cluster/{name}"),
                    &json!({"server": def.server, "context": def.context}),
                )
                .await?;
        }
        self.requeue_cluster_apps(&name).await;
        Ok(())
    }

    /// Forgets a cluster definition; `false` when unknown. Its applications fail with an
    /// unknown-destination error until it is added again (nothing in it is deleted).
    pub async fn remove_cluster(&self, name: &str, actor: &str) -> EngineResult<bool> {
        if name == IN_CLUSTER_NAME {
            return Err(EngineError::invalid(format!(
                "cluster {IN_CLUSTER_NAME} is the engine's own"
            )));
        }
        let stored = self.store.delete_definition(CLUSTER, name).await?;
        let had = self
            .clusters
            .write()
            .expect("clusters lock")
            .remove(name)
            .is_some();
        if stored || had {
            self.store
                .audit(
                    actor,
                    "cluster.delete",
                    &format!("cluster/{name}"),
                    &json!({}),
                )
                .await?;
            self.requeue_cluster_apps(name).await;
        }
        Ok(stored || had)
    }

    /// The clusters, credentials masked: name, server, and whether its cache has listed.
    pub fn clusters(&self) -> Vec<serde_json::Value> {
        self.clusters
            .read()
            .expect("clusters lock")
            .values()
            .map(|c| {
                json!({
                    "name": c.name,
                    "server": c.server,
                    "synced": c.cache.is_synced(),
                    "objects": c.cache.len(),
                    "definition": c.definition.as_ref().map(ClusterDefinition::redacted),
                })
            })
            .collect()
    }

    /// Connects to the clusters added through the API in an earlier run; one line per
    /// failure (that cluster's apps report it), the others are loaded.
    pub async fn load_stored_clusters(&self) -> EngineResult<Vec<String>> {
        let mut errors = Vec::new();
        for (name, spec) in self.store.list_definitions(CLUSTER).await? {
            let r = match serde_json::from_value::<ClusterDefinition>(spec) {
                Ok(def) => self.set_cluster(def, "store", false).await,
                Err(e) => Err(e.into()),
            };
            if let Err(e) = r {
                errors.push(format!("stored cluster {name}: {e}"));
            }
        }
        Ok(errors)
    }

    /// The applications that name `cluster` (or any server, which it may now serve).
    async fn requeue_cluster_apps(&self, cluster: &str) {
        self.requeue_where(|a| a.destination.name == cluster || !a.destination.server.is_empty())
            .await;
    }
}

/// The server URL of a kubeconfig's context (the current one by default).
fn server_of(kubeconfig: &str, context: Option<&str>) -> Option<String> {
    let docs = driftless_core::yaml::parse_stream(kubeconfig, &Default::default()).ok()?;
    let k = &docs.first()?.value;
    let ctx = match context {
        Some(c) => c.to_string(),
        None => k["current-context"].as_str()?.to_string(),
    };
    let cluster = k["contexts"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == ctx.as_str())?["context"]["cluster"]
        .as_str()?
        .to_string();
    k["clusters"]
        .as_array()?
        .iter()
        .find(|c| c["cluster"].is_object() && c["name"] == cluster.as_str())?["cluster"]["server"]
        .as_str()
        .map(String::from)
}
