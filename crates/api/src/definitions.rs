//! What creating and deleting the engine's definitions (repositories, clusters, pipelines)
//! over the API have in common.

use axum::Json;
use serde_json::{Value, json};

use crate::ApiError;

/// The definitions of a POST body (YAML or JSON), which must be exactly one of the kind
/// `count` counts; refused documents and anything else are a 400 naming what was found.
pub(crate) fn one_definition(
    body: &str,
    kind: &str,
    count: impl Fn(&driftless_core::definitions::Definitions) -> usize,
) -> Result<driftless_core::definitions::Definitions, ApiError> {
    let mut defs = driftless_core::definitions::Definitions::default();
    defs.add_file(body, "request body");
    if let Some(e) = defs.errors.first() {
        return Err(ApiError::BadRequest(e.clone()));
    }
    let total = defs.apps.len()
        + defs.projects.len()
        + defs.repositories.len()
        + defs.clusters.len()
        + defs.pipelines.len()
        + defs.users.len();
    if count(&defs) != 1 || total != 1 {
        return Err(ApiError::BadRequest(format!(
            "expected one {kind} and nothing else, found {} applications, {} projects, {} repositories, {} clusters, {} pipelines, {} users",
            defs.apps.len(),
            defs.projects.len(),
            defs.repositories.len(),
            defs.clusters.len(),
            defs.pipelines.len(),
            defs.users.len()
        )));
    }
    Ok(defs)
}

/// The answer to deleting a definition: deleted, not found (404), or the engine's error.
pub(crate) fn deleted(
    kind: &str,
    name: &str,
    removed: Result<bool, driftless_engine::EngineError>,
) -> Result<Json<Value>, ApiError> {
    match removed {
        Ok(true) => Ok(Json(json!({kind: name, "deleted": true}))),
        Ok(false) => Err(ApiError::NotFound(format!("{kind} {name}"))),
        Err(e) => Err(e.into()),
    }
}
