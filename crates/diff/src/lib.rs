//! Desired-vs-live comparison (pure): tells, per resource, whether the cluster matches Git,
//! what differs, and how much the difference matters.
//!
//! Flow per resource: the desired object is [`prepare`]d (normalized, tracking annotation
//! set, exactly as it will be applied); the live object is merged with it the way server-side
//! apply would ([`predict`]), unless the server already answered a dry-run apply; both sides
//! lose server-owned fields ([`normalize`]) and ignored fields ([`ignore`]); the result is
//! Synced when they are equal, else a list of [`changes`], an [`impact`] grade and a unified
//! YAML diff with Secret values [`mask`]ed.

pub mod changes;
pub mod ignore;
pub mod impact;
pub mod managed;
pub mod mask;
pub mod normalize;
pub mod predict;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use driftless_core::tracking::{self, Owner};
use driftless_core::{DesiredSet, ResourceKey, object, schema};

pub use changes::{Change, ChangeOp};
pub use ignore::IgnoreRule;
pub use impact::{Grade, Impact};
pub use predict::FIELD_MANAGER;

/// Sync status of one resource (Argo CD's vocabulary, plus Conflict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum SyncStatus {
    Synced,
    OutOfSync,
    /// Desired, not in the cluster.
    Missing,
    /// Tracked by this application, no longer desired (pruned by a sync with prune).
    Extraneous,
    /// Desired, but the live object is tracked by another application.
    Conflict,
}

/// The comparison of one resource.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResourceDiff {
    pub key: ResourceKey,
    pub status: SyncStatus,
    pub impact: Impact,
    pub changes: Vec<Change>,
    /// Unified YAML diff (live → desired), Secret values masked; empty when Synced.
    pub diff: String,
    pub message: String,
    pub warnings: Vec<String>,
}

/// Counts a CI job or a Lua script consumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    pub conflicts: usize,
    pub warnings: usize,
    /// The highest impact grade among the changes.
    pub max_impact: Grade,
}

impl Summary {
    pub fn in_sync(&self) -> bool {
        self.create + self.update + self.delete + self.conflicts == 0
    }
}

/// The comparison of one application.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Comparison {
    pub resources: Vec<ResourceDiff>,
    pub summary: Summary,
}

/// What the comparison needs to know about the application.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    pub app: String,
    pub ignore: Vec<IgnoreRule>,
    /// Also set the `app.kubernetes.io/instance` label on applied objects.
    pub instance_label: bool,
}

/// The object exactly as Driftless applies it: normalized and marked with its tracking id.
pub fn prepare(desired: &Value, key: &ResourceKey, opts: &CompareOptions) -> Value {
    let mut out = normalize::desired(desired);
    tracking::mark(&mut out, &opts.app, key, opts.instance_label);
    out
}

/// Compares one resource. `desired` is the rendered object (not yet [`prepare`]d);
/// `predicted` is the server's dry-run answer when there is one.
pub fn compare_resource(
    key: &ResourceKey,
    desired: Option<&Value>,
    live: Option<&Value>,
    predicted: Option<&Value>,
    opts: &CompareOptions,
) -> ResourceDiff {
    let mut out = ResourceDiff {
        key: key.clone(),
        status: SyncStatus::Synced,
        impact: Impact::default(),
        changes: Vec::new(),
        diff: String::new(),
        message: String::new(),
        warnings: Vec::new(),
    };
    let rules: Vec<&IgnoreRule> = opts.ignore.iter().filter(|r| r.matches(key)).collect();
    match (desired, live) {
        (None, None) => {}
        (Some(d), None) => {
            let mut want = normalize::as_stored(prepare(d, key, opts));
            for r in &rules {
                r.strip(&mut want);
            }
            out.status = SyncStatus::Missing;
            out.impact = impact::of_create(key);
            out.diff = text_diff(key, None, Some(&mut want));
        }
        (None, Some(l)) => {
            let mut have = normalize::live(l);
            out.status = SyncStatus::Extraneous;
            out.impact = impact::of_delete(key);
            out.diff = text_diff(key, Some(&mut have), None);
        }
        (Some(d), Some(l)) => {
            if let Owner::App(other) = tracking::owner(l)
                && other != opts.app
            {
                out.status = SyncStatus::Conflict;
                out.message = format!(
                    "{key} is tracked by application `{other}`; it is not taken over (remove it from one of the two applications)"
                );
                return out;
            }
            let want = normalize::as_stored(prepare(d, key, opts));
            let mut pred = match predicted {
                Some(p) => normalize::as_stored(p.clone()),
                None => predict::predict(l, &want),
            };
            for r in &rules {
                for m in &r.managed_fields_managers {
                    if let Some(owned) = managed::fields_of(l, m) {
                        managed::copy_owned(&mut pred, l, owned);
                    }
                }
            }
            let mut have = normalize::live(l);
            normalize::strip_server_fields(&mut pred);
            for r in &rules {
                r.strip(&mut have);
                r.strip(&mut pred);
            }
            if have != pred {
                let def = object::gvk(&want).and_then(|g| schema::builtin().definition_name(&g));
                out.changes = changes::changes(&have, &pred, def);
                let replicas = pred.pointer("/spec/replicas").and_then(Value::as_i64);
                out.impact = impact::of_update(key, &out.changes, replicas);
                out.status = SyncStatus::OutOfSync;
                out.diff = text_diff(key, Some(&mut have), Some(&mut pred));
            }
        }
    }
    out
}

fn text_diff(
    key: &ResourceKey,
    mut live: Option<&mut Value>,
    mut want: Option<&mut Value>,
) -> String {
    // Keys sorted (as Go's YAML does for Argo CD's diffs): the text shows content changes,
    // never the order in which a server or a renderer wrote the keys.
    {
        let mut both: Vec<&mut Value> = Vec::new();
        both.extend(live.as_deref_mut());
        both.extend(want.as_deref_mut());
        mask::mask_secrets(&mut both);
    }
    let a = live
        .map(|v| driftless_core::yaml::to_yaml(&sorted(v)))
        .unwrap_or_default();
    let b = want
        .map(|v| driftless_core::yaml::to_yaml(&sorted(v)))
        .unwrap_or_default();
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("live/{key}"), &format!("desired/{key}"))
        .to_string()
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Compares an application: every desired resource against its live object, and every live
/// object tracked by `opts.app` that is no longer desired. `live` holds the live objects of
/// the desired keys (whoever owns them) and all objects tracked by the app; `predicted`
/// holds dry-run answers by key where the server gave them.
pub fn compare(
    desired: &DesiredSet,
    live: &BTreeMap<ResourceKey, Value>,
    predicted: &HashMap<ResourceKey, Value>,
    opts: &CompareOptions,
) -> Comparison {
    let mut resources = Vec::with_capacity(desired.len());
    for d in desired.iter() {
        resources.push(compare_resource(
            &d.key,
            Some(&d.object),
            live.get(&d.key),
            predicted.get(&d.key),
            opts,
        ));
    }
    for (key, l) in live {
        if desired.get(key).is_none() && tracking::owner(l) == Owner::App(opts.app.clone()) {
            resources.push(compare_resource(key, None, Some(l), None, opts));
        }
    }
    let summary = summarize(&resources);
    Comparison { resources, summary }
}

pub fn summarize(resources: &[ResourceDiff]) -> Summary {
    let mut s = Summary::default();
    for r in resources {
        match r.status {
            SyncStatus::Synced => s.unchanged += 1,
            SyncStatus::OutOfSync => s.update += 1,
            SyncStatus::Missing => s.create += 1,
            SyncStatus::Extraneous => s.delete += 1,
            SyncStatus::Conflict => s.conflicts += 1,
        }
        if !r.warnings.is_empty() {
            s.warnings += 1;
        }
        s.max_impact = s.max_impact.max(r.impact.grade);
    }
    s
}
