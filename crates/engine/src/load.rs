//! Loading an application's state from a cluster: namespaces defaulted the way the API
//! server will see them, hooks split off, and the live objects the comparison needs (those
//! of the desired keys, whoever owns them, and every object the app tracks).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use driftless_core::cluster::{Cluster, ClusterError, KindScope};
use driftless_core::desired::DesiredObject;
use driftless_core::tracking::{self, Owner};
use driftless_core::{DesiredSet, Gvk, ResourceKey, object};

use crate::SyncError;

/// Kinds always searched for tracked objects, so a kind that disappeared from Git entirely
/// is still found and pruned (custom kinds the app used are found through `extra_kinds`).
const COMMON_KINDS: &[(&str, &str, &str)] = &[
    ("", "v1", "ConfigMap"),
    ("", "v1", "Secret"),
    ("", "v1", "Service"),
    ("", "v1", "ServiceAccount"),
    ("", "v1", "PersistentVolumeClaim"),
    ("", "v1", "Namespace"),
    ("apps", "v1", "Deployment"),
    ("apps", "v1", "StatefulSet"),
    ("apps", "v1", "DaemonSet"),
    ("batch", "v1", "Job"),
    ("batch", "v1", "CronJob"),
    ("networking.k8s.io", "v1", "Ingress"),
    ("rbac.authorization.k8s.io", "v1", "Role"),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("policy", "v1", "PodDisruptionBudget"),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
];

/// An application's desired resources, hooks and live objects.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub resources: DesiredSet,
    pub hooks: Vec<DesiredObject>,
    pub live: BTreeMap<ResourceKey, Value>,
    /// Kinds the server does not serve yet but a CRD in the same set defines.
    pub pending_kinds: BTreeSet<(String, String)>,
}

/// The scope of a kind the server does not serve yet, from a CRD in the desired set.
fn scope_from_crds(desired: &DesiredSet, gvk: &Gvk) -> Option<bool> {
    desired.values().find_map(|o| {
        (object::kind(o) == Some("CustomResourceDefinition")
            && object::str_at(o, &["spec", "group"]) == Some(gvk.group.as_str())
            && object::str_at(o, &["spec", "names", "kind"]) == Some(gvk.kind.as_str()))
        .then(|| object::str_at(o, &["spec", "scope"]) != Some("Cluster"))
    })
}

/// Sets or clears `metadata.namespace` by the kind's scope, as kubectl and Argo CD do.
pub async fn default_namespaces<C: Cluster>(
    cluster: &C,
    app: &str,
    rendered: &DesiredSet,
    destination_namespace: Option<&str>,
) -> Result<(DesiredSet, BTreeSet<(String, String)>), SyncError> {
    let mut out = DesiredSet::new();
    let mut pending = BTreeSet::new();
    for d in rendered.iter() {
        let gvk = object::gvk(&d.object).expect("keyed objects have a GVK");
        let namespaced = match cluster
            .resolve(&gvk)
            .await
            .map_err(|e| SyncError::cluster(app, e))?
        {
            Some(scope) => scope.namespaced,
            None => match scope_from_crds(rendered, &gvk) {
                Some(n) => {
                    pending.insert((gvk.group.clone(), gvk.kind.clone()));
                    n
                }
                None => {
                    return Err(SyncError::Cluster {
                        app: app.to_string(),
                        source: ClusterError::UnknownKind {
                            key: Box::new(d.key.clone()),
                            kind: format!("{} ({})", gvk.kind, gvk.api_version()),
                        },
                    });
                }
            },
        };
        let mut obj = d.object.clone();
        if namespaced {
            if object::namespace(&obj).is_none_or(str::is_empty) {
                let Some(ns) = destination_namespace else {
                    return Err(SyncError::Invalid {
                        app: app.to_string(),
                        message: format!(
                            "{} ({}) is namespaced but has no namespace, and the application has no destination namespace",
                            d.key, d.origin
                        ),
                    });
                };
                object::set_namespace(&mut obj, ns);
            }
        } else if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("namespace");
        }
        let key = object::key(&obj).expect("still keyed");
        out.insert(key, obj, d.origin.clone())
            .map_err(|e| SyncError::Invalid {
                app: app.to_string(),
                message: e.to_string(),
            })?;
    }
    Ok((out, pending))
}

/// Loads everything a comparison of `app` needs.
pub async fn load<C: Cluster>(
    cluster: &C,
    app: &str,
    rendered: &DesiredSet,
    destination_namespace: Option<&str>,
    extra_kinds: &[Gvk],
) -> Result<Loaded, SyncError> {
    let (desired, pending_kinds) =
        default_namespaces(cluster, app, rendered, destination_namespace).await?;
    let (resources, hooks) =
        driftless_plan::split_hooks(&desired).map_err(|(key, message)| SyncError::Invalid {
            app: app.to_string(),
            message: format!("{key}: {message}"),
        })?;

    let mut kinds: BTreeMap<(String, String), Gvk> = BTreeMap::new();
    for (g, v, k) in COMMON_KINDS {
        kinds.insert(
            (g.to_string(), k.to_string()),
            Gvk {
                group: g.to_string(),
                version: v.to_string(),
                kind: k.to_string(),
            },
        );
    }
    for gvk in resources
        .values()
        .filter_map(object::gvk)
        .chain(extra_kinds.iter().cloned())
    {
        kinds
            .entry((gvk.group.clone(), gvk.kind.clone()))
            .or_insert(gvk);
    }
    let mut live = BTreeMap::new();
    for gvk in kinds.values() {
        let scope: Option<KindScope> = cluster
            .resolve(gvk)
            .await
            .map_err(|e| SyncError::cluster(app, e))?;
        let Some(scope) = scope else { continue };
        for obj in cluster
            .list_tracked(&scope, None)
            .await
            .map_err(|e| SyncError::cluster(app, e))?
        {
            if tracking::owner(&obj) == Owner::App(app.to_string())
                && let Some(key) = object::key(&obj)
            {
                live.insert(key, obj);
            }
        }
    }
    for d in resources.iter() {
        if live.contains_key(&d.key)
            || pending_kinds.contains(&(d.key.group.clone(), d.key.kind.clone()))
        {
            continue;
        }
        let gvk = object::gvk(&d.object).expect("keyed");
        if let Some(obj) = cluster
            .get(&gvk, &d.key)
            .await
            .map_err(|e| SyncError::cluster(app, e))?
        {
            live.insert(d.key.clone(), obj);
        }
    }
    Ok(Loaded {
        resources,
        hooks,
        live,
        pending_kinds,
    })
}

/// [`load`] served from the live cache once it can be believed: every kind involved (the
/// common kinds and the desired ones) is watched and listed, so the app's tracked objects come
/// from memory; only desired objects nobody tracks yet are read from the server (adoption).
/// Until then (start-up, a new kind, a watch in error) it falls back to [`load`]'s lists, so
/// nothing is ever pruned on the word of a cache that has not synced.
pub async fn load_cached<C: Cluster>(
    cluster: &C,
    cache: &driftless_kube::LiveCache,
    app: &str,
    rendered: &DesiredSet,
    destination_namespace: Option<&str>,
) -> Result<(Loaded, bool), SyncError> {
    let mut gvks: BTreeMap<(String, String), Gvk> = COMMON_KINDS
        .iter()
        .map(|(g, v, k)| {
            (
                (g.to_string(), k.to_string()),
                Gvk {
                    group: g.to_string(),
                    version: v.to_string(),
                    kind: k.to_string(),
                },
            )
        })
        .collect();
    for gvk in rendered.values().filter_map(object::gvk) {
        gvks.entry((gvk.group.clone(), gvk.kind.clone()))
            .or_insert(gvk);
    }
    let mut synced = true;
    for gvk in gvks.values() {
        if let Some(scope) = cluster
            .resolve(gvk)
            .await
            .map_err(|e| SyncError::cluster(app, e))?
        {
            cache.watch(&scope, None);
            synced &= cache.is_kind_synced(&gvk.group, &gvk.kind);
        }
    }
    if !synced {
        return Ok((
            load(cluster, app, rendered, destination_namespace, &[]).await?,
            false,
        ));
    }
    let (desired, pending_kinds) =
        default_namespaces(cluster, app, rendered, destination_namespace).await?;
    let (resources, hooks) =
        driftless_plan::split_hooks(&desired).map_err(|(key, message)| SyncError::Invalid {
            app: app.to_string(),
            message: format!("{key}: {message}"),
        })?;
    let mut live: BTreeMap<ResourceKey, Value> = cache.tracked_by(app).into_iter().collect();
    for d in resources.iter() {
        if live.contains_key(&d.key)
            || pending_kinds.contains(&(d.key.group.clone(), d.key.kind.clone()))
        {
            continue;
        }
        // Tracked by another app (a conflict to report), or by nobody yet (adoption).
        let found = match cache.get(&d.key) {
            Some(v) => Some(v),
            None => {
                let gvk = object::gvk(&d.object).expect("keyed");
                cluster
                    .get(&gvk, &d.key)
                    .await
                    .map_err(|e| SyncError::cluster(app, e))?
            }
        };
        if let Some(v) = found {
            live.insert(d.key.clone(), v);
        }
    }
    Ok((
        Loaded {
            resources,
            hooks,
            live,
            pending_kinds,
        },
        true,
    ))
}
