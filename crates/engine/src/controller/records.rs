//! What the store remembers, read through the controller: application records, deployment
//! history, operations, events and the audit log. The API holds the controller, never the
//! store; these are its read handles (store failures become [`EngineError`]s that say what
//! was being read).

use driftless_store::{AppRecord, AuditEntry, AuditQuery, Event, HistoryEntry, Operation};

use super::Controller;
use crate::error::{EngineError, EngineResult};

impl Controller {
    /// One application's stored record (definition and status), `None` when unknown.
    pub async fn app_record(&self, name: &str) -> EngineResult<Option<AppRecord>> {
        self.store
            .get_app(name)
            .await
            .map_err(EngineError::store(format!("reading application {name}")))
    }

    /// A page of application records after `after` (keyset pagination by name).
    pub async fn app_records(&self, after: &str, limit: i64) -> EngineResult<Vec<AppRecord>> {
        self.store
            .list_apps(after, limit)
            .await
            .map_err(EngineError::store("listing applications"))
    }

    /// An application's deployments, newest first.
    pub async fn deployments(&self, name: &str) -> EngineResult<Vec<HistoryEntry>> {
        self.store
            .list_history(name)
            .await
            .map_err(EngineError::store(format!("reading the history of {name}")))
    }

    /// An application's latest operations, newest first.
    pub async fn operations(&self, name: &str, limit: i64) -> EngineResult<Vec<Operation>> {
        self.store
            .list_operations(name, limit)
            .await
            .map_err(EngineError::store(format!(
                "listing the operations of {name}"
            )))
    }

    /// One operation with the steps recorded so far.
    pub async fn operation(&self, id: i64) -> EngineResult<Option<Operation>> {
        self.store
            .get_operation(id)
            .await
            .map_err(EngineError::store(format!("reading operation {id}")))
    }

    /// An application's events after id `after`, oldest first.
    pub async fn events(&self, name: &str, after: i64, limit: i64) -> EngineResult<Vec<Event>> {
        self.store
            .list_events(name, after, limit)
            .await
            .map_err(EngineError::store(format!("listing the events of {name}")))
    }

    pub async fn audit_entries(&self, q: &AuditQuery) -> EngineResult<Vec<AuditEntry>> {
        self.store
            .list_audit(q)
            .await
            .map_err(EngineError::store("reading the audit log"))
    }

    /// Checks the audit log's hash chain.
    pub async fn verify_audit(&self) -> EngineResult<AuditCheck> {
        match self.store.verify_audit().await {
            Ok(entries) => Ok(AuditCheck::Intact { entries }),
            Err(e @ driftless_store::StoreError::Tampered { .. }) => Ok(AuditCheck::Tampered {
                message: e.to_string(),
            }),
            Err(e) => Err(EngineError::store("verifying the audit log")(e)),
        }
    }
}

/// What a check of the audit log's hash chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditCheck {
    Intact {
        entries: i64,
    },
    /// An entry was changed or removed; the message names the first one that does not chain.
    Tampered {
        message: String,
    },
}
