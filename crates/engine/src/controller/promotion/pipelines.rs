//! Pipelines: defining and removing them (audited, API-created ones kept in the store), what
//! each stage runs, and the DORA figures of an application or a pipeline.

use std::collections::BTreeMap;

use serde_json::{Value, json};

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
    pub async fn pipeline_view(&self, name: &str) -> EngineResult<Value> {
        let p = self
            .pipeline(name)
            .await
            .ok_or_else(|| EngineError::not_found("pipeline", name))?;
        let mut stages = Vec::new();
        for stage in &p.stages {
            let mut apps = Vec::new();
            let mut values = Value::Null;
            for (i, a) in stage.applications.iter().enumerate() {
                let Ok(sa) = self.stage_app(a).await else {
                    apps.push(json!({"name": a, "missing": true}));
                    continue;
                };
                let rev = sa.revision();
                if i == 0
                    && let Some(rev) = &rev
                {
                    values = match self.values_at(&sa.app, rev, &p.freight).await {
                        Ok(vs) => Value::Array(
                            p.freight
                                .iter()
                                .zip(vs)
                                .map(|(f, v)| json!({"freight": f.label(), "value": v}))
                                .collect(),
                        ),
                        Err(e) => json!({"error": e.to_string()}),
                    };
                }
                apps.push(json!({
                    "name": a,
                    "sync": sa.status.sync.status,
                    "health": sa.status.health_status(),
                    "revision": rev,
                }));
            }
            stages.push(json!({
                "name": stage.name,
                "from": p.source_of(&stage.name).map(|s| s.name.clone()),
                "autoPromote": stage.auto_promote,
                "approval": stage.approval,
                "applications": apps,
                "values": values,
            }));
        }
        Ok(json!({"name": p.name, "freight": p.freight, "stages": stages, "definition": p}))
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
