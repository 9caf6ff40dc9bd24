//! Drift recording: one `DriftDetected` event per distinct drift (a fingerprint of the
//! drifted objects and their diffs), with its impact grade as the severity, whatever the
//! policy then does about it (heal, alert, or nothing while self-heal is paused).

use crate::error::EngineResult;
use serde_json::json;
use sha2::{Digest, Sha256};

use driftless_diff::{Comparison, SyncStatus};

use super::Controller;
use super::reconcile::short;

impl Controller {
    /// Records `cmp`'s drift from `revision` unless this very drift was recorded last;
    /// `heal_paused`: why self-heal is paused, said in the message.
    pub(super) async fn record_drift(
        &self,
        name: &str,
        cmp: &Comparison,
        revision: &str,
        heal_paused: Option<&str>,
    ) -> EngineResult<()> {
        let drifted: Vec<&driftless_diff::ResourceDiff> = cmp
            .resources
            .iter()
            .filter(|r| r.status != SyncStatus::Synced)
            .collect();
        let mut h = Sha256::new();
        for r in &drifted {
            h.update(r.key.to_string());
            h.update(&r.diff);
        }
        let fingerprint = hex::encode(h.finalize());
        let new = self
            .update(name, |s| {
                let new = s.last_drift.as_deref() != Some(fingerprint.as_str());
                s.last_drift = Some(fingerprint.clone());
                new
            })
            .await;
        if !new {
            return Ok(());
        }
        let grade = cmp.summary.max_impact;
        let changed: usize = drifted.iter().map(|r| r.changes.len().max(1)).sum();
        let mut message = format!(
            "live state drifted from revision {}: {} resource(s), {changed} change(s), impact {grade}",
            short(revision),
            drifted.len()
        );
        if let Some(why) = heal_paused {
            message.push_str(&format!("; self-heal is paused ({why})"));
        }
        let data = json!({
            "revision": revision,
            "impact": grade,
            "resources": drifted.iter().map(|r| json!({"key": r.key.to_string(), "status": r.status, "changes": r.changes, "impact": r.impact, "diff": r.diff})).collect::<Vec<_>>(),
        });
        self.event(
            name,
            crate::EventKind::DriftDetected,
            crate::Severity::Drift(grade),
            &message,
            &data,
        )
        .await?;
        self.metrics.drifted(name, &grade.to_string());
        Ok(())
    }
}
