//! The cluster's controllers, run by [`Store::reconcile`] on a short tick: garbage collection
//! by ownerReferences (background, foreground, orphan), namespace termination, CRD removal
//! taking its custom resources, and the workload controllers (`workloads`, `podsets`,
//! `endpoints`) plus simple simulated status (see `crate::simulate`).

use serde_json::{Value, json};

use super::{Key, Store, meta_str};
use crate::meta;
use crate::registry::ResourceType;

/// Objects the controllers look at per pass: each pass holds the store lock, so a big
/// burst of writes is worked off in slices that let API requests in between.
const SIMULATE_BATCH: usize = 64;

/// How long after a write an object's controller looks at it: the kubelet starts a pod's
/// containers, a cloud assigns a load balancer and binds volumes after the rollout delay;
/// the controllers of workloads act at once.
pub(super) fn delay(store: &Store, group: &str, plural: &str) -> std::time::Duration {
    match (group, plural) {
        ("", "pods" | "services" | "persistentvolumeclaims") => store.rollout_delay,
        _ => std::time::Duration::ZERO,
    }
}

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

    /// The controllers' pass over objects due for a look (written, woken by a dependent, or a
    /// deadline reached). Only `pending` objects are examined, so a settled cluster of
    /// thousands of objects costs nothing per tick.
    fn simulate_status(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        let due: Vec<Key> = self
            .pending
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .take(SIMULATE_BATCH)
            .collect();
        let before = self.rv;
        for k in due {
            self.pending.remove(&k);
            match (k.0.as_str(), k.1.as_str()) {
                ("apps", "deployments") => self.sync_deployment(&k),
                ("apps", "replicasets") => self.sync_replicaset(&k),
                ("apps", "statefulsets") => self.sync_statefulset(&k),
                ("apps", "daemonsets") => self.sync_daemonset(&k),
                ("batch", "jobs") => self.sync_job(&k),
                ("", "pods") => self.sync_pod(&k),
                ("", "services") => {
                    self.sync_endpoints(&k);
                    self.simple_status(&k, &meta::now());
                }
                _ => self.simple_status(&k, &meta::now()),
            }
        }
        self.rv != before
    }

    /// Status that needs nothing but the object (LoadBalancer IPs, PVC binding, CRDs).
    fn simple_status(&mut self, k: &Key, now: &str) {
        let Some(t) = self.type_of(k) else { return };
        if !crate::simulate::simulates(&t.group, &t.kind) {
            return;
        }
        let Some(old) = self.objects.get(k) else {
            return;
        };
        let Some(status) = crate::simulate::status(&t.group, &t.kind, &old, now) else {
            return;
        };
        let manager = if crate::simulate::written_by_controller_manager(&t.group, &t.kind) {
            super::kit::MANAGER
        } else {
            ""
        };
        if manager.is_empty() {
            // Status is the controllers' to write: stored as is (no status-subresource guard).
            let mut new = old;
            new["status"] = status;
            let rv = self.bump();
            new["metadata"]["resourceVersion"] = json!(rv.to_string());
            self.put("MODIFIED", &t, k.clone(), &new);
            self.pending.remove(k);
        } else {
            self.write_status(k, status, &[], manager);
        }
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
