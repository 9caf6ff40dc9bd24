//! Applications, Projects and Pipelines as custom resources in the engine's namespace
//! (`driftless.dev/v1alpha1`; Argo CD's `argoproj.io/v1alpha1` Application and AppProject as
//! they are), so `kubectl apply` defines them and `kubectl get applications` shows their state.
//!
//! A resource goes through the same parsing and checks as a definition file
//! (`Definitions::add`) and then the same `set_app` / `set_project` / `set_pipeline` the API
//! uses. One source of truth per object: a name a file, the API or another resource already
//! defines is refused with both named, and while a resource defines an application nothing
//! else may replace it (the hook in `set_app`). Definitions stored by an earlier run are
//! taken over, as files take them over. Which resource defines what is remembered in the
//! store, so a resource deleted while the engine was down is removed at the first list.
//!
//! Status goes back to the `status` subresource on every status change the controller
//! publishes: sync, health, revision, the last operation and conditions (spec errors and
//! conflicts as `InvalidSpecError`). Deleting an Application removes it from management
//! (its objects stay); with Argo CD's `resources-finalizer.argocd.argoproj.io` (or
//! `driftless.dev/resources-finalizer`) its objects are deleted first, then the finalizer.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use driftless_core::definitions::Definitions;
use driftless_kube::{ObjectEvent, ResourceType};

use super::Controller;
use crate::error::{EngineError, EngineResult};

/// Finalizers that make deleting an Application delete its objects first.
pub const RESOURCES_FINALIZERS: [&str; 2] = [
    "resources-finalizer.argocd.argoproj.io",
    "driftless.dev/resources-finalizer",
];

/// The store's kind for "this object is defined by that resource" (survives restarts).
const OWNER: &str = "CustomResourceOwner";

/// The engine's nouns a resource can define.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Noun {
    Application,
    Project,
    Pipeline,
}

impl Noun {
    fn as_str(self) -> &'static str {
        match self {
            Noun::Application => "application",
            Noun::Project => "project",
            Noun::Pipeline => "pipeline",
        }
    }
}

/// The resource types watched, with the noun each defines.
pub fn resource_types() -> Vec<(ResourceType, Noun)> {
    let t = ResourceType::new;
    vec![
        (
            t("driftless.dev", "v1alpha1", "Application", "applications"),
            Noun::Application,
        ),
        (
            t("driftless.dev", "v1alpha1", "Project", "projects"),
            Noun::Project,
        ),
        (
            t("driftless.dev", "v1alpha1", "Pipeline", "pipelines"),
            Noun::Pipeline,
        ),
        (
            t("argoproj.io", "v1alpha1", "Application", "applications"),
            Noun::Application,
        ),
        (
            t("argoproj.io", "v1alpha1", "AppProject", "appprojects"),
            Noun::Project,
        ),
    ]
}

/// One resource: its type and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resource {
    ty: ResourceType,
    noun: Noun,
    namespace: String,
    name: String,
}

impl Resource {
    fn of(ty: &ResourceType, noun: Noun, obj: &Value) -> Option<Resource> {
        Some(Resource {
            ty: ty.clone(),
            noun,
            namespace: obj["metadata"]["namespace"].as_str()?.to_string(),
            name: obj["metadata"]["name"].as_str()?.to_string(),
        })
    }

    /// How errors, the audit log and other definitions name it.
    fn label(&self) -> String {
        format!(
            "{} {} {}/{}",
            self.ty.kind,
            self.ty.api_version(),
            self.namespace,
            self.name
        )
    }

    fn actor(&self) -> String {
        format!("resource {}", self.label())
    }
}

/// Aborts the watch tasks when the watcher stops.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

impl Controller {
    /// Watches the engine's resource types in `namespace` until dropped (see the module doc).
    pub async fn watch_custom_resources(self: Arc<Self>, namespace: String) {
        let (tx, mut rx) = mpsc::channel(256);
        let types = resource_types();
        let mut tasks = Tasks(Vec::new());
        for (ty, _) in &types {
            tasks
                .0
                .push(self.cluster.watch_namespaced(ty, &namespace, tx.clone()));
        }
        drop(tx);
        let c = self.clone();
        tasks
            .0
            .push(tokio::spawn(async move { c.write_statuses().await }));
        let noun_of = |ty: &ResourceType| types.iter().find(|(t, _)| t == ty).map(|(_, n)| *n);
        let mut failing = BTreeSet::new();
        while let Some(ev) = rx.recv().await {
            match ev {
                ObjectEvent::Listed(ty, objs) => {
                    failing.remove(&ty);
                    if let Some(noun) = noun_of(&ty) {
                        self.resources_listed(&ty, noun, &namespace, objs).await;
                    }
                }
                ObjectEvent::Applied(ty, o) => {
                    if let Some(r) = noun_of(&ty).and_then(|n| Resource::of(&ty, n, &o)) {
                        self.resource_applied(&r, &o).await;
                    }
                }
                ObjectEvent::Deleted(ty, o) => {
                    if let Some(r) = noun_of(&ty).and_then(|n| Resource::of(&ty, n, &o)) {
                        self.resource_gone(&r, &r.name, false).await;
                    }
                }
                // Said once per type until it lists again (an uninstalled CRD retries quietly).
                ObjectEvent::Failed(ty, e) => {
                    if failing.insert(ty.clone()) {
                        tracing::warn!(kind = %ty.kind, group = %ty.group, namespace, "cannot watch these resources (is the CRD installed, may the engine list them?): {e}; retrying");
                    }
                }
            }
        }
    }

    /// A complete list: what it lacks was deleted (also while the engine was down).
    async fn resources_listed(&self, ty: &ResourceType, noun: Noun, ns: &str, objs: Vec<Value>) {
        let present: BTreeSet<String> = objs
            .iter()
            .filter_map(|o| o["metadata"]["name"].as_str().map(String::from))
            .collect();
        let mut gone: Vec<(Noun, String, String)> = self
            .custom_resources
            .owned_by_type(ty)
            .into_iter()
            .filter(|(_, _, label)| !present.iter().any(|p| *label == label_of(ty, ns, p)))
            .collect();
        if let Ok(stored) = self.store.list_definitions(OWNER).await {
            for (_, v) in stored {
                let (Some(name), Some(label)) = (v["name"].as_str(), v["resource"].as_str()) else {
                    continue;
                };
                let mine = v["noun"].as_str() == Some(noun.as_str())
                    && present.iter().all(|p| label != label_of(ty, ns, p))
                    && label.starts_with(&format!("{} {} {ns}/", ty.kind, ty.api_version()));
                if mine && !gone.iter().any(|(_, n, _)| n == name) {
                    gone.push((noun, name.to_string(), label.to_string()));
                }
            }
        }
        // Present ones first: once a gone one is seen removed, the others are claimed.
        for o in objs {
            if let Some(r) = Resource::of(ty, noun, &o) {
                self.resource_applied(&r, &o).await;
            }
        }
        for (noun, name, label) in gone {
            let resource_name = label.rsplit('/').next().unwrap_or_default().to_string();
            let r = Resource {
                ty: ty.clone(),
                noun,
                namespace: ns.to_string(),
                name: resource_name,
            };
            self.resource_gone(&r, &name, true).await;
        }
    }

    /// A resource created or changed: defined through the same path as files and the API.
    async fn resource_applied(&self, r: &Resource, obj: &Value) {
        if obj["metadata"]["deletionTimestamp"].is_string() {
            self.resource_deleting(r, obj).await;
            return;
        }
        let generation = obj["metadata"]["generation"].as_i64();
        if let Some(g) = generation
            && lock(&self.custom_resources.seen).insert(r.label(), g) == Some(g)
        {
            return;
        }
        let mut doc = obj.clone();
        if let Some(m) = doc.as_object_mut() {
            m.remove("status");
        }
        let mut defs = Definitions::default();
        defs.add(&doc, &r.label(), true);
        let outcome = match defs.errors.first() {
            Some(e) => Err(e.clone()),
            None => self.define(r, defs).await.map_err(|e| e.to_string()),
        };
        let key = (r.noun, r.name.clone());
        match outcome {
            Ok(warnings) => {
                self.custom_resources.unrefuse(&key, r);
                self.write_status(r, &r.name, generation, &warnings, None)
                    .await
            }
            Err(e) => {
                // Looked at again when the name's definer goes away.
                self.custom_resources.refuse(key, r, obj);
                tracing::warn!(resource = %r.label(), "{e}");
                self.write_status(r, &r.name, generation, &[], Some(&e))
                    .await
            }
        }
    }

    /// Claims and sets what `defs` (one document) defines; returns its warnings.
    async fn define(&self, r: &Resource, mut defs: Definitions) -> EngineResult<Vec<String>> {
        let warnings: Vec<String> = defs.warnings().cloned().collect();
        let actor = r.actor();
        let name = match r.noun {
            Noun::Application => defs.apps.first().map(|p| p.app.name.clone()),
            Noun::Project => defs.projects.first().map(|p| p.name.clone()),
            Noun::Pipeline => defs.pipelines.first().map(|p| p.name.clone()),
        }
        .ok_or_else(|| {
            EngineError::invalid(format!(
                "{}: not a {} definition",
                r.label(),
                r.noun.as_str()
            ))
        })?;
        if r.noun == Noun::Pipeline
            && self.custom_resources.owner(r.noun, &name).is_none()
            && self.promotions.pipelines.lock().await.contains_key(&name)
            && !self.stored_owner(r.noun, &name, r).await
        {
            return Err(conflict(
                r.noun,
                &name,
                &r.label(),
                "a definition file or the API",
            ));
        }
        self.custom_resources.claim(r, &name)?;
        let set = match r.noun {
            Noun::Application => self.set_app(defs.apps.remove(0).app, &actor).await,
            Noun::Project => self.set_project(defs.projects.remove(0), &actor).await,
            Noun::Pipeline => {
                self.set_pipeline(defs.pipelines.remove(0), &actor, false)
                    .await
            }
        };
        if let Err(e) = set {
            self.custom_resources.release(r.noun, &name);
            return Err(e);
        }
        let marker = json!({"noun": r.noun.as_str(), "name": name, "resource": r.label()});
        self.store
            .put_definition(OWNER, &format!("{}/{name}", r.noun.as_str()), &marker)
            .await?;
        Ok(warnings)
    }

    /// Whether the store remembers `r` as the definer of `name` (an earlier run).
    async fn stored_owner(&self, noun: Noun, name: &str, r: &Resource) -> bool {
        self.store
            .list_definitions(OWNER)
            .await
            .ok()
            .and_then(|all| {
                all.into_iter()
                    .find(|(k, _)| *k == format!("{}/{name}", noun.as_str()))
            })
            .is_some_and(|(_, v)| v["resource"].as_str() == Some(r.label().as_str()))
    }

    /// The resource is gone: what it defined is no longer managed (objects stay).
    /// `stored`: the store says `r` defined `name` in an earlier run (the registry, fresh,
    /// does not know yet); otherwise only the registry's owner removes anything.
    async fn resource_gone(&self, r: &Resource, name: &str, stored: bool) {
        lock(&self.custom_resources.seen).remove(&r.label());
        self.custom_resources
            .unrefuse(&(r.noun, name.to_string()), r);
        let owner = self.custom_resources.owner(r.noun, name);
        // A refused resource defined nothing; a name a file or the API took since is theirs.
        let mine = owner.as_deref() == Some(r.label().as_str())
            || (stored
                && owner.is_none()
                && !self.custom_resources.defined_otherwise(r.noun, name));
        if !mine {
            if owner.is_none() && stored {
                let _ = self
                    .store
                    .delete_definition(OWNER, &format!("{}/{name}", r.noun.as_str()))
                    .await;
            }
            return;
        }
        let actor = r.actor();
        let removed = match r.noun {
            Noun::Application => self.remove_app(name, &actor).await,
            Noun::Project => self.remove_project(name, &actor).await,
            Noun::Pipeline => self.remove_pipeline(name, &actor).await,
        };
        if let Err(e) = removed {
            tracing::warn!(resource = %r.label(), "removing {} {name}: {e}", r.noun.as_str());
        }
        self.custom_resources.release(r.noun, name);
        let _ = self
            .store
            .delete_definition(OWNER, &format!("{}/{name}", r.noun.as_str()))
            .await;
        // Resources refused for this name get their turn (the first one listed takes it).
        let waiting = self.custom_resources.take_refused(r.noun, name);
        for (other, obj) in waiting {
            lock(&self.custom_resources.seen).remove(&other.label());
            Box::pin(self.resource_applied(&other, &obj)).await;
        }
    }

    /// Being deleted with a resources finalizer: the application's objects go first.
    async fn resource_deleting(&self, r: &Resource, obj: &Value) {
        let finalizers: Vec<String> = obj["metadata"]["finalizers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let ours = finalizers
            .iter()
            .any(|f| RESOURCES_FINALIZERS.contains(&f.as_str()));
        if r.noun != Noun::Application || !ours {
            return;
        }
        let mine = self.custom_resources.owner(r.noun, &r.name) == Some(r.label());
        if mine && self.has_app(&r.name).await {
            if let Err(e) = self.delete_app_cascade(&r.name, &r.actor(), false).await {
                let generation = obj["metadata"]["generation"].as_i64();
                let e = format!("deleting the objects of application {}: {e}", r.name);
                self.write_status(r, &r.name, generation, &[], Some(&e))
                    .await;
                return;
            }
            self.resource_gone(r, &r.name, false).await;
        }
        let kept: Vec<String> = finalizers
            .into_iter()
            .filter(|f| !RESOURCES_FINALIZERS.contains(&f.as_str()))
            .collect();
        let rv = obj["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        if let Err(e) = self
            .cluster
            .set_finalizers(&r.ty, &r.namespace, &r.name, rv, &kept)
            .await
        {
            tracing::warn!(resource = %r.label(), "removing the resources finalizer: {e}");
        }
    }

    /// Forgets a project (its applications are re-queued and see it missing).
    pub async fn remove_project(&self, name: &str, actor: &str) -> EngineResult<bool> {
        let had = self.projects.lock().await.remove(name).is_some();
        if had {
            self.store
                .audit(
                    actor,
                    "project.delete",
                    &format!("project/{name}"),
                    &json!({}),
                )
                .await?;
            self.requeue_where(|a| a.project == name).await;
        }
        Ok(had)
    }
}

fn label_of(ty: &ResourceType, ns: &str, name: &str) -> String {
    format!("{} {} {ns}/{name}", ty.kind, ty.api_version())
}

mod registry;
mod status;

pub(crate) use registry::Registry;
use registry::{conflict, lock};
