//! `driftless app list|get|sync|history|events`: the engine's applications, through its API.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::app_args::Output;
use driftless_api::types::{
    AppCreated, AppDeleted, AppView, DiffView, Event, HealPaused, HistoryEntry, Items, Operation,
    Page, PauseHealRequest, Queued, RollbackRequest,
};
use driftless_diff::SyncStatus;
use driftless_engine::ProgressEntry;
use driftless_store::OperationPhase;

use crate::client::{ServerArgs, typed};

#[derive(Args)]
pub struct AppCmdArgs {
    #[command(subcommand)]
    command: AppCommand,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(short, long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

#[derive(Subcommand)]
enum AppCommand {
    /// Every application with its sync and health status.
    List,
    /// Create or replace an application from a YAML file (Driftless or Argo CD format).
    Create {
        #[arg(short = 'f', long = "file")]
        file: std::path::PathBuf,
    },
    /// Change fields of an application (audited); other fields are kept.
    Set(Box<SetArgs>),
    /// Stop managing an application (its objects stay in the cluster unless --cascade).
    Delete {
        name: String,
        /// Delete the application's objects first (Argo CD's cascade).
        #[arg(long)]
        cascade: bool,
        /// Let the cascade delete Namespaces, PVs, PVCs and CRDs.
        #[arg(long, requires = "cascade")]
        confirm_critical: bool,
    },
    /// One application: source, destination, status per resource.
    Get { name: String },
    /// Queue a sync; with --wait, wait for it and exit 1 when it fails.
    Sync {
        name: String,
        #[arg(long)]
        wait: bool,
        /// How long --wait waits (`90s`, `5m`).
        #[arg(long, default_value = "5m", value_parser = |s: &str| driftless_core::app::parse_duration(s).ok_or(format!("`{s}` is not a duration")))]
        timeout: Duration,
    },
    /// Pause self-heal during an incident (audited); drift is still recorded.
    PauseHeal {
        name: String,
        /// For how long (`30m`, `2h`; `0s` resumes now).
        #[arg(long = "for")]
        duration: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Roll back to a deployed revision (a history id; default: the previous deployment).
    /// With auto-sync the app stays there until a newer commit lands.
    Rollback {
        name: String,
        id: Option<i64>,
        /// Back to the deployment live at this time: RFC 3339 (`2026-11-23T09:30:00Z`) or an
        /// age (`2h`: two hours ago).
        #[arg(long, conflicts_with = "id")]
        to_time: Option<String>,
        /// Instead of pinning: write and push a commit that restores that deployment's
        /// files on the application's branch, so Git stays the source of truth.
        #[arg(long)]
        revert: bool,
    },
    /// What a sync would change now (through the engine), with impact and masked secrets;
    /// `--exit-code` exits 1 when out of sync.
    Diff {
        name: String,
        #[arg(long)]
        exit_code: bool,
    },
    /// Wait until the application is Synced and Healthy with no operation running (exit 1
    /// on timeout); `--health`, `--sync`, `--operation` wait for only those (Argo CD's
    /// `app wait`). Health is reported apart from the sync operation, which ends once its
    /// last wave is applied: `--health` waits for the rollout.
    Wait {
        name: String,
        /// Wait for health Healthy.
        #[arg(long)]
        health: bool,
        /// Wait for sync status Synced.
        #[arg(long)]
        sync: bool,
        /// Wait until no sync operation runs.
        #[arg(long)]
        operation: bool,
        #[arg(long, default_value = "5m", value_parser = |s: &str| driftless_core::app::parse_duration(s).ok_or(format!("`{s}` is not a duration")))]
        timeout: Duration,
    },
    /// Deployed revisions, newest first.
    History { name: String },
    /// Events (drift, syncs, errors), oldest first.
    Events { name: String },
    /// What an operation (sync, rollback) did, step by step: waves, each resource's outcome
    /// and health, the result. Default: the newest operation.
    LogsOfOperation {
        name: String,
        id: Option<i64>,
        /// Keep printing steps until the operation finishes.
        #[arg(long, short)]
        follow: bool,
    },
}

#[derive(Args)]
struct SetArgs {
    name: String,
    /// Branch, tag, commit or semver range to deploy.
    #[arg(long)]
    revision: Option<String>,
    /// Path inside the repository.
    #[arg(long)]
    path: Option<String>,
    /// Repository URL.
    #[arg(long)]
    repo: Option<String>,
    #[arg(long)]
    dest_namespace: Option<String>,
    #[arg(long)]
    project: Option<String>,
    /// Automated sync on or off.
    #[arg(long)]
    auto_sync: Option<bool>,
    /// Prune with automated sync (turns automated sync on).
    #[arg(long)]
    prune: Option<bool>,
    /// Self-heal with automated sync (turns automated sync on).
    #[arg(long)]
    self_heal: Option<bool>,
}

/// The JSON merge patch `app set` sends.
fn set_patch(a: &SetArgs) -> anyhow::Result<Value> {
    let mut patch = serde_json::json!({});
    let mut put = |path: &[&str], v: Value| {
        let mut at = &mut patch;
        for p in &path[..path.len() - 1] {
            at = at
                .as_object_mut()
                .expect("objects all the way down")
                .entry(p.to_string())
                .or_insert_with(|| serde_json::json!({}));
        }
        at[path[path.len() - 1]] = v;
    };
    for (field, v) in [
        (&["source", "targetRevision"][..], &a.revision),
        (&["source", "path"][..], &a.path),
        (&["source", "repoURL"][..], &a.repo),
        (&["destination", "namespace"][..], &a.dest_namespace),
        (&["project"][..], &a.project),
    ] {
        if let Some(v) = v {
            put(field, Value::String(v.clone()));
        }
    }
    let tuning = a.prune.is_some() || a.self_heal.is_some();
    match a.auto_sync {
        Some(false) if tuning => {
            bail!("--prune and --self-heal need automated sync; drop --auto-sync false")
        }
        Some(false) => put(&["syncPolicy", "automated"], Value::Null),
        Some(true) if !tuning => put(&["syncPolicy", "automated"], serde_json::json!({})),
        _ => {}
    }
    if let Some(p) = a.prune {
        put(&["syncPolicy", "automated", "prune"], Value::Bool(p));
    }
    if let Some(h) = a.self_heal {
        put(&["syncPolicy", "automated", "selfHeal"], Value::Bool(h));
    }
    if patch.as_object().is_some_and(|o| o.is_empty()) {
        bail!(
            "nothing to set: give at least one of --revision, --path, --repo, --dest-namespace, --project, --auto-sync, --prune, --self-heal"
        );
    }
    Ok(patch)
}

/// One recorded step of an operation, as a line.
fn step_line(step: &ProgressEntry) -> String {
    let r = match step {
        ProgressEntry::Step {
            phase,
            wave,
            prune,
            tasks,
        } => {
            // The engine's own first step (CreateNamespace) runs before any wave.
            let wave = if *wave == i32::MIN {
                "first".to_string()
            } else {
                wave.to_string()
            };
            return format!(
                "== {phase:?} wave {wave}{}: {tasks} task(s)",
                if *prune { " (prune)" } else { "" }
            );
        }
        ProgressEntry::Resource(r) => r,
    };
    let k = &r.key;
    let mut line = format!(
        "   {:<10} {}{}{}/{}",
        format!("{:?}", r.outcome),
        if k.group.is_empty() {
            String::new()
        } else {
            format!("{}/", k.group)
        },
        k.kind,
        if k.namespace.is_empty() {
            String::new()
        } else {
            format!(" {}", k.namespace)
        },
        k.name
    );
    if let Some(h) = &r.health {
        line.push_str(&format!(" [{}]", h.status.as_str()));
    }
    if !r.message.is_empty() {
        line.push_str(&format!(": {}", r.message));
    }
    line
}

fn status_line(a: &AppView) -> String {
    let s = &a.status;
    format!(
        "{:<32} {:<10} {:<12} {:<16} {}",
        a.name,
        s.sync.status.as_str(),
        s.health_status().map_or("Unknown", |h| h.as_str()),
        s.sync
            .revision
            .as_deref()
            .map(|r| &r[..r.len().min(14)])
            .unwrap_or(""),
        s.error.as_deref().unwrap_or_default()
    )
}

/// What an operation's record says in its `request` and `result` (the parts a person reads).
#[derive(serde::Deserialize, Default)]
struct OperationText {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
}

fn text_of(v: Option<&Value>) -> OperationText {
    v.and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

pub fn run(args: AppCmdArgs) -> anyhow::Result<ExitCode> {
    let client = args.server.client()?;
    let json = args.output == Output::Json;
    let print = |v: &Value| println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        match args.command {
            AppCommand::List => {
                let mut after = String::new();
                let mut all = Vec::new();
                loop {
                    let path = format!("/api/v1/applications?limit=500&after={after}");
                    let page: Page<AppView> = typed(&path, client.get(&path).await?)?;
                    all.extend(page.items);
                    match page.next {
                        Some(n) => after = n,
                        None => break,
                    }
                }
                if json {
                    print(&serde_json::to_value(&all)?);
                } else {
                    println!(
                        "{:<32} {:<10} {:<12} {:<16} ERROR",
                        "NAME", "SYNC", "HEALTH", "REVISION"
                    );
                    for a in &all {
                        println!("{}", status_line(a));
                    }
                }
            }
            AppCommand::Create { file } => {
                let body = std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
                let r: AppCreated = typed(
                    "create application",
                    client.post_text("/api/v1/applications", body).await?,
                )?;
                for w in &r.warnings {
                    eprintln!("warning: {w}");
                }
                println!("application {} created", r.application);
            }
            AppCommand::Set(a) => {
                let patch = set_patch(&a)?;
                let r = client
                    .patch_json(&format!("/api/v1/applications/{}", a.name), &patch)
                    .await?;
                if json {
                    print(&r);
                } else {
                    println!("application {} updated", a.name);
                }
            }
            AppCommand::Delete {
                name,
                cascade,
                confirm_critical,
            } => {
                let r = client
                    .delete(&format!(
                        "/api/v1/applications/{name}?cascade={cascade}&confirmCritical={confirm_critical}"
                    ))
                    .await?;
                let r: AppDeleted = typed("delete application", r)?;
                if cascade {
                    println!(
                        "application {name} deleted with its {} object(s)",
                        r.objects_deleted.unwrap_or_default()
                    );
                } else {
                    println!("application {name} deleted (its objects stay in the cluster)");
                }
            }
            AppCommand::Get { name } => {
                let raw = client.get(&format!("/api/v1/applications/{name}")).await?;
                if json {
                    print(&raw);
                } else {
                    let a: AppView = typed("application", raw)?;
                    let app: Option<driftless_core::app::Application> =
                        serde_json::from_value(a.spec.clone()).ok();
                    println!("{}", status_line(&a));
                    if let Some(app) = app {
                        println!("source: {} {}", app.source.repo_url, app.source.path);
                    }
                    for r in &a.status.resources {
                        println!(
                            "  {:<24} {:<14} {:<28} {:?}",
                            r.kind, r.namespace, r.name, r.status
                        );
                    }
                }
            }
            AppCommand::Sync {
                name,
                wait,
                timeout,
            } => {
                let ops_path = format!("/api/v1/applications/{name}/operations");
                let before: Items<Operation> = typed(&ops_path, client.get(&ops_path).await?)?;
                let last_id = before.items.first().map_or(0, |o| o.id);
                client
                    .post(&format!("/api/v1/applications/{name}/sync"))
                    .await?;
                if !wait {
                    println!("{name}: sync queued");
                    return Ok(ExitCode::SUCCESS);
                }
                let deadline = Instant::now() + timeout;
                loop {
                    let ops: Items<Operation> = typed(&ops_path, client.get(&ops_path).await?)?;
                    let done = ops
                        .items
                        .into_iter()
                        .find(|o| o.id > last_id && o.phase != OperationPhase::Running);
                    if let Some(op) = done {
                        if json {
                            print(&serde_json::to_value(&op)?);
                        } else {
                            println!(
                                "{name}: {:?} — {}",
                                op.phase,
                                text_of(op.result.as_ref()).message
                            );
                        }
                        return Ok(if op.phase == OperationPhase::Succeeded {
                            ExitCode::SUCCESS
                        } else {
                            ExitCode::from(1)
                        });
                    }
                    if Instant::now() > deadline {
                        bail!("{name}: the sync did not finish within {timeout:?}");
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            AppCommand::PauseHeal {
                name,
                duration,
                reason,
            } => {
                let body = serde_json::to_value(PauseHealRequest {
                    duration,
                    reason: reason.clone(),
                })?;
                let r = client
                    .post_json(&format!("/api/v1/applications/{name}/pause-heal"), &body)
                    .await?;
                if json {
                    print(&r);
                } else {
                    let r: HealPaused = typed("pause-heal", r)?;
                    println!(
                        "{name}: self-heal paused for {}s ({reason})",
                        r.paused_seconds
                    );
                }
            }
            AppCommand::Rollback {
                name,
                id,
                to_time,
                revert,
            } => {
                let to_time = to_time.as_deref().map(parse_time).transpose()?;
                let body = serde_json::to_value(RollbackRequest {
                    id,
                    to_time,
                    revert,
                    reason: None,
                })?;
                let r = client
                    .post_json(&format!("/api/v1/applications/{name}/rollback"), &body)
                    .await?;
                if json {
                    print(&r);
                } else {
                    let r: Queued = typed("rollback", r)?;
                    let revision = r.revision.unwrap_or_default();
                    match r.revert_commit {
                        Some(c) => println!(
                            "{name}: rolling back to {revision} with revert commit {c} on {}",
                            r.branch.unwrap_or_default()
                        ),
                        None => println!("{name}: rolling back to {revision}"),
                    }
                }
            }
            AppCommand::Diff { name, exit_code } => {
                let path = format!("/api/v1/applications/{name}/diff");
                let d: DiffView = typed(&path, client.get(&path).await?)?;
                let cmp = &d.comparison;
                if json {
                    print(&serde_json::to_value(cmp)?);
                } else {
                    for r in cmp.resources.iter().filter(|r| r.status != SyncStatus::Synced) {
                        println!(
                            "===== {} {}  impact: {} ({})",
                            r.key.kind, r.key.name, r.impact.grade, r.impact.reason
                        );
                        print!("{}", r.diff);
                    }
                    let s = &cmp.summary;
                    println!(
                        "{name}: {} to create, {} to update, {} to delete, {} unchanged",
                        s.create, s.update, s.delete, s.unchanged
                    );
                }
                let s = &cmp.summary;
                let changes = s.create + s.update + s.delete + s.conflicts;
                if exit_code && changes > 0 {
                    return Ok(ExitCode::from(1));
                }
            }
            AppCommand::Wait {
                name,
                health,
                sync,
                operation,
                timeout,
            } => {
                let deadline = Instant::now() + timeout;
                // No flag: all three, as `argocd app wait` does.
                let all = !(health || sync || operation);
                loop {
                    let path = format!("/api/v1/applications/{name}");
                    let a: AppView = typed(&path, client.get(&path).await?)?;
                    let s = &a.status;
                    let (sync_status, health_status) = (
                        s.sync.status.as_str(),
                        s.health_status().map_or("Unknown", |h| h.as_str()),
                    );
                    let running = s.operation.running.is_some();
                    let ok = ((!all && !sync) || sync_status == "Synced")
                        && ((!all && !health) || health_status == "Healthy")
                        && ((!all && !operation) || !running);
                    if ok {
                        println!("{name}: {sync_status}, {health_status}");
                        break;
                    }
                    if Instant::now() > deadline {
                        let op = if running { ", an operation running" } else { "" };
                        eprintln!(
                            "error: {name} is still {sync_status}, {health_status}{op} after {timeout:?}"
                        );
                        return Ok(ExitCode::from(1));
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            AppCommand::History { name } => {
                let path = format!("/api/v1/applications/{name}/history");
                let h: Items<HistoryEntry> = typed(&path, client.get(&path).await?)?;
                if json {
                    print(&serde_json::to_value(&h.items)?);
                } else {
                    println!(
                        "{:<6} {:<44} {:<10} OPERATION",
                        "ID", "REVISION", "DEPLOYED"
                    );
                    for e in &h.items {
                        println!(
                            "{:<6} {:<44} {:<10} {}",
                            e.id, e.revision, e.deployed_ms, e.operation_id
                        );
                    }
                }
            }
            AppCommand::LogsOfOperation { name, id, follow } => {
                let id = match id {
                    Some(id) => id,
                    None => {
                        let path = format!("/api/v1/applications/{name}/operations");
                        let ops: Items<Operation> = typed(&path, client.get(&path).await?)?;
                        ops.items.first().map(|o| o.id).ok_or_else(|| {
                            anyhow::anyhow!("application {name} has no operations yet")
                        })?
                    }
                };
                let (mut shown, mut header) = (0, false);
                loop {
                    let path = format!("/api/v1/applications/{name}/operations/{id}");
                    let raw = client.get(&path).await?;
                    if json {
                        print(&raw);
                        break;
                    }
                    let op: Operation = typed(&path, raw)?;
                    if !header {
                        header = true;
                        println!(
                            "operation {id}: {} of {} at {}: {}",
                            op.kind,
                            name,
                            op.revision,
                            text_of(Some(&op.request)).reason
                        );
                    }
                    let steps: Vec<ProgressEntry> = typed(&path, op.progress.clone())?;
                    for step in steps.iter().skip(shown) {
                        println!("{}", step_line(step));
                    }
                    shown = steps.len();
                    if op.phase != OperationPhase::Running {
                        let phase = format!("{:?}", op.phase);
                        let message = text_of(op.result.as_ref()).message;
                        println!(
                            "{phase}{}",
                            if message.is_empty() {
                                String::new()
                            } else {
                                format!(": {message}")
                            }
                        );
                        break;
                    }
                    if !follow {
                        println!("(still running; --follow to keep watching)");
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
            AppCommand::Events { name } => {
                let path = format!("/api/v1/applications/{name}/events");
                let ev: Items<Event> = typed(&path, client.get(&path).await?)?;
                if json {
                    print(&serde_json::to_value(&ev.items)?);
                } else {
                    for e in &ev.items {
                        println!("{:<20} {:<8} {}", e.kind, e.severity, e.message);
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `--to-time`: an RFC 3339 time, or an age (`90m`, `2h`) counted back from now; as RFC 3339.
fn parse_time(t: &str) -> anyhow::Result<String> {
    if let Ok(at) = t.parse::<jiff::Timestamp>() {
        return Ok(at.to_string());
    }
    let age = driftless_core::app::parse_duration(t).ok_or_else(|| {
        anyhow::anyhow!(
            "--to-time {t:?}: expected an RFC 3339 time (2026-11-23T09:30:00Z) or an age (30m, 2h)"
        )
    })?;
    let age = jiff::SignedDuration::try_from(age)?;
    Ok(jiff::Timestamp::now().checked_sub(age)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn set_builds_a_merge_patch_of_only_what_was_given() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: super::SetArgs,
        }
        let t = T::parse_from(["t", "web", "--revision", "v2", "--self-heal", "true"]);
        assert_eq!(
            super::set_patch(&t.a).unwrap(),
            serde_json::json!({"source": {"targetRevision": "v2"}, "syncPolicy": {"automated": {"selfHeal": true}}})
        );
        let t = T::parse_from(["t", "web", "--auto-sync", "false"]);
        assert_eq!(
            super::set_patch(&t.a).unwrap(),
            serde_json::json!({"syncPolicy": {"automated": null}})
        );
        let t = T::parse_from(["t", "web", "--auto-sync", "false", "--prune", "true"]);
        assert!(super::set_patch(&t.a).is_err());
        assert!(super::set_patch(&T::parse_from(["t", "web"]).a).is_err());
    }

    #[test]
    fn to_time_takes_rfc3339_or_an_age() {
        assert_eq!(
            parse_time("2026-11-23T09:30:00+01:00").unwrap(),
            "2026-11-23T08:30:00Z"
        );
        let two_hours_ago: jiff::Timestamp = parse_time("2h").unwrap().parse().unwrap();
        let expected = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2);
        assert!(
            two_hours_ago.duration_since(expected).abs() < jiff::SignedDuration::from_secs(5),
            "{two_hours_ago} vs {expected}"
        );
        let err = parse_time("yesterday").unwrap_err().to_string();
        assert!(
            err.contains("RFC 3339") && err.contains("yesterday"),
            "{err}"
        );
    }
}
