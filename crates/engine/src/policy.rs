//! An Application's policy as the executor's inputs: comparison options (ignoreDifferences,
//! tracking label), sync options, retry and automated prune/allowEmpty. One mapping, used by
//! the CLI and the controller alike; every error names the application and the field.

use crate::error::{EngineError, EngineResult};
use std::time::Duration;

use driftless_core::DesiredSet;
use driftless_core::app::{self, Application};
use driftless_diff::{CompareOptions, IgnoreRule};
use driftless_plan::{PlanOptions, SyncOptions};

use crate::{RetryPolicy, SyncRequest};

/// What the controller does about drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftAction {
    /// Revert it (self-heal) after the grace period.
    Heal,
    /// Record it and leave the cluster as it is.
    Alert,
    /// Leave it alone entirely.
    Ignore,
}

/// The parsed, checked policy of one application.
#[derive(Debug, Clone)]
pub struct AppPolicy {
    pub compare: CompareOptions,
    pub sync_options: SyncOptions,
    pub retry: RetryPolicy,
    pub drift: DriftAction,
    /// Drift at or below this impact grade is left alone.
    pub drift_tolerance: driftless_diff::Grade,
}

impl AppPolicy {
    pub fn of(app: &Application, instance_label: bool) -> EngineResult<AppPolicy> {
        let ignore = app
            .ignore_differences
            .iter()
            .map(|v| {
                let rule: IgnoreRule = serde_json::from_value(v.clone())
                    .map_err(|e| {
                        format!("application {}: ignoreDifferences entry {v}: {e}", app.name)
                    })
                    .map_err(EngineError::invalid)?;
                rule.validate()
                    .map_err(|e| EngineError::invalid(format!("application {}: {e}", app.name)))?;
                Ok(rule)
            })
            .collect::<EngineResult<Vec<_>>>()?;
        let sync_options = SyncOptions::parse(
            app.sync_policy.sync_options.iter().map(String::as_str),
        )
        .map_err(|e| {
            EngineError::invalid(format!(
                "application {}: syncPolicy.syncOptions: {e}",
                app.name
            ))
        })?;
        let mut retry = RetryPolicy::default();
        if let Some(r) = &app.sync_policy.retry {
            retry.limit = r.limit.max(0) as u32;
            if let Some(b) = &r.backoff {
                retry.backoff = app::parse_duration(&b.duration).unwrap_or(retry.backoff);
                retry.factor = b.factor.unwrap_or(2).max(1) as u32;
                retry.max_backoff =
                    app::parse_duration(&b.max_duration).unwrap_or(retry.max_backoff);
            }
        }
        let self_heal = app
            .sync_policy
            .automated
            .as_ref()
            .is_some_and(|a| a.self_heal);
        let policy = app.drift.clone().unwrap_or_default();
        let drift = match policy.action.as_str() {
            "" if self_heal => DriftAction::Heal,
            "" => DriftAction::Alert,
            "heal" => DriftAction::Heal,
            "alert" => DriftAction::Alert,
            "ignore" => DriftAction::Ignore,
            other => {
                return Err(EngineError::invalid(format!(
                    "application {}: drift.action `{other}` is not heal, alert or ignore",
                    app.name
                )));
            }
        };
        let drift_tolerance = match policy.tolerance.as_str() {
            "" | "none" => driftless_diff::Grade::None,
            "low" => driftless_diff::Grade::Low,
            "medium" => driftless_diff::Grade::Medium,
            "high" => driftless_diff::Grade::High,
            other => {
                return Err(EngineError::invalid(format!(
                    "application {}: drift.tolerance `{other}` is not none, low, medium or high",
                    app.name
                )));
            }
        };
        Ok(AppPolicy {
            compare: CompareOptions {
                app: app.name.clone(),
                ignore,
                instance_label,
            },
            sync_options,
            retry,
            drift,
            drift_tolerance,
        })
    }

    /// A sync request for `rendered` (flags of a manual sync are set on the result).
    pub fn request(
        &self,
        app: &Application,
        rendered: DesiredSet,
        server_side: bool,
    ) -> SyncRequest {
        let automated = app.sync_policy.automated.clone().unwrap_or_default();
        let ns = Some(app.destination.namespace.clone()).filter(|n| !n.is_empty());
        SyncRequest {
            rendered,
            destination_namespace: ns.clone(),
            plan: PlanOptions {
                app: app.name.clone(),
                prune: automated.prune,
                allow_empty: automated.allow_empty,
                sync_options: self.sync_options.clone(),
                destination_namespace: ns,
                ..Default::default()
            },
            compare: self.compare.clone(),
            dry_run: false,
            force_conflicts: true,
            server_side_diff: server_side,
            health_timeout: Duration::from_secs(300),
            retry: self.retry.clone(),
            extra_kinds: Vec::new(),
        }
    }
}
