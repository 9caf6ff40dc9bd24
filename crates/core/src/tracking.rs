//! Tracking: how Driftless marks the objects an application owns.
//!
//! Every object Driftless applies carries the annotation
//! `driftless.dev/tracking-id: <app>:<group>/<Kind>:<namespace>/<name>` (Argo CD's
//! annotation-tracking format). The id names the object itself, so a copy made by someone
//! else (`kubectl get -o yaml | kubectl apply` under another name) is not mistaken for
//! tracked, and an object whose id names another application is a shared-resource conflict,
//! never silently taken over.

use serde_json::Value;

use crate::{ResourceKey, object};

/// The tracking annotation.
pub const TRACKING_ANNOTATION: &str = "driftless.dev/tracking-id";
/// The optional instance label (`app.kubernetes.io/instance: <app>`), for label selectors.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// The tracking id of `key` in application `app`.
pub fn tracking_id(app: &str, key: &ResourceKey) -> String {
    format!(
        "{app}:{}/{}:{}/{}",
        key.group, key.kind, key.namespace, key.name
    )
}

/// A parsed tracking id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingId {
    pub app: String,
    pub key: ResourceKey,
}

/// Parses `<app>:<group>/<Kind>:<ns>/<name>`; `None` when malformed.
pub fn parse(id: &str) -> Option<TrackingId> {
    let (app, rest) = id.split_once(':')?;
    let (gk, nsn) = rest.split_once(':')?;
    let (group, kind) = gk.split_once('/')?;
    let (namespace, name) = nsn.split_once('/')?;
    if app.is_empty() || kind.is_empty() || name.is_empty() {
        return None;
    }
    Some(TrackingId {
        app: app.to_string(),
        key: ResourceKey::new(group, kind, namespace, name),
    })
}

/// Who tracks a live object, as far as its annotation says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// No tracking annotation: not Driftless's.
    Untracked,
    /// Tracked by `app`, and the id names this very object.
    App(String),
    /// The annotation names another object (a copy): treated as untracked.
    Copied,
}

/// Reads the tracking owner of a live object.
pub fn owner(live: &Value) -> Owner {
    let Some(id) = object::annotation(live, TRACKING_ANNOTATION) else {
        return Owner::Untracked;
    };
    match (parse(id), object::key(live)) {
        (Some(t), Some(key)) if t.key == key => Owner::App(t.app),
        _ => Owner::Copied,
    }
}

/// Sets the tracking annotation (and, when `label`, the instance label) on a desired object.
pub fn mark(obj: &mut Value, app: &str, key: &ResourceKey, label: bool) {
    let id = tracking_id(app, key);
    if let Some(a) = object::ensure_map(obj, &["metadata", "annotations"]) {
        a.insert(TRACKING_ANNOTATION.into(), Value::String(id));
    }
    if label && let Some(l) = object::ensure_map(obj, &["metadata", "labels"]) {
        l.insert(INSTANCE_LABEL.into(), Value::String(app.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_round_trip_for_namespaced_and_cluster_scoped_objects() {
        let k = ResourceKey::new("apps", "Deployment", "prod", "web");
        let id = tracking_id("shop", &k);
        assert_eq!(id, "shop:apps/Deployment:prod/web");
        assert_eq!(parse(&id).unwrap().key, k);
        let ns = ResourceKey::new("", "Namespace", "", "prod");
        assert_eq!(tracking_id("shop", &ns), "shop:/Namespace:/prod");
        assert_eq!(parse("shop:/Namespace:/prod").unwrap().key, ns);
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn a_copied_object_is_not_tracked() {
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "d"}});
        assert_eq!(owner(&obj), Owner::Untracked);
        mark(
            &mut obj,
            "shop",
            &ResourceKey::new("", "ConfigMap", "d", "a"),
            true,
        );
        assert_eq!(owner(&obj), Owner::App("shop".into()));
        assert_eq!(obj["metadata"]["labels"][INSTANCE_LABEL], "shop");
        obj["metadata"]["name"] = json!("b");
        assert_eq!(owner(&obj), Owner::Copied);
    }
}
