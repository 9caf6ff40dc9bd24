//! The `status` written back to the engine's custom resources: for an Application, Argo CD's
//! shape (`sync`, `health`, `operationState`, `conditions`) built from the status the
//! controller stores; for a Project or Pipeline, a `Ready` condition. Written when it
//! changed only (the reconcile time is left out on purpose: a resync writes nothing).

use serde_json::{Value, json};

use driftless_store::Operation;

use super::{Controller, Noun, Resource, lock};

/// What is needed to write an application's resource status again on a change.
#[derive(Debug, Clone)]
pub(super) struct Written {
    resource: Resource,
    generation: Option<i64>,
    warnings: Vec<String>,
    last: Option<Value>,
}

/// An Application resource's status from the controller's stored status and last operation.
pub(super) fn application_status(
    stored: &crate::AppStatus,
    op: Option<&Operation>,
    generation: Option<i64>,
    warnings: &[String],
    error: Option<&str>,
) -> Value {
    let text = |v: &Value| v.as_str().map(String::from);
    let mut conditions = Vec::new();
    if let Some(e) = error {
        conditions.push(json!({"type": "InvalidSpecError", "status": "True", "message": e}));
    }
    if let Some(e) = stored.error.as_deref() {
        conditions.push(json!({"type": "ComparisonError", "status": "True", "message": e}));
    }
    for w in warnings {
        conditions.push(json!({"type": "SpecWarning", "status": "True", "message": w}));
    }
    let operation = op.map(|o| {
        json!({
            "phase": o.phase,
            "operation": {"id": o.id, "kind": o.kind},
            "revision": o.revision,
            "message": o.result.as_ref().and_then(|r| text(&r["message"])),
            "startedAt": super::super::format_ms(o.started_ms),
            "finishedAt": o.finished_ms.map(super::super::format_ms),
        })
    });
    json!({
        "sync": {
            "status": stored.sync.status,
            "revision": stored.sync.revision,
        },
        "health": {
            "status": stored.health_status().map_or("Unknown", |h| h.as_str()),
            "message": stored.health.as_ref().map(|h| h.message.as_str()).filter(|m| !m.is_empty()),
        },
        "operationState": operation,
        "conditions": conditions,
        "lastSyncedAt": stored.last_sync_at_ms.map(super::super::format_ms),
        "observedGeneration": generation,
    })
}

/// A Project or Pipeline resource's status: `Ready` with the reason when it is not.
fn ready_status(generation: Option<i64>, warnings: &[String], error: Option<&str>) -> Value {
    let mut conditions = vec![match error {
        None => json!({"type": "Ready", "status": "True", "message": "defined"}),
        Some(e) => {
            json!({"type": "Ready", "status": "False", "reason": "InvalidSpecError", "message": e})
        }
    }];
    for w in warnings {
        conditions.push(json!({"type": "SpecWarning", "status": "True", "message": w}));
    }
    json!({"conditions": conditions, "observedGeneration": generation})
}

impl Controller {
    /// Writes `r`'s status now (after a definition was taken or refused). An application
    /// defined by `r` is written again whenever its status changes ([`Self::write_statuses`]).
    pub(super) async fn write_status(
        &self,
        r: &Resource,
        name: &str,
        generation: Option<i64>,
        warnings: &[String],
        error: Option<&str>,
    ) {
        let owns = self.custom_resources.owner(r.noun, name) == Some(r.label());
        if r.noun != Noun::Application {
            self.patch(r, &ready_status(generation, warnings, error))
                .await;
            return;
        }
        if owns && error.is_none() {
            lock(&self.custom_resources.written).insert(
                name.to_string(),
                Written {
                    resource: r.clone(),
                    generation,
                    warnings: warnings.to_vec(),
                    last: None,
                },
            );
            self.refresh_status(name).await;
            return;
        }
        // Refused: the status says why (nothing else is written for a resource that defines
        // nothing).
        let status = application_status(
            &crate::AppStatus::default(),
            None,
            generation,
            warnings,
            error,
        );
        self.patch(r, &status).await;
    }

    /// Writes an application's resource status if it changed.
    async fn refresh_status(&self, name: &str) {
        let Some(w) = lock(&self.custom_resources.written).get(name).cloned() else {
            return;
        };
        let stored = self.stored_status(name).await.unwrap_or_default();
        let op = self
            .store
            .list_operations(name, 1)
            .await
            .ok()
            .and_then(|mut ops| ops.pop());
        let status = application_status(&stored, op.as_ref(), w.generation, &w.warnings, None);
        if w.last.as_ref() == Some(&status) {
            return;
        }
        if self.patch(&w.resource, &status).await
            && let Some(entry) = lock(&self.custom_resources.written).get_mut(name)
        {
            entry.last = Some(status);
        }
    }

    async fn patch(&self, r: &Resource, status: &Value) -> bool {
        match self
            .cluster
            .patch_status(&r.ty, &r.namespace, &r.name, status)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(resource = %r.label(), "writing the status: {e}");
                false
            }
        }
    }

    /// Follows the controller's published updates and writes the status of every application
    /// a resource defines when it changes (all of them after missed updates).
    pub(super) async fn write_statuses(&self) {
        let mut updates = self.subscribe_updates();
        loop {
            let names: Vec<String> = match updates.recv().await {
                Ok(u) => u.application().map(String::from).into_iter().collect(),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    lock(&self.custom_resources.written)
                        .keys()
                        .cloned()
                        .collect()
                }
                Err(_) => return,
            };
            for name in names {
                let known = lock(&self.custom_resources.written).contains_key(&name);
                if known {
                    self.refresh_status(&name).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_status_carries_sync_health_revision_and_conditions() {
        let stored = json!({
            "sync": {"status": "OutOfSync", "revision": "abc123", "head": "abc123"},
            "health": {"status": "Progressing", "message": "1 of 3 replicas"},
            "error": "render failed: kustomization.yaml: bad",
            "reconciledAtMs": 1,
            "lastSyncAtMs": 0,
        });
        let stored: crate::AppStatus = serde_json::from_value(stored).unwrap();
        let s = application_status(
            &stored,
            None,
            Some(4),
            &["unknown field spec.x".into()],
            None,
        );
        assert_eq!(
            s["sync"],
            json!({"status": "OutOfSync", "revision": "abc123"})
        );
        assert_eq!(s["health"]["status"], "Progressing");
        assert_eq!(s["health"]["message"], "1 of 3 replicas");
        assert_eq!(s["observedGeneration"], 4);
        assert_eq!(s["conditions"][0]["type"], "ComparisonError");
        assert_eq!(s["conditions"][1]["type"], "SpecWarning");
        assert_eq!(s["lastSyncedAt"], "1970-01-01T00:00:00Z");
        assert!(
            s.get("reconciledAtMs").is_none(),
            "a resync alone writes nothing"
        );
    }

    #[test]
    fn refused_definition_reads_unknown_with_the_reason() {
        let s = application_status(
            &crate::AppStatus::default(),
            None,
            None,
            &[],
            Some("defined twice"),
        );
        assert_eq!(s["sync"]["status"], "Unknown");
        assert_eq!(s["health"]["status"], "Unknown");
        assert_eq!(
            s["conditions"],
            json!([{"type": "InvalidSpecError", "status": "True", "message": "defined twice"}])
        );
        let r = ready_status(Some(1), &[], Some("bad"));
        assert_eq!(r["conditions"][0]["status"], "False");
    }
}
