//! Saving and resuming a sandbox cluster (`--data DIR`): the resourceVersion and every object.

use axum::body::Bytes;
use serde_json::Value;

use super::{Store, key, meta_str};

/// A point-in-time copy of the cluster, encoded outside the store lock.
pub struct State {
    rv: u64,
    objects: Vec<Bytes>,
}

impl State {
    /// The state file's JSON: `{"version":1,"resourceVersion":N,"objects":[...]}`.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.objects.iter().map(|o| o.len() + 1).sum();
        let mut out = Vec::with_capacity(size + 64);
        out.extend_from_slice(
            format!(r#"{{"version":1,"resourceVersion":{},"objects":["#, self.rv).as_bytes(),
        );
        for (i, o) in self.objects.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(o);
        }
        out.extend_from_slice(b"]}");
        out
    }
}

impl Store {
    /// Everything needed to resume this cluster: the resourceVersion and every object. Cheap
    /// (shared bytes), so the store lock is held only for the copy of the index.
    pub fn snapshot_state(&self) -> State {
        State {
            rv: self.rv,
            objects: self.objects.iter().map(|(_, b)| b.clone()).collect(),
        }
    }

    /// A store resumed from [`Store::snapshot_state`]: objects and resourceVersion restored,
    /// CRD types re-registered; watches can resume only from the restored version on.
    pub fn from_state(state: &Value) -> Result<Self, String> {
        if state["version"] != 1 {
            return Err("unknown sandbox state version".into());
        }
        let mut s = Store::new();
        s.objects.clear();
        s.history.clear();
        s.pending.clear();
        let crd = s
            .registry
            .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .cloned();
        let objects = state["objects"].as_array().ok_or("state has no objects")?;
        // CRDs first, so their custom resources find their types.
        let mut ordered: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == "CustomResourceDefinition")
            .collect();
        ordered.extend(
            objects
                .iter()
                .filter(|o| o["kind"] != "CustomResourceDefinition"),
        );
        for obj in ordered {
            let gvk =
                driftless_core::object::gvk(obj).ok_or("an object without apiVersion/kind")?;
            let t = s
                .registry
                .find_kind(&gvk.group, &gvk.version, &gvk.kind)
                .cloned()
                .ok_or_else(|| format!("no type serves {gvk}"))?;
            if Some(&t) == crd.as_ref() {
                s.registry.add_crd(obj);
            }
            s.objects.insert(
                key(&t, meta_str(obj, "namespace"), meta_str(obj, "name")),
                obj,
            );
        }
        s.rv = state["resourceVersion"]
            .as_u64()
            .ok_or("state has no resourceVersion")?;
        s.compacted = s.rv;
        Ok(s)
    }

    /// Replays journal entries newer than this store's resourceVersion (see
    /// `crate::journal`): objects put and removed under their keys, CRD types kept in step.
    pub fn replay(&mut self, entries: Vec<crate::journal::Entry>) {
        let from = self.rv;
        for e in entries.into_iter().filter(|e| e.rv > from) {
            let [group, plural, ns, name] = e.key;
            let crd = group == "apiextensions.k8s.io" && plural == "customresourcedefinitions";
            let k = (group, plural, ns, name);
            match e.object {
                Some(obj) => {
                    if crd {
                        self.registry.add_crd(&obj);
                    }
                    self.objects.insert(k.clone(), &obj);
                    // Written after the last snapshot, maybe before the controllers looked at
                    // it (a kill -9 between the write and the simulated status): look again,
                    // or a Deployment restored mid-rollout stays Progressing for ever.
                    self.pending.insert(k, tokio::time::Instant::now());
                }
                None => {
                    if crd {
                        self.registry.remove_crd(&k.3);
                    }
                    self.pending.remove(&k);
                    self.objects.remove(&k);
                }
            }
            self.rv = e.rv;
        }
        self.compacted = self.rv;
    }

    /// After a restart every controller looks at its objects once more (a rollout that was
    /// under way goes on; nothing was pending in the saved state).
    pub fn wake_all(&mut self) {
        let types = [
            ("apps", "deployments"),
            ("apps", "replicasets"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("batch", "jobs"),
            ("", "pods"),
            ("", "services"),
            ("", "persistentvolumeclaims"),
        ];
        let keys: Vec<_> = types
            .iter()
            .flat_map(|(g, p)| {
                self.objects
                    .of_type(g, p)
                    .map(|(k, _)| k.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        for k in keys {
            self.wake(k);
        }
    }
}
