//! `driftless run --standalone`: the workflows a script defines, diffed and synced straight
//! against a kubeconfig's cluster, without an engine — what `driftless diff` and `driftless
//! sync` do, driven by the script. Workflows and repositories live for the run only; what
//! needs an engine's memory (history and rollback, events, pipelines) is refused with a
//! message saying so.

use std::cell::RefCell;
use std::collections::BTreeMap;

use driftless_core::app::Application;
use driftless_engine::status::{AppStatus, SyncCode, SyncState};
use driftless_engine::{AppPolicy, OperationPhase, compare_with_cluster, load};
use driftless_health::{Health, HealthStatus};
use driftless_kube::KubeCluster;
use driftless_script::{ClientError, EngineClient};
use serde_json::{Value, json};

use crate::render_cmd::{GitArgs, render_source};

pub struct LocalEngine {
    pub rt: tokio::runtime::Runtime,
    pub cluster: KubeCluster,
    pub git: GitArgs,
    pub assessor: driftless_health::Assessor,
    apps: RefCell<BTreeMap<String, (Application, Value, AppStatus)>>,
    repos: RefCell<Vec<Value>>,
    ops: RefCell<Vec<Value>>,
}

fn refused(what: &str) -> ClientError {
    ClientError::Refused(format!(
        "{what} needs a running engine (its history and objects); run without --standalone"
    ))
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl LocalEngine {
    pub fn new(rt: tokio::runtime::Runtime, cluster: KubeCluster, git: GitArgs) -> Self {
        LocalEngine {
            rt,
            cluster,
            git,
            assessor: driftless_health::Assessor::default(),
            apps: RefCell::new(BTreeMap::new()),
            repos: RefCell::new(Vec::new()),
            ops: RefCell::new(Vec::new()),
        }
    }

    fn app(&self, name: &str) -> Result<Application, ClientError> {
        self.apps
            .borrow()
            .get(name)
            .map(|(a, _, _)| a.clone())
            .ok_or_else(|| ClientError::NotFound(format!("workflow {name}")))
    }

    /// Renders the workflow's source and compares it with the cluster.
    fn compare(
        &self,
        app: &Application,
    ) -> Result<(driftless_core::DesiredSet, driftless_diff::Comparison), ClientError> {
        let fail = |e: String| ClientError::Refused(format!("workflow {}: {e}", app.name));
        let spec = driftless_render::spec_for(&app.source).map_err(|e| fail(e.to_string()))?;
        let rev = Some(app.source.target_revision.as_str()).filter(|r| !r.is_empty());
        let rendered = render_source(
            &app.source.repo_url,
            rev,
            &app.source.path,
            &spec,
            &self.git,
            &Default::default(),
        )
        .map_err(|e| fail(format!("{e:#}")))?;
        let policy = AppPolicy::of(app, false).map_err(|e| fail(e.to_string()))?;
        let ns = Some(app.destination.namespace.as_str()).filter(|n| !n.is_empty());
        let cmp = self.rt.block_on(async {
            let loaded = load(&self.cluster, &app.name, &rendered.set, ns, &[]).await?;
            Ok::<_, driftless_engine::SyncError>(
                compare_with_cluster(&self.cluster, &loaded, &policy.compare, true, None).await,
            )
        });
        Ok((rendered.set, cmp.map_err(|e| fail(e.to_string()))?))
    }

    fn set_status(&self, name: &str, status: AppStatus) {
        if let Some(entry) = self.apps.borrow_mut().get_mut(name) {
            entry.2 = status;
        }
    }
}

impl EngineClient for LocalEngine {
    fn put_application(&self, doc: &Value) -> Result<Value, ClientError> {
        let parsed = driftless_core::app::from_doc(doc, "script")
            .map_err(|e| ClientError::Refused(e.to_string()))?;
        let mut spec = serde_json::to_value(&parsed.app).unwrap_or_default();
        spec["labels"] = doc["metadata"]["labels"].clone();
        let name = parsed.app.name.clone();
        self.apps
            .borrow_mut()
            .insert(name.clone(), (parsed.app, spec, AppStatus::default()));
        Ok(json!({"application": name, "warnings": parsed.warnings}))
    }
    fn application(&self, name: &str) -> Result<Option<Value>, ClientError> {
        Ok(self.apps.borrow().get(name).map(
            |(_, spec, status)| json!({"name": name, "spec": spec, "status": status.to_value()}),
        ))
    }
    fn applications(&self) -> Result<Vec<Value>, ClientError> {
        Ok(self
            .apps
            .borrow()
            .iter()
            .map(|(name, (a, spec, status))| {
                json!({
                    "name": name, "repo": a.source.repo_url, "path": a.source.path,
                    "labels": spec["labels"], "sync": status.sync.status,
                    "health": status.health_status(), "revision": status.sync.revision,
                })
            })
            .collect())
    }
    fn patch_application(&self, name: &str, patch: &Value) -> Result<Value, ClientError> {
        let mut apps = self.apps.borrow_mut();
        let (app, spec, _) = apps
            .get_mut(name)
            .ok_or_else(|| ClientError::NotFound(format!("workflow {name}")))?;
        let automated = &patch["syncPolicy"]["automated"];
        spec["syncPolicy"]["automated"] = automated.clone();
        app.sync_policy.automated = serde_json::from_value(automated.clone()).ok();
        Ok(json!({"application": name}))
    }
    fn put_repository(&self, doc: &Value) -> Result<Value, ClientError> {
        let r = json!({"name": doc["metadata"]["name"], "url": doc["spec"]["url"]});
        self.repos.borrow_mut().push(r.clone());
        Ok(r)
    }
    fn repositories(&self) -> Result<Vec<Value>, ClientError> {
        Ok(self.repos.borrow().clone())
    }
    fn sync(&self, name: &str, prune: bool) -> Result<Value, ClientError> {
        let app = self.app(name)?;
        let (set, _) = self.compare(&app)?;
        let policy = AppPolicy::of(&app, false).map_err(|e| ClientError::Refused(e.to_string()))?;
        let mut req = policy.request(&app, set, true);
        req.plan.prune |= prune;
        let result = self
            .rt
            .block_on(driftless_engine::sync(
                &self.cluster,
                &req,
                &self.assessor,
                None,
                &|_| {},
            ))
            .map_err(|e| ClientError::Refused(format!("workflow {name}: {e}")))?;
        let ok = result.phase == OperationPhase::Succeeded;
        let id = self.ops.borrow().len() as i64 + 1;
        let finished = now_ms();
        self.ops.borrow_mut().push(json!({
            "id": id, "app": name, "kind": "sync", "revision": "",
            "phase": if ok { "Succeeded" } else { "Failed" },
            "request": {"reason": "sync requested by a user"},
            "result": {"message": result.message}, "started_ms": finished, "finished_ms": finished,
        }));
        let (_, after) = self.compare(&app)?;
        let in_sync = after.summary.in_sync();
        self.set_status(
            name,
            AppStatus {
                sync: SyncState {
                    status: if in_sync {
                        SyncCode::Synced
                    } else {
                        SyncCode::OutOfSync
                    },
                    summary: Some(after.summary),
                    ..Default::default()
                },
                // The sync waited for each wave's health; a failed one says why in its message.
                health: Some(Health::new(
                    if ok {
                        HealthStatus::Healthy
                    } else {
                        HealthStatus::Degraded
                    },
                    "",
                )),
                reconciled_at_ms: Some(finished),
                ..Default::default()
            },
        );
        Ok(json!({"application": name, "queued": false}))
    }
    fn diff(&self, name: &str) -> Result<Value, ClientError> {
        let (_, cmp) = self.compare(&self.app(name)?)?;
        Ok(json!({"application": name, "comparison": cmp}))
    }
    fn rollback(&self, _: &str, _: Option<i64>, _: &str) -> Result<Value, ClientError> {
        Err(refused("a rollback"))
    }
    fn operations(&self, name: &str) -> Result<Vec<Value>, ClientError> {
        Ok(self
            .ops
            .borrow()
            .iter()
            .filter(|o| o["app"] == name)
            .rev()
            .cloned()
            .collect())
    }
    fn history(&self, _: &str) -> Result<Vec<Value>, ClientError> {
        Err(refused("the deployment history"))
    }
    fn events(&self, _: &str, _: i64) -> Result<Vec<Value>, ClientError> {
        Err(refused("the event list"))
    }
    fn promote(&self, _: &str, _: Option<&str>, _: &str) -> Result<Value, ClientError> {
        Err(refused("a promotion"))
    }
    fn promotion(&self, _: i64) -> Result<Value, ClientError> {
        Err(refused("a promotion"))
    }
    fn approve(&self, _: i64, _: &str) -> Result<Value, ClientError> {
        Err(refused("an approval"))
    }
    fn pipeline(&self, _: &str) -> Result<Value, ClientError> {
        Err(refused("a pipeline"))
    }
}
