//! The policy gate before every sync. A repository that declares a `ValidationConfig`
//! (`driftless.yaml` at its root: the file `driftless validate` reads in CI) has every
//! revision an application renders from it checked — Kubernetes and CRD schemas, the Rego
//! policies it enables or ships, removed API versions — before anything is applied. A
//! revision with an error finding is never synced; the next compliant one is. CI and the
//! engine run the same checks, so they cannot disagree.
//!
//! Gates are compiled once per repository and revision (schema parse and Rego compile take
//! milliseconds; a fleet on one commit shares one gate) and checked per render.

use crate::error::EngineResult;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use driftless_core::desired::DesiredSet;
use driftless_core::source::{SourceTree, Tree};
use driftless_policy::{Finding, Gate, GateConfig};

/// What the gate said about one rendered revision.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every finding (warnings included); any error means the revision must not be applied.
    Checked(Vec<Finding>),
    /// The repository declares a gate that cannot be built (bad `driftless.yaml`, a policy
    /// that does not compile): nothing is applied until it is fixed, as a CI job would fail.
    Broken(String),
}

impl Verdict {
    /// Why the revision must not be applied, or `None` when it may.
    pub fn refusal(&self) -> Option<String> {
        match self {
            Verdict::Broken(e) => Some(format!(
                "the repository's validation config is invalid: {e}"
            )),
            Verdict::Checked(findings) => {
                let errors: Vec<String> = findings
                    .iter()
                    .filter(|f| f.is_error())
                    .map(Finding::one_line)
                    .collect();
                if errors.is_empty() {
                    return None;
                }
                let shown = errors
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ");
                let more = errors.len().saturating_sub(5);
                Some(if more > 0 {
                    format!("{} policy error(s): {shown}; and {more} more", errors.len())
                } else {
                    format!("{} policy error(s): {shown}", errors.len())
                })
            }
        }
    }

    /// The error findings, for the event's details.
    pub fn errors(&self) -> Vec<&Finding> {
        match self {
            Verdict::Checked(f) => f.iter().filter(|f| f.is_error()).collect(),
            Verdict::Broken(_) => Vec::new(),
        }
    }
}

type CompiledGate = Arc<Result<Gate, driftless_policy::gate::GateError>>;

/// Compiled gates by repository, for the revision each was built from.
#[derive(Default)]
pub struct PolicyGates {
    gates: Mutex<HashMap<String, (String, CompiledGate)>>,
}

impl PolicyGates {
    /// Checks `set`, rendered from `tree` at `revision` of repository `repo`; `None` when the
    /// repository declares no gate (no `driftless.yaml` at its root).
    pub fn check(
        &self,
        repo: &str,
        revision: &str,
        tree: &dyn SourceTree,
        set: &DesiredSet,
    ) -> Option<Verdict> {
        let declared = Tree::new(tree)
            .is_file(driftless_policy::config::DEFAULT_FILE)
            .unwrap_or(false);
        if !declared {
            return None;
        }
        let gate = self.gate(repo, revision, tree);
        Some(match gate.as_ref() {
            Ok(g) => Verdict::Checked(g.check(set)),
            Err(e) => Verdict::Broken(e.to_string()),
        })
    }

    fn gate(&self, repo: &str, revision: &str, tree: &dyn SourceTree) -> CompiledGate {
        // A local directory's revision names only the app's path: its gate is rebuilt each time.
        let cacheable = !revision.starts_with("local:");
        if cacheable
            && let Some((rev, g)) = self.gates.lock().expect("gates lock").get(repo)
            && rev == revision
        {
            return g.clone();
        }
        let built: CompiledGate = Arc::new(GateConfig::from_tree(tree).and_then(Gate::new));
        if cacheable {
            self.gates
                .lock()
                .expect("gates lock")
                .insert(repo.to_string(), (revision.to_string(), built.clone()));
        }
        built
    }
}

impl super::Controller {
    /// Applies the gate's verdict on a rendered revision: a refused revision shows its
    /// reason in the app's status on every reconcile, and a sync it would have started
    /// (`trigger`, by its label) is not run but recorded as a `PolicyDenied` event and in the
    /// audit log. Returns whether the sync must not run.
    pub(crate) async fn policy_gate(
        &self,
        name: &str,
        rendered: &super::source::Rendered,
        attempt: &str,
        trigger: Option<&str>,
    ) -> EngineResult<bool> {
        let Some(verdict) = rendered.policy.as_ref() else {
            return Ok(false);
        };
        let Some(refusal) = verdict.refusal() else {
            return Ok(false);
        };
        let message = format!(
            "revision {} refused by the policy gate: {refusal}",
            super::reconcile::short(&rendered.revision)
        );
        let findings = verdict
            .errors()
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_default();
        // A sync it would have started is recorded (event, audit) before the status says
        // "refused": whoever sees the status finds the record too.
        if let Some(trigger) = trigger {
            // Refused once per revision: an automated sync does not knock again every
            // reconcile.
            self.update(name, |s| {
                s.last_attempt = Some(attempt.to_string());
                s.drift_since = None;
            })
            .await;
            let details = serde_json::json!({
                "revision": rendered.revision,
                "trigger": trigger,
                "findings": findings,
            });
            self.event(
                name,
                crate::EventKind::PolicyDenied,
                crate::Severity::Warning,
                &message,
                &details,
            )
            .await?;
            self.store
                .audit(
                    "driftless",
                    "app.policy-denied",
                    &format!("application/{name}"),
                    &details,
                )
                .await?;
        }
        let mut status = self.stored_status(name).await?;
        status.error = Some(message);
        status.policy = Some(crate::status::PolicyStatus {
            revision: rendered.revision.clone(),
            findings,
        });
        self.store_status(name, &status).await?;
        Ok(true)
    }
}
