//! The cli crate's integration tests, one test binary (one link, one copy on disk) for all of them.

mod health_checks;
mod install;
mod install_crds;
mod install_pod;
mod notifications;
mod notifications_flows;
mod notifications_ui;
mod promote;
mod render;
mod sandbox;
mod scripts;
mod shards;
mod sync_cli;
mod ui;
mod up;
mod validate;

/// An application as the API answers it, typed (`driftless_api::types::AppView`): tests read
/// its status through the same type the CLI does, never by indexing JSON.
pub fn app_view(answer: &serde_json::Value) -> driftless_api::types::AppView {
    serde_json::from_value(answer.clone())
        .unwrap_or_else(|e| panic!("not an application record ({e}): {answer}"))
}

/// Synced and Healthy, as the API answered it.
pub fn synced_and_healthy(answer: &serde_json::Value) -> bool {
    app_view(answer).status.synced_and_healthy()
}
