//! The cluster's controllers, run by [`Store::reconcile`] on a short tick: garbage collection
//! by ownerReferences (background, foreground, orphan), namespace termination, CRD removal
//! taking its custom resources, and simulated status (see `crate::simulate`).

use serde_json::{Value, json};

use super::{Key, Store, meta_str};
use crate::meta;
use crate::registry::ResourceType;

/// Objects the status simulator updates per pass: each pass holds the store lock, so a big
/// burst of writes is worked off in slices that let API requests in between.
const SIMULATE_BATCH: usize = 32;

impl Store {
    pub(super) fn orphan_dependents(&mut self, owner_uid: &str) {
        for k in self.objects.dependents_of(owner_uid) {
            let Some(t) = self.type_of(&k) else { continue };
            let Some(old) = self.objects.get(&k) else {
                continue;
            };
            let mut new = old.clone();
            if let Some(refs) = new["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"] != owner_uid);
            }
            let _ = self.replace(&t, k, &old, new, None);
        }
    }

    /// Simulated controller status for objects written at least the rollout delay ago. Only
    /// `pending` objects (written since last looked at) are examined, so a settled cluster of
    /// thousands of objects costs nothing per tick.
    fn simulate_status(&mut self) -> bool {
        let now = std::time::Instant::now();
        let now_text = meta::now();
        let due: Vec<Key> = self
            .pending
            .iter()
            .filter(|(k, at)| {
                now.duration_since(**at) >= self.rollout_delay || k.1 == "customresourcedefinitions"
            })
            .map(|(k, _)| k.clone())
            .take(SIMULATE_BATCH)
            .collect();
        let mut changed = false;
        for k in due {
            self.pending.remove(&k);
            let Some(t) = self.type_of(&k) else { continue };
            // Only kinds with a simulated status are worth parsing.
            if !crate::simulate::simulates(&t.group, &t.kind) {
                continue;
            }
            let Some(old) = self.objects.get(&k) else {
                continue;
            };
            let deployment = t.kind == "Deployment" && t.group == "apps";
            let replica_set = deployment.then(|| self.rollout_revision(&k, &old));
            let cluster = crate::simulate::Cluster {
                schedulable: self.schedulable,
                replica_set: replica_set.as_ref().map(|(name, _)| name.clone()),
            };
            let Some(status) =
                crate::simulate::status(&t.group, &t.kind, &old, &now_text, &cluster)
            else {
                continue;
            };
            // What the controller's managedFields entry needs of the object before its write.
            let before = json!({"status": old["status"], "metadata": {"annotations": old["metadata"]["annotations"]}});
            let mut new = old;
            new["status"] = status;
            let mut extra = Vec::new();
            if let Some((_, revision)) = replica_set {
                if let Some(a) =
                    driftless_core::object::ensure_map(&mut new, &["metadata", "annotations"])
                {
                    a.insert(
                        "deployment.kubernetes.io/revision".into(),
                        json!(revision.to_string()),
                    );
                }
                extra.push(crate::fields::annotation_path(
                    "deployment.kubernetes.io/revision",
                ));
            }
            if crate::simulate::written_by_controller_manager(&t.group, &t.kind) {
                let def = crate::apply::definition(&new, t.crd.is_some());
                crate::apply::record_status_update(
                    &mut new,
                    &before,
                    "kube-controller-manager",
                    def,
                    &extra,
                );
            }
            // Status is the controllers' to write: stored as is (no status-subresource guard).
            let rv = self.bump();
            new["metadata"]["resourceVersion"] = json!(rv.to_string());
            self.put("MODIFIED", &t, k.clone(), &new);
            // Our own write needs no second look.
            self.pending.remove(&k);
            changed = true;
        }
        changed
    }

    /// The ReplicaSet name and revision a Deployment's current pod template rolls out as: the
    /// revision goes up only when the template changes, as the real controller's does.
    fn rollout_revision(&mut self, k: &Key, obj: &Value) -> (String, u64) {
        let template = serde_json::to_vec(&obj["spec"]["template"]).unwrap_or_default();
        let hash = crate::simulate::pod_template_hash(&template);
        let revision = match self.revisions.get(k) {
            Some((h, r)) if *h == hash => *r,
            Some((_, r)) => r + 1,
            None => obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .unwrap_or(1),
        };
        self.revisions.insert(k.clone(), (hash.clone(), revision));
        (format!("{}-{hash}", k.3), revision)
    }

    /// One pass of the cluster's controllers: garbage collection (ownerReferences),
    /// foreground deletion, namespace termination. Returns whether anything changed.
    pub fn reconcile(&mut self) -> bool {
        let mut changed = self.simulate_status();
        // Only objects being deleted or owned by others need the controllers; the store
        // keeps them indexed, so a settled cluster costs nothing here.
        for (k, control) in self.objects.controlled() {
            let Some(t) = self.type_of(&k) else { continue };
            // Background GC: every owner gone → the dependent goes too.
            if !control.owners.is_empty()
                && !control.deleting
                && control.owners.iter().all(|u| !self.objects.has_uid(u))
            {
                let _ = self.delete(&t, &k.2, &k.3, Some("Background"));
                changed = true;
                continue;
            }
            if !control.deleting {
                continue;
            }
            // An earlier step of this pass may have removed it.
            let Some(obj) = self.objects.get(&k) else {
                continue;
            };
            let uid = meta_str(&obj, "uid").to_string();
            if t.group.is_empty() && t.kind == "Namespace" {
                let since = *self
                    .terminating
                    .entry(k.3.clone())
                    .or_insert_with(std::time::Instant::now);
                if since.elapsed() < self.rollout_delay {
                    continue;
                }
                self.terminating.remove(&k.3);
                for c in &self.objects.in_namespace(&k.3) {
                    if let Some(ct) = self.type_of(c) {
                        let _ = self.force_remove(&ct, c.clone());
                    }
                }
                let _ = self.force_remove(&t, k);
                changed = true;
                continue;
            }
            let finalizers: Vec<String> = obj["metadata"]["finalizers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(String::from))
                .collect();
            if finalizers.iter().any(|f| f == "foregroundDeletion") {
                let dependents = self.objects.dependents_of(&uid);
                if dependents.is_empty() {
                    let old = obj.clone();
                    let mut new = obj.clone();
                    new["metadata"]["finalizers"] = json!(
                        finalizers
                            .iter()
                            .filter(|f| *f != "foregroundDeletion")
                            .collect::<Vec<_>>()
                    );
                    let _ = self.replace(&t, k.clone(), &old, new, None);
                    changed = true;
                } else {
                    for d in dependents {
                        if let Some(dt) = self.type_of(&d) {
                            let _ = self.delete(&dt, &d.2, &d.3, Some("Foreground"));
                        }
                    }
                }
                continue;
            }
            if finalizers.is_empty() {
                let _ = self.force_remove(&t, k);
                changed = true;
            }
        }
        changed
    }

    pub(super) fn force_remove(&mut self, t: &ResourceType, k: Key) -> Option<Value> {
        let mut obj = self.objects.remove(&k)?;
        let rv = self.bump();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.record_deleted(&t.group, &t.plural, &obj);
        if t.kind == "CustomResourceDefinition" {
            self.drop_crd(&k.3);
        }
        Some(obj)
    }

    /// A deleted CRD takes its custom resources with it, as on a real server.
    pub(super) fn drop_crd(&mut self, name: &str) {
        for (group, plural) in self.registry.remove_crd(name) {
            let keys: Vec<Key> = self
                .objects
                .of_type(&group, &plural)
                .map(|(k, _)| k.clone())
                .collect();
            for k in keys {
                if let Some(mut obj) = self.objects.remove(&k) {
                    let rv = self.bump();
                    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
                    self.record_deleted(&group, &plural, &obj);
                }
            }
        }
    }
}
