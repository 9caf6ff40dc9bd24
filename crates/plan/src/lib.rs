//! Sync planning (pure): from the desired set, the comparison and the tracked live objects
//! to an ordered [`SyncPlan`] — or a refusal that says why nothing will be touched.
//!
//! Order: PreSync hooks → Sync (resources and Sync hooks) → prunes → PostSync hooks, each
//! phase in ascending waves (`driftless.dev/sync-wave`, or Argo CD's), kinds ordered inside a
//! wave ([`order`]). Prunes run after the applies, in descending waves and reverse kind order
//! (dependents before what they depend on), `PruneLast=true` ones at the very end. SyncFail
//! hooks are planned aside and run only when the sync fails.
//!
//! Guards (the refusals are whole: a refused plan touches nothing): no prune from an empty
//! render unless `allow_empty`; no deleting more than `prune_guard_percent` of the tracked
//! objects unless forced; no critical deletion (Namespace, PV, PVC, CRD) unless confirmed; no
//! sync while a desired resource is tracked by another application.

pub mod annotations;
pub mod order;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use driftless_core::cluster::Propagation;
use driftless_core::desired::DesiredObject;
use driftless_core::{DesiredSet, ResourceKey};
use driftless_diff::{Comparison, Impact, SyncStatus, impact};

pub use annotations::{HookDeletePolicy, Phase, SyncOptions};

/// What the executor does with one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Action {
    /// Server-side apply.
    Apply,
    /// Replace wholesale (`Replace=true`).
    Replace,
    /// Create the destination namespace (`CreateNamespace=true`); not tracked, never pruned.
    CreateNamespace,
    /// Run a hook: delete the previous run per policy, create, wait for completion.
    RunHook,
    Prune {
        propagation: Propagation,
    },
}

/// One object's part in the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub key: ResourceKey,
    pub phase: Phase,
    pub wave: i32,
    pub action: Action,
    /// The rendered object (applies and hooks).
    #[serde(skip)]
    pub object: Option<Value>,
    pub hook_delete: Vec<HookDeletePolicy>,
    pub options: SyncOptions,
    pub status: Option<SyncStatus>,
    pub impact: Impact,
}

/// Tasks executed together: the executor waits for every one to be healthy (or gone)
/// before the next step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub phase: Phase,
    pub wave: i32,
    pub prune: bool,
    pub tasks: Vec<Task>,
}

/// A resource the plan leaves alone, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub key: ResourceKey,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct SyncPlan {
    pub steps: Vec<Step>,
    /// Run only when a step fails.
    pub sync_fail: Vec<Task>,
    pub skipped: Vec<Skipped>,
}

impl SyncPlan {
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.steps.iter().flat_map(|s| s.tasks.iter())
    }
}

/// Sync-wide choices (CLI flags or the application's sync policy).
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub app: String,
    pub prune: bool,
    pub force: bool,
    pub allow_empty: bool,
    pub prune_guard_percent: u8,
    pub confirm_critical: bool,
    pub sync_options: SyncOptions,
    pub destination_namespace: Option<String>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            app: String::new(),
            prune: false,
            force: false,
            allow_empty: false,
            prune_guard_percent: 50,
            confirm_critical: false,
            sync_options: SyncOptions::default(),
            destination_namespace: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("application {app}: {key}: {message}")]
    Annotation {
        app: String,
        key: Box<ResourceKey>,
        message: String,
    },
    #[error(
        "application {app}: the render is empty and would prune all {tracked} tracked objects; refusing (set allowEmpty if the application really should be empty)"
    )]
    EmptyRender { app: String, tracked: usize },
    #[error(
        "application {app}: this sync would delete {deleting} of {tracked} tracked objects (more than {limit}%); refusing — check the render, or sync with --force if it is intended"
    )]
    PruneGuard {
        app: String,
        deleting: usize,
        tracked: usize,
        limit: u8,
    },
    #[error("application {app}: deleting {} destroys data or everything inside it; confirm explicitly (--confirm-critical) to proceed", keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", "))]
    CriticalDeletion { app: String, keys: Vec<ResourceKey> },
    #[error("application {app}: {} tracked by another application; nothing was synced (remove them from one of the applications)", keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", "))]
    Conflicts { app: String, keys: Vec<ResourceKey> },
}

/// Splits a desired set into resources (compared, tracked, pruned) and hooks (run, never
/// compared). `Skip` hooks are dropped.
pub fn split_hooks(
    desired: &DesiredSet,
) -> Result<(DesiredSet, Vec<DesiredObject>), (ResourceKey, String)> {
    let mut resources = DesiredSet::new();
    let mut hooks = Vec::new();
    for d in desired.iter() {
        let (phases, skip) = annotations::hook(&d.object).map_err(|m| (d.key.clone(), m))?;
        if skip {
            continue;
        }
        if phases.is_empty() {
            resources
                .insert(d.key.clone(), d.object.clone(), d.origin.clone())
                .expect("keys are unique in the source set");
        } else {
            hooks.push(d.clone());
        }
    }
    Ok((resources, hooks))
}

/// Plans a sync. `comparison` covers the resources of `desired` (hooks excluded) and the
/// extraneous tracked objects; `tracked` counts the live objects the app tracks.
pub fn plan(
    desired: &DesiredSet,
    hooks: &[DesiredObject],
    comparison: &Comparison,
    live: &BTreeMap<ResourceKey, Value>,
    opts: &PlanOptions,
) -> Result<SyncPlan, PlanError> {
    let app = &opts.app;
    let annotation_err = |key: &ResourceKey, message: String| PlanError::Annotation {
        app: app.clone(),
        key: Box::new(key.clone()),
        message,
    };
    let conflicts: Vec<ResourceKey> = comparison
        .resources
        .iter()
        .filter(|r| r.status == SyncStatus::Conflict)
        .map(|r| r.key.clone())
        .collect();
    if !conflicts.is_empty() {
        return Err(PlanError::Conflicts {
            app: app.clone(),
            keys: conflicts,
        });
    }

    let mut plan = SyncPlan::default();
    let mut tasks: Vec<Task> = Vec::new();
    let tracked = comparison
        .resources
        .iter()
        .filter(|r| r.status != SyncStatus::Missing)
        .filter(|r| live.contains_key(&r.key))
        .count();

    if opts.sync_options.create_namespace == Some(true)
        && let Some(ns) = &opts.destination_namespace
    {
        let key = ResourceKey::new("", "Namespace", "", ns);
        if desired.get(&key).is_none() {
            tasks.push(Task {
                key,
                phase: Phase::PreSync,
                wave: i32::MIN,
                action: Action::CreateNamespace,
                object: Some(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})),
                hook_delete: Vec::new(),
                options: SyncOptions::default(),
                status: None,
                impact: impact::of_create(&ResourceKey::new("", "Namespace", "", ns)),
            });
        }
    }

    let mut prunes = Vec::new();
    for r in &comparison.resources {
        match r.status {
            SyncStatus::Extraneous => {
                let Some(obj) = live.get(&r.key) else {
                    continue;
                };
                let options = SyncOptions::of(obj)
                    .map_err(|m| annotation_err(&r.key, m))?
                    .over(&opts.sync_options);
                let wave = annotations::wave(obj).unwrap_or(0);
                if !opts.prune {
                    plan.skipped.push(Skipped {
                        key: r.key.clone(),
                        reason: "requires pruning (sync with prune)".into(),
                    });
                } else if options.prune == Some(false) {
                    plan.skipped.push(Skipped {
                        key: r.key.clone(),
                        reason: "Prune=false: left in the cluster".into(),
                    });
                } else {
                    prunes.push(Task {
                        key: r.key.clone(),
                        phase: Phase::Sync,
                        wave,
                        action: Action::Prune {
                            propagation: options.prune_propagation.unwrap_or_default(),
                        },
                        object: None,
                        hook_delete: Vec::new(),
                        options,
                        status: Some(r.status),
                        impact: r.impact.clone(),
                    });
                }
            }
            SyncStatus::Synced | SyncStatus::OutOfSync | SyncStatus::Missing => {
                let Some(obj) = desired.get(&r.key) else {
                    continue;
                };
                let options = SyncOptions::of(obj)
                    .map_err(|m| annotation_err(&r.key, m))?
                    .over(&opts.sync_options);
                if r.status == SyncStatus::Synced && options.apply_out_of_sync_only == Some(true) {
                    continue;
                }
                let wave = annotations::wave(obj).map_err(|m| annotation_err(&r.key, m))?;
                tasks.push(Task {
                    key: r.key.clone(),
                    phase: Phase::Sync,
                    wave,
                    action: if options.replace == Some(true) {
                        Action::Replace
                    } else {
                        Action::Apply
                    },
                    object: Some(obj.clone()),
                    hook_delete: Vec::new(),
                    options,
                    status: Some(r.status),
                    impact: r.impact.clone(),
                });
            }
            SyncStatus::Conflict => {}
        }
    }

    if !prunes.is_empty() {
        if desired.is_empty() && !opts.allow_empty {
            return Err(PlanError::EmptyRender {
                app: app.clone(),
                tracked,
            });
        }
        let limit = opts.prune_guard_percent.min(100) as usize;
        if !opts.force && prunes.len() * 100 > tracked.max(1) * limit {
            return Err(PlanError::PruneGuard {
                app: app.clone(),
                deleting: prunes.len(),
                tracked,
                limit: opts.prune_guard_percent,
            });
        }
        let critical: Vec<ResourceKey> = prunes
            .iter()
            .filter(|t| impact::is_critical_delete(&t.key))
            .map(|t| t.key.clone())
            .collect();
        if !critical.is_empty() && !opts.confirm_critical {
            return Err(PlanError::CriticalDeletion {
                app: app.clone(),
                keys: critical,
            });
        }
    }

    for h in hooks {
        let (phases, _) = annotations::hook(&h.object).map_err(|m| annotation_err(&h.key, m))?;
        let hook_delete =
            annotations::hook_delete_policies(&h.object).map_err(|m| annotation_err(&h.key, m))?;
        let wave = annotations::wave(&h.object).map_err(|m| annotation_err(&h.key, m))?;
        for phase in phases {
            let t = Task {
                key: h.key.clone(),
                phase,
                wave,
                action: Action::RunHook,
                object: Some(h.object.clone()),
                hook_delete: hook_delete.clone(),
                options: SyncOptions::default(),
                status: None,
                impact: Impact::default(),
            };
            if phase == Phase::SyncFail {
                plan.sync_fail.push(t);
            } else {
                tasks.push(t);
            }
        }
    }

    // Applies and hooks: by phase, wave, kind, then name.
    tasks.sort_by(|a, b| {
        (a.phase, a.wave, order::kind_rank(&a.key.kind), &a.key).cmp(&(
            b.phase,
            b.wave,
            order::kind_rank(&b.key.kind),
            &b.key,
        ))
    });
    let (before, post): (Vec<Task>, Vec<Task>) =
        tasks.into_iter().partition(|t| t.phase != Phase::PostSync);
    push_steps(&mut plan.steps, before, false);
    // Prunes: descending waves, reverse kind order, PruneLast at the end.
    let (last, mut normal): (Vec<Task>, Vec<Task>) = prunes
        .into_iter()
        .partition(|t| t.options.prune_last == Some(true));
    normal.sort_by(|a, b| {
        (b.wave, order::kind_rank(&b.key.kind), &b.key).cmp(&(
            a.wave,
            order::kind_rank(&a.key.kind),
            &a.key,
        ))
    });
    push_steps(&mut plan.steps, normal, true);
    let mut last = last;
    last.sort_by(|a, b| {
        (order::kind_rank(&b.key.kind), &b.key).cmp(&(order::kind_rank(&a.key.kind), &a.key))
    });
    if !last.is_empty() {
        plan.steps.push(Step {
            phase: Phase::Sync,
            wave: i32::MAX,
            prune: true,
            tasks: last,
        });
    }
    push_steps(&mut plan.steps, post, false);
    Ok(plan)
}

/// Groups consecutive tasks of the same phase and wave into steps.
fn push_steps(steps: &mut Vec<Step>, tasks: Vec<Task>, prune: bool) {
    for t in tasks {
        match steps.last_mut() {
            Some(s) if s.phase == t.phase && s.wave == t.wave && s.prune == prune => {
                s.tasks.push(t)
            }
            _ => steps.push(Step {
                phase: t.phase,
                wave: t.wave,
                prune,
                tasks: vec![t],
            }),
        }
    }
}
