//! Pipelines: defining and removing them (audited, API-created ones kept in the store), what
//! each stage runs, and the DORA figures of an application or a pipeline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use driftless_core::pipeline::Pipeline;

use super::{PIPELINE, Promotion, now_ms};
use crate::controller::Controller;
use crate::error::{EngineError, EngineResult};

impl Controller {
    /// Adds or replaces a pipeline; `persist` keeps it in the store (API-created). Audited.
    pub async fn set_pipeline(
        &self,
        pipeline: Pipeline,
        actor: &str,
        persist: bool,
    ) -> EngineResult<()> {
        pipeline
            .validate()
            .map_err(|e| EngineError::invalid(format!("pipeline {}: {e}", pipeline.name)))?;
        let name = pipeline.name.clone();
        if persist {
            let spec = serde_json::to_value(&pipeline)?;
            self.store.put_definition(PIPELINE, &name, &spec).await?;
        }
        let old = self
            .promotions
            .pipelines
            .lock()
            .await
            .insert(name.clone(), pipeline.clone());
        if old.as_ref() != Some(&pipeline) {
            let stages: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
            self.store
                .audit(
                    actor,
                    if old.is_some() {
                        "pipeline.update"
                    } else {
                        "pipeline.create"
                    },
                    &format!("pipeline/{name}"),
                    &json!({"stages": stages}),
                )
                .await?;
        }
        Ok(())
    }

    /// Forgets a pipeline (promotions in flight end Failed at the next driver pass).
    pub async fn remove_pipeline(&self, name: &str, actor: &str) -> EngineResult<bool> {
        let had = self
            .promotions
            .pipelines
            .lock()
            .await
            .remove(name)
            .is_some();
        let stored = self.store.delete_definition(PIPELINE, name).await?;
        if had || stored {
            self.store
                .audit(
                    actor,
                    "pipeline.delete",
                    &format!("pipeline/{name}"),
                    &json!({}),
                )
                .await?;
        }
        Ok(had || stored)
    }

    /// Pipelines created through the API in an earlier run.
    pub async fn load_stored_pipelines(&self) -> EngineResult<Vec<String>> {
        let mut names = Vec::new();
        for (name, spec) in self.store.list_definitions(PIPELINE).await? {
            let p: Pipeline = serde_json::from_value(spec).map_err(|e| {
                EngineError::invalid(format!("stored pipeline {name} is not valid: {e}"))
            })?;
            self.promotions
                .pipelines
                .lock()
                .await
                .insert(name.clone(), p);
            names.push(name);
        }
        Ok(names)
    }

    pub async fn pipelines(&self) -> Vec<Pipeline> {
        self.promotions
            .pipelines
            .lock()
            .await
            .values()
            .cloned()
            .collect()
    }

    pub async fn pipeline(&self, name: &str) -> Option<Pipeline> {
        self.promotions.pipelines.lock().await.get(name).cloned()
    }

    /// What each stage of a pipeline runs: its applications' sync, health and revision, and
    /// the freight values at the first application's deployed revision.
    pub async fn pipeline_view(&self, name: &str) -> EngineResult<PipelineView> {
        let p = self
            .pipeline(name)
            .await
            .ok_or_else(|| EngineError::not_found("pipeline", name))?;
        let mut stages = Vec::new();
        for stage in &p.stages {
            let mut applications = Vec::new();
            let mut values = None;
            for (i, a) in stage.applications.iter().enumerate() {
                let Ok(sa) = self.stage_app(a).await else {
                    applications.push(StageAppView {
                        name: a.clone(),
                        missing: true,
                        sync: None,
                        health: None,
                        revision: None,
                    });
                    continue;
                };
                let revision = sa.revision();
                if i == 0
                    && let Some(rev) = &revision
                {
                    values = Some(match self.values_at(&sa.app, rev, &p.freight).await {
                        Ok(vs) => StageValues::Read(
                            p.freight
                                .iter()
                                .zip(vs)
                                .map(|(f, value)| StageValue {
                                    freight: f.label(),
                                    value,
                                })
                                .collect(),
                        ),
                        Err(e) => StageValues::Unreadable {
                            error: e.to_string(),
                        },
                    });
                }
                applications.push(StageAppView {
                    name: a.clone(),
                    missing: false,
                    sync: Some(sa.status.sync.status),
                    health: sa.status.health_status(),
                    revision,
                });
            }
            stages.push(StageView {
                name: stage.name.clone(),
                from: p.source_of(&stage.name).map(|s| s.name.clone()),
                auto_promote: stage.auto_promote,
                approval: stage.approval.clone(),
                applications,
                values,
            });
        }
        Ok(PipelineView {
            name: p.name.clone(),
            freight: p.freight.clone(),
            stages,
            definition: p,
        })
    }

    /// The DORA figures of one application over the last `days`.
    pub async fn dora_for_app(&self, app: &str, days: f64) -> EngineResult<crate::dora::Dora> {
        let since = now_ms() - (days * 86_400_000.0) as i64;
        let ds = self.store.list_deployments(app, since).await?;
        Ok(crate::dora::dora(&ds, days))
    }

    /// The DORA figures of a pipeline: its production stage's applications (the last stage
    /// that is not a mirror of another).
    pub async fn dora_for_pipeline(
        &self,
        pipeline: &str,
        days: f64,
    ) -> EngineResult<(String, crate::dora::Dora)> {
        let p = self
            .pipeline(pipeline)
            .await
            .ok_or_else(|| EngineError::not_found("pipeline", pipeline))?;
        let prod = production_stage(&p);
        let since = now_ms() - (days * 86_400_000.0) as i64;
        let mut ds = Vec::new();
        for app in &prod.applications {
            ds.extend(self.store.list_deployments(app, since).await?);
        }
        let (promoted_from, times) = self.lead_time_record(&p, since).await?;
        crate::dora::trace_origins(&mut ds, &promoted_from, &times);
        Ok((prod.name.clone(), crate::dora::dora(&ds, days)))
    }

    /// For lead times: each promotion commit → the revision its source stage ran, and the
    /// commit time of every revision the pipeline's applications deployed.
    async fn lead_time_record(
        &self,
        p: &Pipeline,
        since: i64,
    ) -> EngineResult<(BTreeMap<String, String>, BTreeMap<String, i64>)> {
        let mut promoted_from = BTreeMap::new();
        for row in self.store.list_promotions(&p.name, 10_000).await? {
            let Ok(prom) = serde_json::from_value::<Promotion>(row.record) else {
                continue;
            };
            for c in prom.commits.iter().filter(|c| c.purpose == "promote") {
                promoted_from.insert(c.commit.clone(), prom.source_revision.clone());
            }
        }
        let mut times = BTreeMap::new();
        for app in p.stages.iter().flat_map(|s| &s.applications) {
            for d in self.store.list_deployments(app, since - 86_400_000).await? {
                if let Some(t) = d.commit_ms {
                    times.insert(d.revision, t);
                }
            }
        }
        Ok((promoted_from, times))
    }
}

/// A pipeline's production stage: the last one not fed by an explicit `from` (a disaster-
/// recovery mirror), or the last one.
pub fn production_stage(p: &Pipeline) -> &driftless_core::pipeline::Stage {
    p.stages
        .iter()
        .rev()
        .find(|s| s.from.is_none())
        .unwrap_or_else(|| p.stages.last().expect("a valid pipeline has stages"))
}

/// What each stage of a pipeline runs (`GET /pipelines/{name}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineView {
    pub name: String,
    pub freight: Vec<driftless_core::pipeline::Freight>,
    pub stages: Vec<StageView>,
    pub definition: Pipeline,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageView {
    pub name: String,
    pub from: Option<String>,
    pub auto_promote: bool,
    pub approval: Option<driftless_core::pipeline::Approval>,
    pub applications: Vec<StageAppView>,
    /// The freight values the stage's first application runs (none before it is reconciled).
    pub values: Option<StageValues>,
}

/// One application of a stage: its sync and health, or `missing` when it is not defined.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageAppView {
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::SyncCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<driftless_health::HealthStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StageValues {
    Read(Vec<StageValue>),
    Unreadable { error: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageValue {
    pub freight: String,
    pub value: Option<String>,
}
