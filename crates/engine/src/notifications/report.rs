//! The drift report (`GET /api/v1/drift/report`, `driftless drift report -o json`): per
//! application and environment, whether drift was found, its grade and summary, healed or
//! alerted, and when — from the store's `DriftDetected`/`DriftHealed` events and the outbox,
//! through the notify crate's pure [`drift_report`](driftless_notify::drift_report).

use crate::error::{EngineError, EngineResult};
use std::collections::BTreeMap;

use driftless_notify::outbox::{ListFilter, Outbox};
use driftless_notify::{AppInfo, DriftReport, NotifyEvent};

use super::events::{app_info, notify_kind, ts};
use crate::controller::Controller;

/// Events read for one report at most (the newest window is what a scheduled job wants).
const MAX_EVENTS: i64 = 20_000;

/// Which applications a report covers.
#[derive(Clone, Debug, Default)]
pub struct ReportFilter {
    pub app: Option<String>,
    pub pipeline: Option<String>,
    /// Only events at or after this time (ms since the epoch); 0: all kept.
    pub since_ms: i64,
}

impl Controller {
    /// The environment (pipeline stage) of each application that belongs to one.
    async fn environments(&self) -> BTreeMap<String, (String, String)> {
        let mut out = BTreeMap::new();
        for (pipeline, p) in self.promotions.pipelines.lock().await.iter() {
            for stage in &p.stages {
                for app in &stage.applications {
                    out.insert(app.clone(), (pipeline.clone(), stage.name.clone()));
                }
            }
        }
        out
    }

    /// The drift report over the applications `filter` selects. An unknown application or
    /// pipeline is an error naming it.
    pub async fn drift_report(&self, filter: &ReportFilter) -> EngineResult<DriftReport> {
        let envs = self.environments().await;
        if let Some(p) = &filter.pipeline
            && self.pipeline(p).await.is_none()
        {
            return Err(EngineError::not_found("pipeline", p.clone()));
        }
        if let Some(a) = &filter.app
            && !self.has_app(a).await
        {
            return Err(EngineError::not_found("application", a.clone()));
        }
        let selected: Vec<driftless_core::app::Application> = self
            .apps
            .lock()
            .await
            .values()
            .map(|s| s.app.clone())
            .filter(|a| filter.app.as_ref().is_none_or(|n| *n == a.name))
            .filter(|a| {
                filter
                    .pipeline
                    .as_ref()
                    .is_none_or(|p| envs.get(&a.name).is_some_and(|(pl, _)| pl == p))
            })
            .collect();
        let mut infos: BTreeMap<String, AppInfo> = BTreeMap::new();
        for a in &selected {
            let status = self.stored_status(&a.name).await.unwrap_or_default();
            let mut info = app_info(a, &status);
            if let Some((_, stage)) = envs.get(&a.name) {
                info.environment = Some(stage.clone());
            }
            infos.insert(a.name.clone(), info);
        }
        let stored = self
            .store
            .events_of_kinds(
                &[
                    crate::EventKind::DriftDetected.as_str(),
                    crate::EventKind::DriftHealed.as_str(),
                ],
                filter.since_ms,
                MAX_EVENTS,
            )
            .await?;
        let events: Vec<NotifyEvent> = stored
            .iter()
            .filter_map(|e| {
                let info = infos.get(&e.app)?;
                let (id, kind) = notify_kind(
                    &e.app,
                    &info.repo_url,
                    crate::EventKind::of(&e.kind),
                    &e.message,
                    &e.data,
                    e.at_ms,
                )?;
                Some(NotifyEvent {
                    id,
                    at: ts(e.at_ms),
                    app: info.clone(),
                    kind,
                })
            })
            .collect();
        let messages = self
            .store
            .notification_outbox()
            .list(&ListFilter {
                status: Some(driftless_notify::outbox::Status::Sent),
                limit: Some(MAX_EVENTS as usize),
                ..ListFilter::default()
            })
            .await?;
        let apps: Vec<AppInfo> = infos.into_values().collect();
        Ok(driftless_notify::drift_report(
            &apps,
            &events,
            &messages,
            jiff::Timestamp::now(),
        ))
    }
}
