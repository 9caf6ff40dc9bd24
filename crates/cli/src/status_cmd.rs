//! `driftless status`: sync status and health of every resource of an application, and
//! the application's aggregate (the worst resource's health, as in Argo CD).

use std::process::ExitCode;

use clap::Args;
use driftless_diff::SyncStatus;
use driftless_engine::{compare_with_cluster, load};
use driftless_health::{Health, worst};
use serde::Serialize;

use crate::app_args::{AppArgs, Output};

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    app: AppArgs,
}

#[derive(Serialize)]
struct Row {
    group: String,
    kind: String,
    namespace: String,
    name: String,
    status: SyncStatus,
    health: Option<Health>,
}

#[derive(Serialize)]
struct Status {
    app: String,
    sync: &'static str,
    health: Health,
    summary: driftless_diff::Summary,
    resources: Vec<Row>,
}

pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let target = args.app.target()?;
    let assessor = args.app.assessor()?;
    let rt = tokio::runtime::Runtime::new()?;
    let (cmp, loaded) = rt.block_on(async {
        let cluster = args.app.cluster.connect().await?;
        let loaded = load(
            &cluster,
            &target.app.name,
            &target.rendered,
            target.destination_namespace().as_deref(),
            &[],
        )
        .await?;
        let cmp = compare_with_cluster(
            &cluster,
            &loaded,
            &target.compare_options(),
            args.app.server_side(),
            None,
        )
        .await;
        anyhow::Ok((cmp, loaded))
    })?;
    let rows: Vec<Row> = cmp
        .resources
        .iter()
        .map(|r| Row {
            group: r.key.group.clone(),
            kind: r.key.kind.clone(),
            namespace: r.key.namespace.clone(),
            name: r.key.name.clone(),
            status: r.status,
            health: assessor.assess(loaded.live.get(&r.key)),
        })
        .collect();
    let health = worst(
        rows.iter()
            .filter(|r| r.status != SyncStatus::Extraneous)
            .filter_map(|r| r.health.as_ref()),
    );
    let status = Status {
        app: target.app.name.clone(),
        sync: if cmp.summary.in_sync() {
            "Synced"
        } else {
            "OutOfSync"
        },
        health,
        summary: cmp.summary.clone(),
        resources: rows,
    };
    match args.app.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&status)?),
        Output::Text => {
            println!(
                "Application {}: {}, {}{}",
                status.app,
                status.sync,
                status.health.status,
                if status.health.message.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", status.health.message)
                }
            );
            println!(
                "{:<28} {:<14} {:<28} {:<11} {:<12} MESSAGE",
                "KIND", "NAMESPACE", "NAME", "SYNC", "HEALTH"
            );
            for r in &status.resources {
                let kind = if r.group.is_empty() {
                    r.kind.clone()
                } else {
                    format!("{}.{}", r.kind, r.group)
                };
                let (h, m) = r
                    .health
                    .as_ref()
                    .map(|h| (h.status.to_string(), h.message.clone()))
                    .unwrap_or_default();
                println!(
                    "{kind:<28} {:<14} {:<28} {:<11} {h:<12} {m}",
                    r.namespace,
                    r.name,
                    format!("{:?}", r.status)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
