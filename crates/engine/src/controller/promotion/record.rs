//! A promotion's record, which is also its report: phase, the values that move, gate
//! results, approvals and the commits it pushed.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use driftless_core::pipeline::Freight;

use super::now_ms;

/// Where a promotion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Soak, time window or verification not passed yet.
    WaitingGates,
    /// Everything else passed; approvals missing.
    WaitingApproval,
    /// Writing and pushing the commit.
    Promoting,
    /// Pushed to a pull-request branch: waiting for a human to merge it.
    WaitingMerge,
    /// Committed: waiting for the target applications to be Synced and Healthy with it.
    Verifying,
    Succeeded,
    Failed,
    Rejected,
    /// The approval timeout passed: nothing was promoted.
    Expired,
    /// Newer values arrived from the source stage before this one was promoted.
    Superseded,
}

impl Phase {
    pub const FINAL: [&'static str; 5] =
        ["Succeeded", "Failed", "Rejected", "Expired", "Superseded"];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::WaitingGates => "WaitingGates",
            Phase::WaitingApproval => "WaitingApproval",
            Phase::Promoting => "Promoting",
            Phase::WaitingMerge => "WaitingMerge",
            Phase::Verifying => "Verifying",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::Rejected => "Rejected",
            Phase::Expired => "Expired",
            Phase::Superseded => "Superseded",
        }
    }

    pub fn is_final(self) -> bool {
        Self::FINAL.contains(&self.as_str())
    }

    /// Still waiting for its gates: may be superseded, approved or rejected.
    pub fn is_waiting(self) -> bool {
        matches!(self, Phase::WaitingGates | Phase::WaitingApproval)
    }
}

/// One value that moves, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FreightValue {
    pub freight: Freight,
    pub label: String,
    /// In the target stage before the promotion (None: not set there).
    pub before: Option<String>,
    /// What the source stage runs (what the target receives).
    pub after: Option<String>,
}

/// The last result of one gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateResult {
    /// `soak`, `window`, `approval`, `verification`.
    pub gate: String,
    pub passed: bool,
    pub message: String,
    pub at_ms: i64,
}

/// An approval or a rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub user: String,
    pub approved: bool,
    pub comment: String,
    pub at_ms: i64,
}

/// A commit the promotion pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitRecord {
    /// `promote` or `revert`.
    pub purpose: String,
    pub repository: String,
    pub branch: String,
    pub commit: String,
    pub applications: Vec<String>,
    /// Push attempts (more than one: another commit landed first and the change was
    /// re-applied on top of it).
    pub attempts: u32,
    pub at_ms: i64,
}

/// A promotion: its whole record, which is also its report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    pub id: i64,
    pub pipeline: String,
    pub from: String,
    pub to: String,
    pub phase: Phase,
    pub requested_by: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// When the promotion commit landed (the start of verification).
    pub promoted_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    /// The revision the source stage ran when the values were read.
    pub source_revision: String,
    pub values: Vec<FreightValue>,
    pub gates: Vec<GateResult>,
    pub approvals: Vec<Decision>,
    pub commits: Vec<CommitRecord>,
    /// What is happening now, or why it ended.
    pub message: String,
}

impl Promotion {
    /// The report: the record plus durations in seconds.
    pub fn report(&self) -> Value {
        let secs = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => json!((b - a) as f64 / 1000.0),
            _ => Value::Null,
        };
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["durations"] = json!({
            "waitingSeconds": secs(Some(self.created_ms), self.promoted_ms),
            "verifyingSeconds": secs(self.promoted_ms, self.finished_ms),
            "totalSeconds": secs(Some(self.created_ms), self.finished_ms),
        });
        v
    }

    pub(super) fn approvals_from(&self) -> Vec<&str> {
        let mut users: Vec<&str> = self
            .approvals
            .iter()
            .filter(|d| d.approved)
            .map(|d| d.user.as_str())
            .collect();
        users.sort();
        users.dedup();
        users
    }

    pub(super) fn values_text(&self) -> String {
        self.values
            .iter()
            .map(|v| {
                format!(
                    "{}: {} → {}",
                    v.label,
                    v.before.as_deref().unwrap_or("(none)"),
                    v.after.as_deref().unwrap_or("(none)")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(super) fn set_gate(&mut self, gate: &str, passed: bool, message: String) -> bool {
        let now = now_ms();
        match self.gates.iter_mut().find(|g| g.gate == gate) {
            Some(g) if g.passed == passed && g.message == message => false,
            Some(g) => {
                (g.passed, g.message, g.at_ms) = (passed, message, now);
                true
            }
            None => {
                self.gates.push(GateResult {
                    gate: gate.into(),
                    passed,
                    message,
                    at_ms: now,
                });
                true
            }
        }
    }
}
