//! Executing a [`SyncPlan`]: one step at a time, actions in plan order, then a concurrent
//! wait on the whole step. Hooks are created (after deleting the previous run when
//! `BeforeHookCreation`), awaited, and cleaned up by their delete policies; hooks are never
//! tracked, so they never show as extraneous or get pruned.
//!
//! As in Argo CD, the operation ends once the last step is applied: its objects' health is
//! not awaited (a rollout may take minutes; health is reported apart from the operation).
//! Every earlier step still waits, so a PostSync hook runs only once the Sync phase is
//! healthy.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;
use serde_json::Value;

use driftless_core::cluster::{ApplyOptions, Cluster, ClusterError, Propagation};
use driftless_core::{Gvk, ResourceKey, object};
use driftless_diff::{normalize, prepare};
use driftless_health::{Assessor, HealthStatus};
use driftless_plan::{Action, HookDeletePolicy, Step, SyncPlan, Task};

use super::wait::{self, with_retry};
use super::{OperationPhase, Outcome, ResourceResult, SyncEvent, SyncRequest, SyncResult};
use crate::compare::DryRunCache;

/// Why a step stopped the sync (the sync's message; Secret values already masked).
pub(super) struct Stopped(String);

pub(super) struct Executor<'a, C: Cluster> {
    pub cluster: &'a C,
    pub req: &'a SyncRequest,
    pub assessor: &'a Assessor,
    pub live: &'a BTreeMap<ResourceKey, Value>,
    pub pending: &'a BTreeSet<(String, String)>,
    /// Wait for the last step's health too (a one-shot command, not an operation).
    pub await_last: bool,
    /// Where each apply's answer is remembered as the dry-run answer for the object it left
    /// (see [`DryRunCache::remember_apply`]).
    pub cache: Option<&'a DryRunCache>,
}

fn gvk_of(task: &Task, live: &BTreeMap<ResourceKey, Value>) -> Gvk {
    task.object
        .as_ref()
        .or_else(|| live.get(&task.key))
        .and_then(object::gvk)
        .unwrap_or_else(|| Gvk {
            group: task.key.group.clone(),
            version: String::new(),
            kind: task.key.kind.clone(),
        })
}

impl<C: Cluster> Executor<'_, C> {
    pub async fn run(
        &self,
        plan: &SyncPlan,
        result: &mut SyncResult,
        on_event: &(dyn Fn(&SyncEvent) + Sync),
    ) {
        for (i, step) in plan.steps.iter().enumerate() {
            on_event(&SyncEvent::Step {
                phase: step.phase,
                wave: step.wave,
                prune: step.prune,
                tasks: step.tasks.len(),
            });
            let last = i + 1 == plan.steps.len() && !self.await_last;
            if let Err(Stopped(message)) = self.step(step, last, result, on_event).await {
                result.phase = OperationPhase::Failed;
                result.message = message;
                for t in &plan.sync_fail {
                    let r = self.run_hook(t).await;
                    on_event(&SyncEvent::Resource(&r));
                    result.resources.push(r);
                }
                return;
            }
        }
        let applied = result
            .resources
            .iter()
            .filter(|r| r.outcome != Outcome::Skipped)
            .count();
        result.message = if self.req.dry_run {
            format!("dry run: {applied} change(s) planned, nothing applied")
        } else {
            format!("successfully synced ({applied} resource(s))")
        };
    }

    fn result(&self, t: &Task, outcome: Outcome, message: String) -> ResourceResult {
        ResourceResult {
            key: t.key.clone(),
            phase: t.phase,
            wave: t.wave,
            outcome,
            message,
            health: None,
            impact: t.impact.clone(),
            resource_version: None,
        }
    }

    /// Runs a step; `Err` carries the reason the sync stops. The `last` step's applies and
    /// prunes are not awaited (its hooks are: a hook's outcome is the operation's).
    async fn step(
        &self,
        step: &Step,
        last: bool,
        result: &mut SyncResult,
        on_event: &(dyn Fn(&SyncEvent) + Sync),
    ) -> Result<(), Stopped> {
        if self.req.dry_run {
            for t in &step.tasks {
                let r = self.result(t, Outcome::Planned, format!("{:?}", t.action));
                on_event(&SyncEvent::Resource(&r));
                result.resources.push(r);
            }
            return Ok(());
        }
        // Hooks of a step run concurrently, each awaited to completion.
        let (hooks, others): (Vec<&Task>, Vec<&Task>) =
            step.tasks.iter().partition(|t| t.action == Action::RunHook);
        let mut acted: Vec<(usize, &Task)> = Vec::new();
        for t in others {
            let r = match self.act(t).await {
                Ok((outcome, resource_version)) => ResourceResult {
                    resource_version,
                    ..self.result(t, outcome, String::new())
                },
                Err(e) => {
                    result.unreachable = e.is_transient();
                    let r = self.result(t, Outcome::Failed, mask_error(&e, t.object.as_ref()));
                    on_event(&SyncEvent::Resource(&r));
                    result.resources.push(r);
                    return Err(Stopped(format!(
                        "{}: {}",
                        t.key,
                        mask_error(&e, t.object.as_ref())
                    )));
                }
            };
            result.resources.push(r);
            acted.push((result.resources.len() - 1, t));
        }
        let hook_results = join_all(hooks.iter().map(|t| self.run_hook(t))).await;
        // The last step's prunes are still awaited: an object on its way out would read as
        // an extraneous one still to prune.
        let waits = join_all(acted.iter().map(|(_, t)| async move {
            match t.action {
                Action::Prune { .. } => self.settle(t).await,
                _ if last => Ok(None),
                _ => self.settle(t).await,
            }
        }))
        .await;
        let mut failure = None;
        for ((i, t), outcome) in acted.iter().zip(waits) {
            let r = &mut result.resources[*i];
            match outcome {
                Ok(Some(h)) => {
                    if matches!(
                        h.status,
                        HealthStatus::Degraded | HealthStatus::Progressing | HealthStatus::Unknown
                    ) && failure.is_none()
                    {
                        failure = Some(format!("{} is {}: {}", t.key, h.status, h.message));
                    }
                    r.health = Some(h);
                }
                Ok(None) => {}
                Err(e) => {
                    if failure.is_none() {
                        result.unreachable = e.is_transient();
                    }
                    failure.get_or_insert_with(|| format!("{}: {e}", t.key));
                    r.message = e.to_string();
                }
            }
            on_event(&SyncEvent::Resource(r));
        }
        for r in hook_results {
            if r.outcome == Outcome::HookFailed && failure.is_none() {
                failure = Some(format!("hook {} failed: {}", r.key, r.message));
            }
            on_event(&SyncEvent::Resource(&r));
            result.resources.push(r);
        }
        failure.map_or(Ok(()), |f| Err(Stopped(f)))
    }

    /// Carries out a task; returns its outcome and the resourceVersion the server answered
    /// with (what a watch-fed cache must reach before it shows this sync's result).
    async fn act(&self, t: &Task) -> Result<(Outcome, Option<String>), ClusterError> {
        let retry = &self.req.retry;
        let pending = self
            .pending
            .contains(&(t.key.group.clone(), t.key.kind.clone()));
        // A custom resource whose CRD an earlier task just applied: discovery catches up.
        let unknown_yet =
            |e: &ClusterError| pending && matches!(e, ClusterError::UnknownKind { .. });
        match &t.action {
            Action::Apply => {
                let obj = prepare(
                    t.object.as_ref().expect("apply has an object"),
                    &t.key,
                    &self.req.compare,
                );
                let opts = ApplyOptions {
                    force: self.req.force_conflicts || t.options.force == Some(true),
                    dry_run: false,
                    skip_validation: t.options.validate == Some(false),
                };
                let v = with_retry(retry, unknown_yet, || self.cluster.apply(&obj, &opts)).await?;
                if let Some(cache) = self.cache.filter(|_| !opts.skip_validation) {
                    cache.remember_apply(&t.key, &obj, &v);
                }
                Ok((Outcome::Applied, version(&v)))
            }
            Action::Replace => {
                let obj = prepare(
                    t.object.as_ref().expect("replace has an object"),
                    &t.key,
                    &self.req.compare,
                );
                let v = with_retry(retry, unknown_yet, || self.cluster.replace(&obj)).await?;
                Ok((Outcome::Replaced, version(&v)))
            }
            Action::CreateNamespace => {
                let obj = t.object.clone().expect("namespace object");
                let gvk = Gvk::from_api_version("v1", "Namespace");
                if with_retry(retry, |_| false, || self.cluster.get(&gvk, &t.key))
                    .await?
                    .is_some()
                {
                    return Ok((Outcome::Skipped, None));
                }
                let v = with_retry(retry, |_| false, || self.cluster.create(&obj)).await?;
                Ok((Outcome::Created, version(&v)))
            }
            Action::Prune { propagation } => {
                let gvk = gvk_of(t, self.live);
                with_retry(
                    retry,
                    |_| false,
                    || self.cluster.delete(&gvk, &t.key, *propagation),
                )
                .await?;
                Ok((Outcome::Pruned, None))
            }
            Action::RunHook => unreachable!("hooks run through run_hook"),
        }
    }

    /// Waits for what an action leads to: health after an apply, absence after a prune.
    async fn settle(&self, t: &Task) -> Result<Option<driftless_health::Health>, ClusterError> {
        let gvk = gvk_of(t, self.live);
        let timeout = self.req.health_timeout;
        match &t.action {
            Action::Prune { .. } => {
                wait::gone(self.cluster, &gvk, &t.key, timeout, &self.req.retry)
                    .await
                    .map(|_| None)
            }
            _ => wait::health(
                self.cluster,
                self.assessor,
                &gvk,
                &t.key,
                timeout,
                &self.req.retry,
            )
            .await
            .map(Some),
        }
    }

    /// Creates a hook, waits for it to finish, applies its delete policies.
    async fn run_hook(&self, t: &Task) -> ResourceResult {
        let mut r = self.result(t, Outcome::HookFailed, String::new());
        match self.hook(t).await {
            Ok((outcome, health)) => {
                r.outcome = outcome;
                r.message = health.message.clone();
                r.health = Some(health);
            }
            Err(e) => r.message = mask_error(&e, t.object.as_ref()),
        }
        let policy = match r.outcome {
            Outcome::HookSucceeded => HookDeletePolicy::HookSucceeded,
            _ => HookDeletePolicy::HookFailed,
        };
        if t.hook_delete.contains(&policy) {
            let gvk = gvk_of(t, self.live);
            if let Err(e) = self
                .cluster
                .delete(&gvk, &t.key, Propagation::Background)
                .await
            {
                r.message = format!("{}; could not delete the hook: {e}", r.message);
            }
        }
        r
    }

    async fn hook(&self, t: &Task) -> Result<(Outcome, driftless_health::Health), ClusterError> {
        let obj = t.object.clone().expect("hook has an object");
        let gvk = gvk_of(t, self.live);
        let retry = &self.req.retry;
        let named = object::name(&obj).is_some();
        let key = if named {
            if t.hook_delete
                .contains(&HookDeletePolicy::BeforeHookCreation)
                && with_retry(
                    retry,
                    |_| false,
                    || self.cluster.delete(&gvk, &t.key, Propagation::Background),
                )
                .await?
            {
                wait::gone(self.cluster, &gvk, &t.key, self.req.health_timeout, retry).await?;
            }
            let opts = ApplyOptions {
                force: true,
                ..Default::default()
            };
            with_retry(retry, |_| false, || self.cluster.apply(&obj, &opts)).await?;
            t.key.clone()
        } else {
            let created = with_retry(retry, |_| false, || self.cluster.create(&obj)).await?;
            object::key(&created).unwrap_or_else(|| t.key.clone())
        };
        let h = wait::health(
            self.cluster,
            self.assessor,
            &gvk,
            &key,
            self.req.health_timeout,
            retry,
        )
        .await?;
        let outcome = if matches!(h.status, HealthStatus::Healthy | HealthStatus::Suspended) {
            Outcome::HookSucceeded
        } else {
            Outcome::HookFailed
        };
        Ok((outcome, h))
    }
}

/// An object's `metadata.resourceVersion`.
fn version(obj: &Value) -> Option<String> {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_string)
}

/// An error message with any Secret value of the object cut out: the API server quotes
/// offending values (a typed-patch failure prints the value it could not convert).
fn mask_error(e: &ClusterError, obj: Option<&Value>) -> String {
    let mut msg = e.to_string();
    let Some(obj) = obj.filter(|o| normalize::is_secret(o)) else {
        return msg;
    };
    for field in ["data", "stringData"] {
        if let Some(m) = obj.get(field).and_then(Value::as_object) {
            for v in m.values() {
                let text = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                if text.len() >= 3 {
                    msg = msg.replace(&text, "++++++++");
                }
            }
        }
    }
    msg
}
