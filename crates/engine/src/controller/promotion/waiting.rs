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
        if let Some(a) = &stage.approval
            && approvers < a.required as usize
            && let Some(timeout) = stage.approval_timeout()
            && now - prom.created_ms > timeout.as_millis() as i64
        {
            let message = format!(
                "the approval request expired after {}: {approvers} of {} approvals; nothing was promoted",
                a.timeout.as_deref().unwrap_or_default(),
                a.required
            );
            return self.finish(&mut prom, Phase::Expired, message).await;
        }
        let mut changed = false;
        let mut waiting: Vec<String> = Vec::new();
        // Soak: every source application Synced and Healthy for the soak time.
        if let Some(source) = p.source_of(&stage.name) {
            let soak = stage.soak_duration().as_millis() as i64;
            let mut problems = Vec::new();
            for app in &source.applications {
                let since = self
                    .promotions
                    .healthy_since
                    .lock()
                    .expect("health lock")
                    .get(app)
                    .cloned();
                match since {
                    None => problems.push(format!("{app} is not Synced and Healthy")),
                    Some((_, t)) if now - t < soak => problems.push(format!(
                        "{app} Synced and Healthy for {}s of {}s",
                        (now - t) / 1000,
                        soak / 1000
                    )),
                    Some(_) => {}
                }
            }
            let ok = problems.is_empty();
            let message = if ok {
                format!(
                    "source stage {} Synced and Healthy{}",
                    source.name,
                    stage
                        .soak
                        .as_ref()
                        .map(|s| format!(" for {s}"))
                        .unwrap_or_default()
                )
            } else {
                problems.join("; ")
            };
            if !ok {
                waiting.push(message.clone());
            }
            changed |= prom.set_gate("soak", ok, message);
        }
        if !stage.windows.is_empty() {
            let w = gates::in_window(&stage.windows, jiff::Timestamp::now());
            let closed = w.err().map(|e| e.to_string());
            if let Some(e) = &closed {
                waiting.push(e.clone());
            }
            changed |= prom.set_gate(
                "window",
                closed.is_none(),
                closed.unwrap_or_else(|| "inside a promotion window".into()),
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
            changed |= prom.set_gate("approval", approved, message.clone());
            if !approved {
                waiting.push(format!("waiting for approval: {message}"));
            }
        }
        if !waiting.is_empty() {
            let phase = if waiting.len() == 1 && !approved {
                Phase::WaitingApproval
            } else {
                Phase::WaitingGates
            };
            let message = waiting.join("; ");
            if changed || phase != prom.phase || message != prom.message {
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
                    self.promotion_event(&prom, "PromotionWaitingApproval", &text)
                        .await;
                }
            }
            return Ok(());
        }
        if let Some(v) = &stage.verification {
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
                }
                Err(e) => {
                    prom.set_gate("verification", false, e.to_string());
                    return self
                        .finish(
                            &mut prom,
                            Phase::Failed,
                            format!("verification failed: {e}"),
                        )
                        .await;
                }
            }
        }
        prom.phase = Phase::Promoting;
        prom.message = "writing the promotion commit".into();
        self.save_promotion(&prom).await?;
        self.write_promotion(p, stage, prom).await
    }
}
