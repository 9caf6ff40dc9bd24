//! Saving and resuming a sandbox cluster (`--data DIR`): the resourceVersion and every object.

use serde_json::{Value, json};

use super::{Store, key, meta_str};

impl Store {
    /// Everything needed to resume this cluster: the resourceVersion and every object.
    pub fn snapshot_state(&self) -> Value {
        json!({"version": 1, "resourceVersion": self.rv, "objects": self.objects.values().collect::<Vec<_>>()})
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
                obj.clone(),
            );
        }
        s.rv = state["resourceVersion"]
            .as_u64()
            .ok_or("state has no resourceVersion")?;
        s.compacted = s.rv;
        Ok(s)
    }
}
