//! The `status` subresource: a write through it changes the status and nothing else (no new
//! generation), as a write of the main resource of a type with a status subresource changes
//! everything but the status (`Store::replace`).

use serde_json::{Value, json};

use super::{Key, Store, meta_str};
use crate::registry::ResourceType;
use crate::status::ApiError;

impl Store {
    /// PATCH `.../status`.
    pub fn patch_status(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        content_type: &str,
        body: &Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let (k, old, new) = self.patched(t, ns, name, content_type, body)?;
        self.store_status(t, k, old, &new, manager)
    }

    /// PUT `.../status`, with optimistic concurrency on `metadata.resourceVersion`.
    pub fn update_status(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        obj: &Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        Self::check_type(t, obj)?;
        let (k, old) = self.existing(t, ns, name)?;
        let sent_rv = meta_str(obj, "resourceVersion");
        if !sent_rv.is_empty() && sent_rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict(t, name));
        }
        self.store_status(t, k, old, obj, manager)
    }

    /// Stores `old` with the status of `new`.
    fn store_status(
        &mut self,
        t: &ResourceType,
        k: Key,
        old: Value,
        new: &Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let mut out = old.clone();
        match new.get("status") {
            Some(s) => out["status"] = s.clone(),
            None => {
                if let Some(m) = out.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        Self::check_types(t, &out)?;
        if out == old {
            return Ok(old);
        }
        if !manager.is_empty() {
            let def = crate::apply::definition(&out, t.crd.is_some());
            let before = json!({"status": old["status"], "metadata": {"annotations": old["metadata"]["annotations"]}});
            crate::apply::record_status_update(&mut out, &before, manager, def, &[]);
        }
        let rv = self.bump();
        out["metadata"]["resourceVersion"] = json!(rv.to_string());
        let out = Self::served(t, out);
        self.put("MODIFIED", t, k, &out);
        Ok(out)
    }
}
