//! What every simulated controller needs of the store: built-in types by name, the objects
//! a controller owns, creating and updating as `kube-controller-manager`, status writes that
//! happen only when something changed (timestamps aside), and waking an object's controller.

use serde_json::{Value, json};

use super::{Key, Store, key, meta_str};
use crate::registry::ResourceType;

pub(super) const MANAGER: &str = "kube-controller-manager";

/// The status without the timestamps controllers refresh (so an unchanged status is not
/// rewritten every pass).
pub(super) fn without_times(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "lastUpdateTime" | "lastTransitionTime" | "lastProbeTime"
                    )
                })
                .map(|(k, x)| (k.clone(), without_times(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_times).collect()),
        other => other.clone(),
    }
}

/// Keeps a condition's `lastTransitionTime` while its status stays, and `lastUpdateTime`
/// while nothing of it changes, as controllers do.
pub(super) fn keep_condition_times(old: &Value, new: &mut Value) {
    let Some(conds) = new["conditions"].as_array_mut() else {
        return;
    };
    for c in conds.iter_mut() {
        let Some(prev) = old["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["type"] == c["type"])
        else {
            continue;
        };
        if prev["status"] == c["status"] {
            for t in ["lastTransitionTime", "lastProbeTime"] {
                if c.get(t).is_some() && prev.get(t).is_some() {
                    c[t] = prev[t].clone();
                }
            }
            if without_times(prev) == without_times(c) && prev.get("lastUpdateTime").is_some() {
                c["lastUpdateTime"] = prev["lastUpdateTime"].clone();
            }
        }
    }
}

/// Sets `counts` in `status` when not zero (the controllers' `omitempty` counters).
pub(super) fn counts(status: &mut Value, counts: &[(&str, i64)]) {
    for (k, v) in counts {
        if *v != 0 {
            status[*k] = json!(v);
        }
    }
}

impl Store {
    /// A built-in type (present by construction).
    pub(super) fn builtin(&self, group: &str, plural: &str) -> ResourceType {
        self.registry
            .find(group, "v1", plural)
            .unwrap_or_else(|| panic!("{group}/{plural} is built in"))
            .clone()
    }

    /// The objects of one type whose controller is `uid`, not being deleted.
    pub(super) fn owned(&self, uid: &str, group: &str, plural: &str) -> Vec<(Key, Value)> {
        self.objects
            .dependents_of(uid)
            .into_iter()
            .filter(|k| k.0 == group && k.1 == plural)
            .filter_map(|k| self.objects.get(&k).map(|o| (k, o)))
            .filter(|(_, o)| {
                o["metadata"].get("deletionTimestamp").is_none()
                    && crate::pods::controller_uid(o) == Some(uid)
            })
            .collect()
    }

    /// Creates `obj` as the controller manager does (admission, defaults, its managed
    /// fields); refused creations (a namespace being deleted) are simply not made.
    pub(super) fn controller_create(
        &mut self,
        t: &ResourceType,
        ns: &str,
        obj: Value,
    ) -> Option<Value> {
        self.create_as(t, ns, obj, false, MANAGER).ok()
    }

    /// Replaces `old` by `new` as the controller manager (spec or metadata changes).
    pub(super) fn controller_update(&mut self, t: &ResourceType, old: &Value, new: Value) {
        let k = key(t, meta_str(old, "namespace"), meta_str(old, "name"));
        let managed = self.updated_fields(t, old, &new, MANAGER);
        let _ = self.replace(t, k, old, new, managed);
    }

    /// Writes `status` (and `annotations`) of the object at `k` when they differ from what it
    /// has (timestamps aside), recording `manager`'s status entry. Returns whether it wrote.
    pub(super) fn write_status(
        &mut self,
        k: &Key,
        mut status: Value,
        annotations: &[(&str, String)],
        manager: &str,
    ) -> bool {
        let Some(old) = self.objects.get(k) else {
            return false;
        };
        let Some(t) = self.type_of(k) else {
            return false;
        };
        keep_condition_times(&old["status"], &mut status);
        let same_annotations = annotations
            .iter()
            .all(|(a, v)| old["metadata"]["annotations"][*a] == v.as_str());
        if same_annotations && without_times(&old["status"]) == without_times(&status) {
            return false;
        }
        let before = json!({"status": old["status"], "metadata": {"annotations": old["metadata"]["annotations"]}});
        let mut new = old;
        new["status"] = status;
        let mut extra = Vec::new();
        for (a, v) in annotations {
            if let Some(m) =
                driftless_core::object::ensure_map(&mut new, &["metadata", "annotations"])
            {
                m.insert((*a).to_string(), json!(v));
            }
            extra.push(crate::fields::annotation_path(a));
        }
        let def = crate::apply::definition(&new, t.crd.is_some());
        crate::apply::record_status_update(&mut new, &before, manager, def, &extra);
        let rv = self.bump();
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.put("MODIFIED", &t, k.clone(), &new);
        // A controller's own write needs no second look by itself.
        self.pending.remove(k);
        true
    }

    /// Marks `k` to be looked at by its controller on the next pass.
    pub(super) fn wake(&mut self, k: Key) {
        let now = tokio::time::Instant::now();
        let due = self.pending.entry(k).or_insert(now);
        if *due > now {
            *due = now;
        }
    }

    /// Wakes the controller of `obj` and, for a pod, the Services of its namespace (their
    /// EndpointSlices follow the pods).
    pub(super) fn wake_watchers(&mut self, group: &str, plural: &str, obj: &Value) {
        if let Some(owner) =
            crate::pods::controller_uid(obj).and_then(|u| self.objects.key_of_uid(u))
        {
            self.wake(owner);
        }
        if group.is_empty() && plural == "pods" {
            let ns = meta_str(obj, "namespace").to_string();
            for k in self.objects.keys_in("", "services", &ns) {
                self.wake(k);
            }
        }
    }
}
