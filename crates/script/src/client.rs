//! The engine as a script sees it: one method per API call the `gitops` module makes, with
//! the API's own JSON request and response bodies. `driftless run` implements it over HTTP
//! with the caller's token; tests implement it in memory. Everything the module decides
//! (names, specs, waiting, result shapes) sits above this trait, so it is tested without a
//! server.

use std::time::Duration;

use serde_json::Value;

/// What went wrong talking to the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The engine answered 404 for the object named.
    #[error("{0} not found")]
    NotFound(String),
    /// The engine refused or failed the request (its message).
    #[error("{0}")]
    Refused(String),
    /// The engine could not be reached.
    #[error("{0}")]
    Unreachable(String),
}

pub type ClientResult<T> = Result<T, ClientError>;

/// The engine's API (`/api/v1`), as the calling user.
pub trait EngineClient {
    /// `POST /applications`: creates or replaces an Application (its JSON document).
    fn put_application(&self, doc: &Value) -> ClientResult<Value>;
    /// `GET /applications/{name}`: spec and status; `None` when it does not exist.
    fn application(&self, name: &str) -> ClientResult<Option<Value>>;
    /// `GET /applications?summary=true`: one summary row per application.
    fn applications(&self) -> ClientResult<Vec<Value>>;
    /// `PATCH /applications/{name}`: a JSON merge patch of its spec.
    fn patch_application(&self, name: &str, patch: &Value) -> ClientResult<Value>;
    /// `POST /repositories`: creates or replaces a Repository definition (its JSON document).
    fn put_repository(&self, doc: &Value) -> ClientResult<Value>;
    /// `GET /repositories`: the definitions, secrets masked.
    fn repositories(&self) -> ClientResult<Vec<Value>>;
    /// `POST /applications/{name}/sync`: queues a sync.
    fn sync(&self, name: &str, prune: bool) -> ClientResult<Value>;
    /// `GET /applications/{name}/diff`: the comparison a sync would act on.
    fn diff(&self, name: &str) -> ClientResult<Value>;
    /// `POST /applications/{name}/rollback`: back to history entry `id` (None: the previous
    /// deployment), with the reason recorded in the audit log.
    fn rollback(&self, name: &str, id: Option<i64>, reason: &str) -> ClientResult<Value>;
    /// `GET /applications/{name}/operations`: newest first.
    fn operations(&self, name: &str) -> ClientResult<Vec<Value>>;
    /// `GET /applications/{name}/history`: deployed revisions, newest first.
    fn history(&self, name: &str) -> ClientResult<Vec<Value>>;
    /// `GET /applications/{name}/events?after=ID`.
    fn events(&self, name: &str, after: i64) -> ClientResult<Vec<Value>>;
    /// `POST /pipelines/{name}/promote` `{"from", "to"}`.
    fn promote(&self, pipeline: &str, from: Option<&str>, to: &str) -> ClientResult<Value>;
    /// `GET /promotions/{id}`.
    fn promotion(&self, id: i64) -> ClientResult<Value>;
    /// `POST /promotions/{id}/approve` `{"comment"}`.
    fn approve(&self, id: i64, comment: &str) -> ClientResult<Value>;
    /// `GET /pipelines/{name}`: what each stage runs.
    fn pipeline(&self, name: &str) -> ClientResult<Value>;
    /// Waits between two polls of a long operation (a test's client returns at once).
    fn pause(&self, d: Duration) {
        std::thread::sleep(d);
    }
}
