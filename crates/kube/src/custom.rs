//! The engine's own custom resources (Application, Project, Pipeline; Argo CD's Application
//! and AppProject): watched in one namespace, whole objects handed to the engine, and their
//! `status` subresource written back.
//!
//! Unlike the [`crate::LiveCache`], which keeps only tracked objects for drift, this hands
//! every object of a type to the caller as JSON. A watch on a type whose CRD is not installed
//! fails and retries with backoff, so installing the CRD later needs no restart.

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::sync::mpsc;

use driftless_core::cluster::ClusterError;

use crate::{FIELD_MANAGER, KubeCluster};

/// Status and finalizer writes are Driftless's own, as its applies are.
fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

/// A custom resource type, known without discovery (the CRDs are ours or Argo CD's).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
}

impl ResourceType {
    pub fn new(group: &str, version: &str, kind: &str, plural: &str) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
        }
    }

    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&self.group, &self.version, &self.kind),
            &self.plural,
        )
    }
}

/// What a watch saw, objects as JSON with `apiVersion` and `kind` set.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectEvent {
    /// A complete (re)list: every object there is now; those missing were deleted.
    Listed(ResourceType, Vec<Value>),
    Applied(ResourceType, Value),
    Deleted(ResourceType, Value),
    /// The watch failed (the CRD is not installed, access denied...); it retries.
    Failed(ResourceType, String),
}

fn json_of(ty: &ResourceType, o: &DynamicObject) -> Option<Value> {
    let mut v = serde_json::to_value(o).ok()?;
    v["apiVersion"] = Value::String(ty.api_version());
    v["kind"] = Value::String(ty.kind.clone());
    Some(v)
}

impl KubeCluster {
    /// Watches the objects of `ty` in `namespace`, sending every change to `events` until the
    /// receiver is dropped. Relists (after a 410 or a reconnect) arrive as [`ObjectEvent::Listed`].
    pub fn watch_namespaced(
        &self,
        ty: &ResourceType,
        namespace: &str,
        events: mpsc::Sender<ObjectEvent>,
    ) -> tokio::task::JoinHandle<()> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client(), namespace, &ty.api_resource());
        let ty = ty.clone();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(
                watcher::watcher(api, watcher::Config::default().page_size(500)).default_backoff()
            );
            let mut buffer: Vec<Value> = Vec::new();
            while let Some(ev) = stream.next().await {
                let out = match ev {
                    Ok(Event::Init) => {
                        buffer.clear();
                        continue;
                    }
                    Ok(Event::InitApply(o)) => {
                        buffer.extend(json_of(&ty, &o));
                        continue;
                    }
                    Ok(Event::InitDone) => {
                        ObjectEvent::Listed(ty.clone(), std::mem::take(&mut buffer))
                    }
                    Ok(Event::Apply(o)) => match json_of(&ty, &o) {
                        Some(v) => ObjectEvent::Applied(ty.clone(), v),
                        None => continue,
                    },
                    Ok(Event::Delete(o)) => match json_of(&ty, &o) {
                        Some(v) => ObjectEvent::Deleted(ty.clone(), v),
                        None => continue,
                    },
                    Err(e) => ObjectEvent::Failed(ty.clone(), e.to_string()),
                };
                if events.send(out).await.is_err() {
                    return;
                }
            }
        })
    }

    /// Replaces the parts of `status` given (a JSON merge patch of the status subresource).
    pub async fn patch_status(
        &self,
        ty: &ResourceType,
        namespace: &str,
        name: &str,
        status: &Value,
    ) -> Result<(), ClusterError> {
        let what = format!(
            "status of {} {namespace}/{name} on cluster {}",
            ty.kind,
            self.name()
        );
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client(), namespace, &ty.api_resource());
        api.patch_status(
            name,
            &params(),
            &Patch::Merge(serde_json::json!({ "status": status })),
        )
        .await
        .map(|_| ())
        .map_err(|e| ClusterError::Other {
            what,
            message: e.to_string(),
        })
    }

    /// Sets `metadata.finalizers` of an object (a merge patch; `resourceVersion` guards
    /// against a concurrent change).
    pub async fn set_finalizers(
        &self,
        ty: &ResourceType,
        namespace: &str,
        name: &str,
        resource_version: &str,
        finalizers: &[String],
    ) -> Result<(), ClusterError> {
        let what = format!(
            "finalizers of {} {namespace}/{name} on cluster {}",
            ty.kind,
            self.name()
        );
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client(), namespace, &ty.api_resource());
        let patch = serde_json::json!({"metadata": {"finalizers": finalizers, "resourceVersion": resource_version}});
        api.patch(name, &params(), &Patch::Merge(patch))
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::Other {
                what,
                message: e.to_string(),
            })
    }
}
