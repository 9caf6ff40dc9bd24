//! What manifests say about how they are synced: hooks, waves and per-resource sync
//! options, read from Driftless's own annotations and, so existing repositories work
//! unchanged, Argo CD's (`argocd.argoproj.io/*`) and Helm's hook annotations.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use driftless_core::object::annotation;

pub const WAVE: [&str; 2] = ["driftless.dev/sync-wave", "argocd.argoproj.io/sync-wave"];
pub const HOOK: [&str; 2] = ["driftless.dev/hook", "argocd.argoproj.io/hook"];
pub const HOOK_DELETE: [&str; 2] = [
    "driftless.dev/hook-delete-policy",
    "argocd.argoproj.io/hook-delete-policy",
];
pub const SYNC_OPTIONS: [&str; 2] = [
    "driftless.dev/sync-options",
    "argocd.argoproj.io/sync-options",
];

fn first<'a>(obj: &'a Value, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| annotation(obj, n))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Phase {
    PreSync,
    Sync,
    PostSync,
    SyncFail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HookDeletePolicy {
    HookSucceeded,
    HookFailed,
    BeforeHookCreation,
}

/// A manifest's sync wave (0 when absent); an unparsable wave is an error naming it.
pub fn wave(obj: &Value) -> Result<i32, String> {
    match first(obj, &WAVE) {
        None => Ok(0),
        Some(w) => w
            .trim()
            .parse()
            .map_err(|_| format!("sync-wave `{w}` is not an integer")),
    }
}

/// The hook phases of a manifest (empty: a normal resource). `Skip` yields `Err(())`-free
/// empty phases with `skip = true`.
pub fn hook(obj: &Value) -> Result<(Vec<Phase>, bool), String> {
    let mut phases = Vec::new();
    let mut skip = false;
    if let Some(h) = first(obj, &HOOK) {
        for p in h.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p {
                "PreSync" => phases.push(Phase::PreSync),
                "Sync" => phases.push(Phase::Sync),
                "PostSync" => phases.push(Phase::PostSync),
                "SyncFail" => phases.push(Phase::SyncFail),
                "Skip" => skip = true,
                other => {
                    return Err(format!(
                        "hook `{other}` is not PreSync, Sync, PostSync, SyncFail or Skip"
                    ));
                }
            }
        }
    } else if let Some(h) = annotation(obj, "helm.sh/hook") {
        for p in h.split(',').map(str::trim) {
            match p {
                "pre-install" | "pre-upgrade" => phases.push(Phase::PreSync),
                "post-install" | "post-upgrade" => phases.push(Phase::PostSync),
                _ => {}
            }
        }
    }
    phases.sort();
    phases.dedup();
    Ok((phases, skip))
}

/// Hook delete policies; BeforeHookCreation when none is given (as in Argo CD).
pub fn hook_delete_policies(obj: &Value) -> Result<Vec<HookDeletePolicy>, String> {
    let Some(v) =
        first(obj, &HOOK_DELETE).or_else(|| annotation(obj, "helm.sh/hook-delete-policy"))
    else {
        return Ok(vec![HookDeletePolicy::BeforeHookCreation]);
    };
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p {
            "HookSucceeded" | "hook-succeeded" => Ok(HookDeletePolicy::HookSucceeded),
            "HookFailed" | "hook-failed" => Ok(HookDeletePolicy::HookFailed),
            "BeforeHookCreation" | "before-hook-creation" => Ok(HookDeletePolicy::BeforeHookCreation),
            other => Err(format!("hook-delete-policy `{other}` is not HookSucceeded, HookFailed or BeforeHookCreation")),
        })
        .collect()
}

/// Sync options, app-wide (`syncPolicy.syncOptions`) or per resource (annotation), in
/// Argo CD's `Name=value` form. Unset options are `None` so a resource's annotation can
/// override the application's choice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncOptions {
    pub prune: Option<bool>,
    pub delete: Option<bool>,
    pub prune_last: Option<bool>,
    pub replace: Option<bool>,
    pub validate: Option<bool>,
    pub server_side_apply: Option<bool>,
    pub create_namespace: Option<bool>,
    pub apply_out_of_sync_only: Option<bool>,
    pub prune_propagation: Option<driftless_core::cluster::Propagation>,
    pub force: Option<bool>,
}

impl SyncOptions {
    /// Parses `Name=value` items; unknown names are errors (a typo must not silently turn a
    /// guard off).
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut o = SyncOptions::default();
        for item in items {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("sync option `{item}` is not Name=value"))?;
            let flag = || match value.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                v => Err(format!("sync option {name}: `{v}` is not true or false")),
            };
            match name.trim() {
                "Prune" => o.prune = Some(flag()?),
                "Delete" => o.delete = Some(flag()?),
                "PruneLast" => o.prune_last = Some(flag()?),
                "Replace" => o.replace = Some(flag()?),
                "Validate" => o.validate = Some(flag()?),
                "ServerSideApply" => o.server_side_apply = Some(flag()?),
                "CreateNamespace" => o.create_namespace = Some(flag()?),
                "ApplyOutOfSyncOnly" => o.apply_out_of_sync_only = Some(flag()?),
                "Force" => o.force = Some(flag()?),
                "PrunePropagationPolicy" => {
                    o.prune_propagation = Some(
                        driftless_core::cluster::Propagation::parse(value)
                            .ok_or_else(|| format!("PrunePropagationPolicy `{value}` is not foreground, background or orphan"))?,
                    )
                }
                // Accepted for compatibility; they change nothing here.
                "RespectIgnoreDifferences" | "FailOnSharedResource" | "SkipDryRunOnMissingResource" => {}
                other => return Err(format!("unknown sync option `{other}`")),
            }
        }
        Ok(o)
    }

    /// The options of a manifest's annotation.
    pub fn of(obj: &Value) -> Result<Self, String> {
        match first(obj, &SYNC_OPTIONS) {
            None => Ok(Self::default()),
            Some(v) => Self::parse(v.split(',')),
        }
    }

    /// `self` with unset options taken from `app`.
    pub fn over(&self, app: &SyncOptions) -> SyncOptions {
        SyncOptions {
            prune: self.prune.or(app.prune),
            delete: self.delete.or(app.delete),
            prune_last: self.prune_last.or(app.prune_last),
            replace: self.replace.or(app.replace),
            validate: self.validate.or(app.validate),
            server_side_apply: self.server_side_apply.or(app.server_side_apply),
            create_namespace: self.create_namespace.or(app.create_namespace),
            apply_out_of_sync_only: self.apply_out_of_sync_only.or(app.apply_out_of_sync_only),
            prune_propagation: self.prune_propagation.or(app.prune_propagation),
            force: self.force.or(app.force),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn argo_annotations_are_read_and_typos_refused() {
        let obj = json!({"metadata": {"annotations": {
            "argocd.argoproj.io/sync-wave": "-2",
            "argocd.argoproj.io/hook": "PreSync,PostSync",
            "argocd.argoproj.io/hook-delete-policy": "HookSucceeded",
            "argocd.argoproj.io/sync-options": "Prune=false,PrunePropagationPolicy=background"}}});
        assert_eq!(wave(&obj), Ok(-2));
        assert_eq!(hook(&obj).unwrap().0, vec![Phase::PreSync, Phase::PostSync]);
        assert_eq!(
            hook_delete_policies(&obj).unwrap(),
            vec![HookDeletePolicy::HookSucceeded]
        );
        let o = SyncOptions::of(&obj).unwrap();
        assert_eq!(o.prune, Some(false));
        assert_eq!(
            o.prune_propagation,
            Some(driftless_core::cluster::Propagation::Background)
        );
        assert!(
            SyncOptions::parse(["Prun=false"])
                .unwrap_err()
                .contains("Prun")
        );
        let bad = json!({"metadata": {"annotations": {"driftless.dev/sync-wave": "one"}}});
        assert!(wave(&bad).unwrap_err().contains("`one`"));
    }
}
