//! Admission: what every write goes through before it is stored — the path namespace against
//! the object and the namespace's state, apiVersion/kind, scalar types, the kind's semantic
//! checks, and the server's defaults.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::{Store, meta_str};
use crate::apply;
use crate::registry::ResourceType;
use crate::status::ApiError;
use crate::validate;

impl Store {
    /// Checks the path namespace against the object and the namespace's state.
    pub(super) fn admit_namespace(
        &self,
        t: &ResourceType,
        ns: &str,
        obj: &mut Value,
        name: &str,
    ) -> Result<(), ApiError> {
        if !t.namespaced {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            return Ok(());
        }
        match obj["metadata"]["namespace"].as_str() {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(ApiError::BadRequest("the namespace of the provided object does not match the namespace sent on the request".into()));
            }
            _ => obj["metadata"]["namespace"] = json!(ns),
        }
        match self.namespace_state(ns) {
            None => Err(ApiError::namespace_not_found(ns)),
            Some(n) if n["status"]["phase"] == "Terminating" => {
                Err(ApiError::NamespaceTerminating {
                    namespace: ns.into(),
                    qualified: t.qualified(),
                    group: t.group.clone(),
                    plural: t.plural.clone(),
                    name: name.into(),
                })
            }
            Some(_) => Ok(()),
        }
    }

    pub(super) fn check_type(t: &ResourceType, obj: &Value) -> Result<(), ApiError> {
        let av = obj["apiVersion"].as_str().unwrap_or_default();
        if av != t.api_version() {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                t.api_version()
            )));
        }
        let kind = obj["kind"].as_str().unwrap_or_default();
        if kind != t.kind {
            return Err(ApiError::BadRequest(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                t.kind
            )));
        }
        Ok(())
    }

    /// A body whose scalars contradict the schema cannot be decoded (400, like the server's
    /// "cannot be handled as a ..." answer).
    pub(super) fn check_types(t: &ResourceType, obj: &Value) -> Result<(), ApiError> {
        let error = validate::type_error(obj, apply::definition(obj, t.crd.is_some()))
            .or_else(|| secret_data_error(t, obj));
        match error {
            Some(e) => Err(ApiError::BadRequest(format!(
                "{} in version \"{}\" cannot be handled as a {}: {e}",
                t.kind, t.version, t.kind
            ))),
            None => Ok(()),
        }
    }

    /// The semantic checks of the kind (422 with causes).
    pub(super) fn check_valid(t: &ResourceType, obj: &Value) -> Result<(), ApiError> {
        let causes = validate::causes(&t.group, &t.kind, obj);
        if causes.is_empty() {
            return Ok(());
        }
        Err(ApiError::Invalid {
            kind: t.kind.clone(),
            group: t.group.clone(),
            name: meta_str(obj, "name").to_string(),
            causes,
        })
    }

    /// The server's defaults for `t`: built-in kinds by kind, custom resources from their CRD's
    /// schema `default`s.
    pub(super) fn default(&self, t: &ResourceType, obj: &mut Value, uid: &str) {
        match &t.crd {
            None => crate::defaults::apply(&t.group, &t.kind, obj, uid),
            Some(crd) => {
                let crd_key = (
                    "apiextensions.k8s.io".to_string(),
                    "customresourcedefinitions".to_string(),
                    String::new(),
                    crd.clone(),
                );
                let schema = self.objects.get(&crd_key).and_then(|c| {
                    c["spec"]["versions"]
                        .as_array()?
                        .iter()
                        .find(|v| v["name"] == t.version.as_str())
                        .map(|v| v["schema"]["openAPIV3Schema"].clone())
                });
                if let Some(schema) = schema {
                    crate::defaults::schema_defaults(&schema, obj);
                }
            }
        }
    }

    pub(super) fn admit_namespace_for_update(
        &self,
        t: &ResourceType,
        ns: &str,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        if t.namespaced {
            obj["metadata"]["namespace"] = json!(ns);
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        Ok(())
    }
}

/// A Secret's `data` values are bytes, written in base64: the server's decoder refuses any
/// other string before validation runs, with Go's message (`illegal base64 data at input
/// byte N`, counted in the first bad value).
pub(super) fn secret_data_error(t: &ResourceType, obj: &Value) -> Option<String> {
    if (t.group.as_str(), t.kind.as_str()) != ("", "Secret") {
        return None;
    }
    obj["data"].as_object()?.values().find_map(|v| {
        let offset = crate::gobase64::error_offset(v.as_str()?)?;
        Some(format!("illegal base64 data at input byte {offset}"))
    })
}

/// Defaults the server applies on create, as recorded (Namespace, Secret `stringData`).
pub(super) fn defaults_on_create(t: &ResourceType, obj: &mut Value) {
    match (t.group.as_str(), t.kind.as_str()) {
        ("", "Namespace") => {
            let name = meta_str(obj, "name").to_string();
            if !obj["metadata"]["labels"].is_object() {
                obj["metadata"]["labels"] = json!({});
            }
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            if !obj["spec"].is_object() {
                obj["spec"] = json!({});
            }
            obj["spec"]["finalizers"] = json!(["kubernetes"]);
            obj["status"] = json!({"phase": "Active"});
        }
        ("", "Secret") => convert_on_write(t, obj),
        _ => {}
    }
}

/// What the API server's conversion does on every write, create or update, dry-run or not:
/// a Secret's `stringData` is folded into base64 `data` and never stored.
pub(super) fn convert_on_write(t: &ResourceType, obj: &mut Value) {
    if (t.group.as_str(), t.kind.as_str()) != ("", "Secret") {
        return;
    }
    if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
        let data = obj
            .as_object_mut()
            .expect("object")
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()));
        for (k, v) in sd {
            data[k] = json!(
                base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or_default())
            );
        }
    }
    if obj.get("type").is_none() {
        obj["type"] = json!("Opaque");
    }
}
