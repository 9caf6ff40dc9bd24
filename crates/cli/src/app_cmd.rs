//! `driftless app list|get|sync|history|events`: the engine's applications, through its API.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::app_args::Output;
use crate::client::ServerArgs;

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
fn step_line(step: &Value) -> String {
    if let Some(s) = step.get("step") {
        // The engine's own first step (CreateNamespace) runs before any wave.
        let wave = match s["wave"].as_i64() {
            Some(w) if w == i64::from(i32::MIN) => "first".to_string(),
            _ => s["wave"].to_string(),
        };
        return format!(
            "== {} wave {}{}: {} task(s)",
            s["phase"].as_str().unwrap_or_default(),
            wave,
            if s["prune"] == true { " (prune)" } else { "" },
            s["tasks"]
        );
    }
    let r = &step["resource"];
    let k = &r["key"];
    let group = k["group"].as_str().unwrap_or_default();
    let ns = k["namespace"].as_str().unwrap_or_default();
    let mut line = format!(
        "   {:<10} {}{}{}/{}",
        r["outcome"].as_str().unwrap_or_default(),
        if group.is_empty() {
            String::new()
        } else {
            format!("{group}/")
        },
        k["kind"].as_str().unwrap_or_default(),
        if ns.is_empty() {
            String::new()
        } else {
            format!(" {ns}")
        },
        k["name"].as_str().unwrap_or_default()
    );
    if let Some(h) = r["health"]["status"].as_str() {
        line.push_str(&format!(" [{h}]"));
    }
    if let Some(m) = r["message"].as_str().filter(|m| !m.is_empty()) {
        line.push_str(&format!(": {m}"));
    }
    line
}

fn status_line(a: &Value) -> String {
    let s = &a["status"];
    format!(
        "{:<32} {:<10} {:<12} {:<16} {}",
        a["name"].as_str().unwrap_or_default(),
        s["sync"]["status"].as_str().unwrap_or("Unknown"),
        s["health"]["status"].as_str().unwrap_or("Unknown"),
        s["sync"]["revision"]
            .as_str()
            .map(|r| &r[..r.len().min(14)])
            .unwrap_or(""),
        s["error"].as_str().unwrap_or_default()
    )
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
                    let page = client
                        .get(&format!("/api/v1/applications?limit=500&after={after}"))
                        .await?;
                    all.extend(page["items"].as_array().cloned().unwrap_or_default());
                    match page["next"].as_str() {
                        Some(n) => after = n.to_string(),
                        None => break,
                    }
                }
                if json {
                    print(&Value::Array(all));
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
                let r = client.post_text("/api/v1/applications", body).await?;
                for w in r["warnings"].as_array().into_iter().flatten() {
                    eprintln!("warning: {}", w.as_str().unwrap_or_default());
                }
                println!(
                    "application {} created",
                    r["application"].as_str().unwrap_or_default()
                );
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
                if cascade {
                    println!(
                        "application {name} deleted with its {} object(s)",
                        r["objectsDeleted"]
                    );
                } else {
                    println!("application {name} deleted (its objects stay in the cluster)");
                }
            }
            AppCommand::Get { name } => {
                let a = client.get(&format!("/api/v1/applications/{name}")).await?;
                if json {
                    print(&a);
                } else {
                    println!("{}", status_line(&a));
                    println!(
                        "source: {} {}",
                        a["spec"]["source"]["repoURL"].as_str().unwrap_or_default(),
                        a["spec"]["source"]["path"].as_str().unwrap_or_default()
                    );
                    for r in a["status"]["resources"].as_array().into_iter().flatten() {
                        println!(
                            "  {:<24} {:<14} {:<28} {}",
                            r["kind"].as_str().unwrap_or_default(),
                            r["namespace"].as_str().unwrap_or_default(),
                            r["name"].as_str().unwrap_or_default(),
                            r["status"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
            AppCommand::Sync {
                name,
                wait,
                timeout,
            } => {
                let before = client
                    .get(&format!("/api/v1/applications/{name}/operations"))
                    .await?;
                let last_id = before["items"][0]["id"].as_i64().unwrap_or(0);
                client
                    .post(&format!("/api/v1/applications/{name}/sync"))
                    .await?;
                if !wait {
                    println!("{name}: sync queued");
                    return Ok(ExitCode::SUCCESS);
                }
                let deadline = Instant::now() + timeout;
                loop {
                    let ops = client
                        .get(&format!("/api/v1/applications/{name}/operations"))
                        .await?;
                    let done = ops["items"].as_array().into_iter().flatten().find(|o| {
                        o["id"].as_i64().unwrap_or(0) > last_id && o["phase"] != "Running"
                    });
                    if let Some(op) = done {
                        if json {
                            print(op);
                        } else {
                            println!(
                                "{name}: {} — {}",
                                op["phase"].as_str().unwrap_or_default(),
                                op["result"]["message"].as_str().unwrap_or_default()
                            );
                        }
                        return Ok(if op["phase"] == "Succeeded" {
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
                let body = serde_json::json!({"duration": duration, "reason": reason});
                let r = client
                    .post_json(&format!("/api/v1/applications/{name}/pause-heal"), &body)
                    .await?;
                if json {
                    print(&r);
                } else {
                    println!(
                        "{name}: self-heal paused for {}s ({reason})",
                        r["pausedSeconds"]
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
                let body = serde_json::json!({"id": id, "toTime": to_time, "revert": revert});
                let r = client
                    .post_json(&format!("/api/v1/applications/{name}/rollback"), &body)
                    .await?;
                if json {
                    print(&r);
                } else {
                    match r["revertCommit"].as_str() {
                        Some(c) => println!(
                            "{name}: rolling back to {} with revert commit {c} on {}",
                            r["revision"].as_str().unwrap_or_default(),
                            r["branch"].as_str().unwrap_or_default()
                        ),
                        None => println!(
                            "{name}: rolling back to {}",
                            r["revision"].as_str().unwrap_or_default()
                        ),
                    }
                }
            }
            AppCommand::Diff { name, exit_code } => {
                let d = client
                    .get(&format!("/api/v1/applications/{name}/diff"))
                    .await?;
                let cmp = &d["comparison"];
                if json {
                    print(cmp);
                } else {
                    for r in cmp["resources"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|r| r["status"] != "Synced")
                    {
                        println!(
                            "===== {} {}  impact: {} ({})",
                            r["key"]["kind"].as_str().unwrap_or_default(),
                            r["key"]["name"].as_str().unwrap_or_default(),
                            r["impact"]["grade"].as_str().unwrap_or_default(),
                            r["impact"]["reason"].as_str().unwrap_or_default()
                        );
                        print!("{}", r["diff"].as_str().unwrap_or_default());
                    }
                    let s = &cmp["summary"];
                    println!(
                        "{name}: {} to create, {} to update, {} to delete, {} unchanged",
                        s["create"], s["update"], s["delete"], s["unchanged"]
                    );
                }
                let s = &cmp["summary"];
                let changes = ["create", "update", "delete", "conflicts"]
                    .iter()
                    .map(|k| s[*k].as_i64().unwrap_or(0))
                    .sum::<i64>();
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
                    let a = client.get(&format!("/api/v1/applications/{name}")).await?;
                    let s = &a["status"];
                    let (sync_status, health_status) = (
                        s["sync"]["status"].as_str().unwrap_or("Unknown"),
                        s["health"]["status"].as_str().unwrap_or("Unknown"),
                    );
                    let running = !s["operation"]["running"].is_null();
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
                let h = client
                    .get(&format!("/api/v1/applications/{name}/history"))
                    .await?;
                if json {
                    print(&h["items"]);
                } else {
                    println!(
                        "{:<6} {:<44} {:<10} OPERATION",
                        "ID", "REVISION", "DEPLOYED"
                    );
                    for e in h["items"].as_array().into_iter().flatten() {
                        println!(
                            "{:<6} {:<44} {:<10} {}",
                            e["id"],
                            e["revision"].as_str().unwrap_or_default(),
                            e["deployed_ms"],
                            e["operation_id"]
                        );
                    }
                }
            }
            AppCommand::LogsOfOperation { name, id, follow } => {
                let id = match id {
                    Some(id) => id,
                    None => client
                        .get(&format!("/api/v1/applications/{name}/operations"))
                        .await?["items"][0]["id"]
                        .as_i64()
                        .ok_or_else(|| {
                            anyhow::anyhow!("application {name} has no operations yet")
                        })?,
                };
                let (mut shown, mut header) = (0, false);
                loop {
                    let op = client
                        .get(&format!("/api/v1/applications/{name}/operations/{id}"))
                        .await?;
                    if json {
                        print(&op);
                        break;
                    }
                    if !header {
                        header = true;
                        println!(
                            "operation {id}: {} of {} at {}: {}",
                            op["kind"].as_str().unwrap_or_default(),
                            name,
                            op["revision"].as_str().unwrap_or_default(),
                            op["request"]["reason"].as_str().unwrap_or_default()
                        );
                    }
                    let steps = op["progress"].as_array().cloned().unwrap_or_default();
                    for step in steps.iter().skip(shown) {
                        println!("{}", step_line(step));
                    }
                    shown = steps.len();
                    let phase = op["phase"].as_str().unwrap_or_default();
                    if phase != "Running" {
                        let message = op["result"]["message"].as_str().unwrap_or_default();
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
                let ev = client
                    .get(&format!("/api/v1/applications/{name}/events"))
                    .await?;
                if json {
                    print(&ev["items"]);
                } else {
                    for e in ev["items"].as_array().into_iter().flatten() {
                        println!(
                            "{:<20} {:<8} {}",
                            e["kind"].as_str().unwrap_or_default(),
                            e["severity"].as_str().unwrap_or_default(),
                            e["message"].as_str().unwrap_or_default()
                        );
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
