//! A promotion waiting for its gates: the approval timeout (expiry), the source stage's
//! soak, the time windows, the approvals, and last the verification; when all pass it moves
//! on to the commit ([`super::landing`]).

use crate::error::EngineResult;
use driftless_core::pipeline::{Pipeline, Stage};

use super::{Phase, Promotion, gates, now_ms};
use crate::controller::Controller;

impl Controller {
    pub(super) async fn check_gates(
        &self,
        p: &Pipeline,
        stage: &Stage,
        mut prom: Promotion,
    ) -> EngineResult<()> {
        let now = now_ms();
        let approvers = prom.approvals_from().len();
        if let Some(message) = expired(stage, &prom, now) {
            return self.finish(&mut prom, Phase::Expired, message).await;
        }
        let mut changed = false;
        let mut waiting: Vec<String> = Vec::new();
        let mut gate =
            |prom: &mut Promotion, name: &str, ok: bool, message: String, why: String| {
                if !ok {
                    waiting.push(why);
                }
                changed |= prom.set_gate(name, ok, message);
            };
        if let Some((ok, message)) = self.soak_gate(p, stage, now) {
            gate(&mut prom, "soak", ok, message.clone(), message);
        }
        if !stage.windows.is_empty() {
            let closed = gates::in_window(&stage.windows, jiff::Timestamp::now())
                .err()
                .map(|e| e.to_string());
            let message = closed
                .clone()
                .unwrap_or_else(|| "inside a promotion window".into());
            gate(
                &mut prom,
                "window",
                closed.is_none(),
                message.clone(),
                message,
            );
        }
        let mut approved = true;
        if let Some(a) = &stage.approval {
            approved = approvers >= a.required as usize;
            let message = format!(
                "{approvers} of {} approvals{}",
                a.required,
                a.role
                    .as_ref()
                    .map(|r| format!(" (role {r})"))
                    .unwrap_or_default()
            );
            let why = format!("waiting for approval: {message}");
            gate(&mut prom, "approval", approved, message, why);
        }
        if !waiting.is_empty() {
            let only_approval = waiting.len() == 1 && !approved;
            return self
                .keep_waiting(p, prom, waiting, only_approval, changed)
                .await;
        }
        if let Some(v) = &stage.verification
            && let Err(e) = self.verify_gate(p, &mut prom, v).await
        {
            return self
                .finish(
                    &mut prom,
                    Phase::Failed,
                    format!("verification failed: {e}"),
                )
                .await;
        }
        prom.phase = Phase::Promoting;
        prom.message = "writing the promotion commit".into();
        self.save_promotion(&prom).await?;
        self.write_promotion(p, stage, prom).await
    }

    /// The soak gate: every source application Synced and Healthy for the soak time.
    /// `None` for the first stage (no source).
    fn soak_gate(&self, p: &Pipeline, stage: &Stage, now: i64) -> Option<(bool, String)> {
        let source = p.source_of(&stage.name)?;
        let soak = stage.soak_duration().as_millis() as i64;
        let healthy_since = self.promotions.healthy_since.lock().expect("health lock");
        let problems: Vec<String> = source
            .applications
            .iter()
            .filter_map(|app| match healthy_since.get(app) {
                None => Some(format!("{app} is not Synced and Healthy")),
                Some((_, t)) if now - t < soak => Some(format!(
                    "{app} Synced and Healthy for {}s of {}s",
                    (now - t) / 1000,
                    soak / 1000
                )),
                Some(_) => None,
            })
            .collect();
        if !problems.is_empty() {
            return Some((false, problems.join("; ")));
        }
        let soaked = stage
            .soak
            .as_ref()
            .map(|s| format!(" for {s}"))
            .unwrap_or_default();
        Some((
            true,
            format!("source stage {} Synced and Healthy{soaked}", source.name),
        ))
    }

    /// Records what the promotion waits for; announces a newly awaited approval.
    async fn keep_waiting(
        &self,
        p: &Pipeline,
        mut prom: Promotion,
        waiting: Vec<String>,
        only_approval: bool,
        changed: bool,
    ) -> EngineResult<()> {
        let phase = if only_approval {
            Phase::WaitingApproval
        } else {
            Phase::WaitingGates
        };
        let message = waiting.join("; ");
        if !changed && phase == prom.phase && message == prom.message {
            return Ok(());
        }
        let newly_waiting_approval = phase == Phase::WaitingApproval && prom.phase != phase;
        prom.phase = phase;
        prom.message = message;
        self.save_promotion(&prom).await?;
        if newly_waiting_approval {
            let text = format!(
                "promotion {} of {} to {} waits for approval: {}",
                prom.id,
                p.name,
                prom.to,
                prom.values_text()
            );
            self.promotion_event(&prom, crate::EventKind::PromotionWaitingApproval, &text)
                .await;
        }
        Ok(())
    }

    /// Runs the stage's verification with the promotion in its environment; the gate records
    /// the outcome either way.
    async fn verify_gate(
        &self,
        p: &Pipeline,
        prom: &mut Promotion,
        v: &driftless_core::pipeline::Verification,
    ) -> EngineResult<()> {
        let env = [
            ("DRIFTLESS_PIPELINE", p.name.clone()),
            ("DRIFTLESS_PROMOTION", prom.id.to_string()),
            ("DRIFTLESS_FROM", prom.from.clone()),
            ("DRIFTLESS_TO", prom.to.clone()),
            ("DRIFTLESS_REVISION", prom.source_revision.clone()),
            (
                "DRIFTLESS_VALUES",
                serde_json::to_string(&prom.values).unwrap_or_default(),
            ),
        ];
        match gates::verify(v, &env).await {
            Ok(summary) => {
                prom.set_gate("verification", true, summary);
                Ok(())
            }
            Err(e) => {
                prom.set_gate("verification", false, e.to_string());
                Err(e)
            }
        }
    }
}

/// The approval request's timeout passed without enough approvals: why it expired.
fn expired(stage: &Stage, prom: &Promotion, now: i64) -> Option<String> {
    let a = stage.approval.as_ref()?;
    let approvers = prom.approvals_from().len();
    let timeout = stage.approval_timeout()?;
    (approvers < a.required as usize && now - prom.created_ms > timeout.as_millis() as i64).then(
        || {
            format!(
                "the approval request expired after {}: {approvers} of {} approvals; nothing was promoted",
                a.timeout.as_deref().unwrap_or_default(),
                a.required
            )
        },
    )
}
