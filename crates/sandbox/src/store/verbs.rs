//! The write verbs beyond create and update: PATCH (merge, JSON, strategic), server-side
//! apply, DELETE (finalizers, propagation, namespaces).

use serde_json::{Value, json};

use super::{ApplyOptions, Key, Ownership, Store, admission, key, meta_str};
use crate::apply;
use crate::meta;
use crate::registry::ResourceType;
use crate::status::ApiError;
use crate::validate;

impl Store {
    /// PATCH with a JSON merge patch or a JSON patch.
    pub fn patch(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        content_type: &str,
        body: &Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let (k, old, new) = self.patched(t, ns, name, content_type, body)?;
        let managed = self.updated_fields(t, &old, &new, manager);
        self.replace(t, k, &old, new, managed)
    }

    /// The object at `name` with a (non-apply) patch applied, not stored: key, old, new.
    pub(super) fn patched(
        &self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        content_type: &str,
        body: &Value,
    ) -> Result<(Key, Value, Value), ApiError> {
        let (k, old) = self.existing(t, ns, name)?;
        let mut new = old.clone();
        match content_type {
            "application/merge-patch+json" => json_patch::merge(&mut new, body),
            "application/strategic-merge-patch+json" => {
                // As on a real server: only built-in types have the schema strategic merge needs.
                let def = t
                    .crd
                    .is_none()
                    .then(|| driftless_core::strategic::definition_of(&old))
                    .flatten();
                if def.is_none() {
                    return Err(ApiError::UnsupportedMediaType(format!(
                        "strategic merge patch is not supported for {}; use a merge patch",
                        t.qualified()
                    )));
                }
                if driftless_core::strategic::apply(&mut new, body, def)
                    .map_err(|e| ApiError::BadRequest(format!("{}: {}", e.field, e.message)))?
                    == driftless_core::strategic::Outcome::Delete
                {
                    return Err(ApiError::BadRequest(
                        "$patch: delete is not allowed on a whole object".into(),
                    ));
                }
            }
            "application/json-patch+json" => {
                let p: json_patch::Patch = serde_json::from_value(body.clone())
                    .map_err(|e| ApiError::BadRequest(format!("invalid JSON patch: {e}")))?;
                json_patch::patch(&mut new, &p).map_err(|e| {
                    ApiError::BadRequest(format!(
                        "the server rejected our request due to an error in our request: {e}"
                    ))
                })?;
            }
            other => {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other})"
                )));
            }
        }
        let sent_rv = meta_str(&new, "resourceVersion");
        if !sent_rv.is_empty() && sent_rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict(t, name));
        }
        if meta_str(&new, "name") != name {
            return Err(ApiError::BadRequest(
                "metadata.name cannot be changed by a patch".into(),
            ));
        }
        Ok((k, old, new))
    }

    /// PATCH `application/apply-patch+yaml`: server-side apply as `manager`. Creates the
    /// object when absent (201), else merges (200); conflicts are a 409 unless `force`.
    pub fn apply(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        applied: Value,
        opts: &ApplyOptions,
    ) -> Result<(u16, Value), ApiError> {
        let (manager, force, dry_run) = (opts.manager.as_str(), opts.force, opts.dry_run);
        Self::check_type(t, &applied)?;
        if manager.is_empty() {
            return Err(ApiError::BadRequest(
                "PATCH, application/apply-patch+yaml requires fieldManager to be set".into(),
            ));
        }
        let applied_name = meta_str(&applied, "name");
        if applied_name != name {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({applied_name}) does not match the name on the URL ({name})"
            )));
        }
        let def = apply::definition(&applied, t.crd.is_some());
        // The server names the object as `namespace/name; group/version, Kind=K`.
        let who = format!(
            "{}/{name}; {}/{}, Kind={}",
            if t.namespaced { ns } else { "" },
            t.group,
            t.version,
            t.kind
        );
        if let Some(e) = validate::type_error(&applied, def) {
            return Err(ApiError::Internal(format!(
                "failed to create typed patch object ({who}): {e}"
            )));
        }
        // Bytes fields are plain strings to the typed patch; only the conversion of the
        // merged object back to a Secret decodes them (structuredmerge.go).
        if let Some(e) = admission::secret_data_error(t, &applied) {
            return Err(ApiError::Internal(format!(
                "failed to convert new object ({who}) to proper version: error decoding from json: {e}"
            )));
        }
        let k = key(t, ns, name);
        let live = self.objects.get(&k);
        let mut defaulted = applied.clone();
        let uid = live
            .as_ref()
            .map(|l| meta_str(l, "uid").to_string())
            .unwrap_or_else(meta::uid);
        self.default(t, &mut defaulted, &uid);
        let outcome = apply::apply(live.as_ref(), &applied, &defaulted, manager, force, def)
            .map_err(|conflicts| ApiError::ApplyConflict {
                message: apply::conflict_message(&conflicts),
                causes: conflicts
                    .iter()
                    .map(|c| {
                        (
                            format!("conflict with \"{}\" using {}", c.manager, c.api_version),
                            c.path.clone(),
                        )
                    })
                    .collect(),
            })?;
        let object = outcome.object;
        match live {
            None => {
                let created = self.create_with_uid(
                    t,
                    ns,
                    object,
                    dry_run,
                    Ownership::Applied(&outcome.managed),
                    uid,
                )?;
                Ok((201, created))
            }
            Some(old) => self
                .replace_or_try(t, k, &old, object, Some(outcome.managed), dry_run)
                .map(|v| (200, v)),
        }
    }

    /// DELETE. Objects with finalizers (or a foreground deletion) only get a deletion
    /// timestamp; namespaces become Terminating and are emptied by [`Store::reconcile`].
    pub fn delete(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        propagation: Option<&str>,
    ) -> Result<Value, ApiError> {
        let (k, mut obj) = self.existing(t, ns, name)?;
        let is_namespace = t.group.is_empty() && t.kind == "Namespace";
        let mut finalizers: Vec<String> = obj["metadata"]["finalizers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(String::from))
            .collect();
        if propagation == Some("Foreground")
            && !finalizers.iter().any(|f| f == "foregroundDeletion")
        {
            finalizers.push("foregroundDeletion".into());
        }
        if propagation == Some("Orphan") {
            self.orphan_dependents(meta_str(&obj, "uid"));
        }
        if finalizers.is_empty() && !is_namespace {
            self.objects.remove(&k);
            let rv = self.bump();
            obj["metadata"]["resourceVersion"] = json!(rv.to_string());
            self.record_deleted(&t.group, &t.plural, &obj);
            if t.kind == "CustomResourceDefinition" {
                self.drop_crd(name);
            }
            return Ok(obj);
        }
        if obj["metadata"].get("deletionTimestamp").is_none() {
            obj["metadata"]["deletionTimestamp"] = json!(meta::now());
            if !is_namespace {
                obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                obj["metadata"]["finalizers"] = json!(finalizers);
                // A graceful deletion is a change of intent: the server bumps generation
                // (transcript 22).
                if let Some(g) = obj["metadata"]["generation"].as_i64() {
                    obj["metadata"]["generation"] = json!(g + 1);
                }
            } else {
                obj["status"]["phase"] = json!("Terminating");
            }
            let rv = self.bump();
            obj["metadata"]["resourceVersion"] = json!(rv.to_string());
            self.put("MODIFIED", t, k, &obj);
        }
        Ok(obj)
    }
}
