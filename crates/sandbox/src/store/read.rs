//! The read side of the store: GET, LIST (label and field selectors, pagination with the
//! server's continue tokens) and what watches start from (history replay or a snapshot).

use std::sync::Arc;

use driftless_core::selector::LabelSelector;
use serde_json::{Value, json};

use super::objects::{api_version_of, parse};
use super::{ListOptions, Store, WatchEvent, key, meta_str};
use crate::meta;
use crate::registry::ResourceType;
use crate::status::ApiError;

/// `metadata.name=x,metadata.namespace!=y`: the field selectors every type supports.
fn field_selector_matches(sel: &str, obj: &Value) -> Result<bool, ApiError> {
    for term in sel.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (field, want, negate) = if let Some((f, v)) = term.split_once("!=") {
            (f, v, true)
        } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            (f, v, false)
        } else {
            return Err(ApiError::BadRequest(format!(
                "invalid field selector: {term}"
            )));
        };
        let have = match field.trim() {
            "metadata.name" => meta_str(obj, "name"),
            "metadata.namespace" => meta_str(obj, "namespace"),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "field label not supported: {other}"
                )));
            }
        };
        if (have == want.trim()) == negate {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Store {
    pub fn get(&self, t: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&key(t, ns, name))
            .map(|o| Self::served(t, o))
            .ok_or_else(|| ApiError::not_found(t, name))
    }

    pub fn list(
        &self,
        t: &ResourceType,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Result<Value, ApiError> {
        let labels = LabelSelector::parse(opts.label_selector.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let start = match &opts.continue_token {
            Some(tok) => Some(
                meta::continue_start(tok)
                    .ok_or_else(|| ApiError::BadRequest("continue key is not valid".into()))?,
            ),
            None => None,
        };
        let mut items = Vec::new();
        for ((_, _, ons, name), bytes) in self.objects.of_type(&t.group, &t.plural) {
            if ns.is_some_and(|n| t.namespaced && n != ons) {
                continue;
            }
            if start
                .as_ref()
                .is_some_and(|s| format!("{ons}/{name}").as_str() <= s.as_str())
            {
                continue;
            }
            let obj = parse(bytes);
            if !labels.matches(obj["metadata"]["labels"].as_object()) {
                continue;
            }
            if let Some(fs) = &opts.field_selector
                && !field_selector_matches(fs, &obj)?
            {
                continue;
            }
            items.push(obj);
        }
        let mut metadata = json!({"resourceVersion": self.rv.to_string()});
        if let Some(limit) = opts.limit.filter(|l| *l > 0 && items.len() > *l) {
            let last = &items[limit - 1];
            metadata["continue"] = json!(meta::continue_token(
                self.rv,
                &format!("{}/{}", meta_str(last, "namespace"), meta_str(last, "name"))
            ));
            metadata["remainingItemCount"] = json!(items.len() - limit);
            items.truncate(limit);
        }
        // List items carry no kind/apiVersion, as the real server writes them.
        let items: Vec<Value> = items
            .into_iter()
            .map(|mut o| {
                if let Some(m) = o.as_object_mut() {
                    m.remove("kind");
                    m.remove("apiVersion");
                }
                o
            })
            .collect();
        Ok(
            json!({"kind": format!("{}List", t.kind), "apiVersion": t.api_version(), "metadata": metadata, "items": items}),
        )
    }

    /// Events after `rv` for a watch, or `410 Gone` when they were compacted away.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<WatchEvent>>, ApiError> {
        if rv < self.compacted {
            return Err(ApiError::Expired(format!(
                "too old resource version: {rv} ({})",
                self.compacted
            )));
        }
        // History is in resourceVersion order.
        let from = self.history.partition_point(|e| e.rv <= rv);
        Ok(self.history.range(from..).cloned().collect())
    }

    /// Current objects of a type as ADDED events (a watch from resourceVersion 0 or unset).
    pub fn snapshot(&self, t: &ResourceType, ns: Option<&str>) -> Vec<Arc<WatchEvent>> {
        self.objects
            .of_type(&t.group, &t.plural)
            .filter(|((_, _, ons, _), _)| ns.is_none_or(|n| !t.namespaced || n == ons))
            .map(|((g, p, ons, name), o)| {
                Arc::new(WatchEvent {
                    rv: self.rv,
                    kind: "ADDED",
                    group: g.clone(),
                    plural: p.clone(),
                    namespace: ons.clone(),
                    name: name.clone(),
                    api_version: api_version_of(o),
                    object: o.clone(),
                })
            })
            .collect()
    }
}
