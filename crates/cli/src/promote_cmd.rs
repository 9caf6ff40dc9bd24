//! Promotion from the command line, through a running engine's API:
//! `driftless promote PIPELINE --to prod [--from staging] [--wait]`, `driftless approve ID`,
//! `driftless reject ID`, `driftless promotion list|get`, `driftless pipeline list|get|apply|
//! delete` and `driftless dora`. `-o json` prints the promotion report a CI job keeps;
//! `--wait` exits non-zero unless the promotion Succeeded.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::app_args::Output;
use driftless_api::types::{DoraAnswer, Items};
use driftless_core::pipeline::Pipeline;
use driftless_engine::controller::promotion::{Phase, PipelineView, Promotion, StageValues};

use crate::client::{Client, ServerArgs, typed};

#[derive(Args)]
pub struct Common {
    #[command(flatten)]
    server: ServerArgs,
    #[arg(short, long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

#[derive(Args)]
pub struct PromoteArgs {
    pipeline: String,
    /// The stage to promote into.
    #[arg(long)]
    to: String,
    /// The stage whose values move (default: the one `--to` is fed from).
    #[arg(long)]
    from: Option<String>,
    /// Wait until the promotion ends; exit 1 unless it Succeeded.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "30m")]
    timeout: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
pub struct DecideArgs {
    /// The promotion's id (`driftless promotion list`).
    id: i64,
    #[arg(long, short, default_value = "")]
    comment: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
pub struct PromotionArgs {
    #[command(subcommand)]
    command: PromotionCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand)]
enum PromotionCommand {
    /// The newest promotions.
    List {
        #[arg(long, default_value = "")]
        pipeline: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One promotion's report (`-o json` for the whole of it).
    Get { id: i64 },
}

#[derive(Args)]
pub struct PipelineArgs {
    #[command(subcommand)]
    command: PipelineCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand)]
enum PipelineCommand {
    /// Every pipeline and its stages.
    List,
    /// What each stage runs now.
    Get { name: String },
    /// Create or replace a pipeline from a YAML file (kept by the engine).
    Apply {
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Forget a pipeline.
    Delete { name: String },
}

#[derive(Args)]
pub struct DoraArgs {
    /// One application's figures.
    #[arg(long, group = "of")]
    app: Option<String>,
    /// A pipeline's figures (its production stage).
    #[arg(long, group = "of")]
    pipeline: Option<String>,
    #[arg(long, default_value_t = 30.0)]
    days: f64,
    #[command(flatten)]
    common: Common,
}

fn print_json(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// One line per value, then gates and commits: what a person reads in a terminal.
fn print_report(p: &Promotion) {
    println!(
        "promotion {} of {}: {} → {}  {}",
        p.id,
        p.pipeline,
        p.from,
        p.to,
        p.phase.as_str()
    );
    println!("  {}", p.message);
    for v in &p.values {
        println!(
            "  {}: {} → {}",
            v.label,
            v.before.as_deref().unwrap_or("(none)"),
            v.after.as_deref().unwrap_or("(none)")
        );
    }
    for g in &p.gates {
        let mark = if g.passed { "ok" } else { "waiting" };
        println!("  gate {} [{mark}]: {}", g.gate, g.message);
    }
    for a in &p.approvals {
        let verb = if a.approved { "approved" } else { "rejected" };
        println!("  {} {verb}: {}", a.user, a.comment);
    }
    for c in &p.commits {
        println!(
            "  {} commit {} on {} ({} attempt(s))",
            c.purpose, c.commit, c.branch, c.attempts
        );
    }
}

/// The report as JSON (`-o json`): the promotion's record with its durations, as the API
/// answers it.
fn print_promotion(p: &Value, json_out: bool) -> anyhow::Result<()> {
    if json_out {
        print_json(p)
    } else {
        print_report(&typed("promotion", p.clone())?);
        Ok(())
    }
}

async fn wait_for(client: &Client, id: i64, timeout: Duration) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let answer = client.get(&format!("/api/v1/promotions/{id}")).await?;
        let p: Promotion = typed("promotion", answer.clone())?;
        if p.phase.is_final() {
            return Ok(answer);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "promotion {id} is still {} after {timeout:?}: {}",
                p.phase.as_str(),
                p.message
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(
    f: F,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Runtime::new()?.block_on(f)
}

pub fn promote(args: PromoteArgs) -> anyhow::Result<ExitCode> {
    let client = args.common.server.client()?;
    let timeout = driftless_core::app::parse_duration(&args.timeout)
        .with_context(|| format!("--timeout {}: not a duration (30s, 10m, 1h)", args.timeout))?;
    block_on(async {
        let p = client
            .post_json(
                &format!("/api/v1/pipelines/{}/promote", args.pipeline),
                &json!({"from": args.from, "to": args.to}),
            )
            .await?;
        let p = if args.wait {
            let id = typed::<Promotion>("promotion", p)?.id;
            wait_for(&client, id, timeout).await?
        } else {
            p
        };
        print_promotion(&p, args.common.output == Output::Json)?;
        let ok = !args.wait || typed::<Promotion>("promotion", p)?.phase == Phase::Succeeded;
        Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

pub fn decide(args: DecideArgs, approve: bool) -> anyhow::Result<ExitCode> {
    let client = args.common.server.client()?;
    block_on(async {
        let verb = if approve { "approve" } else { "reject" };
        let p = client
            .post_json(
                &format!("/api/v1/promotions/{}/{verb}", args.id),
                &json!({"comment": args.comment}),
            )
            .await?;
        print_promotion(&p, args.common.output == Output::Json)?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn promotion(args: PromotionArgs) -> anyhow::Result<ExitCode> {
    let client = args.common.server.client()?;
    let json_out = args.common.output == Output::Json;
    block_on(async {
        match args.command {
            PromotionCommand::List { pipeline, limit } => {
                let r = client
                    .get(&format!(
                        "/api/v1/promotions?pipeline={pipeline}&limit={limit}"
                    ))
                    .await?;
                if json_out {
                    print_json(&r)?;
                } else {
                    println!(
                        "{:<6} {:<16} {:<12} {:<12} {:<16} MESSAGE",
                        "ID", "PIPELINE", "FROM", "TO", "PHASE"
                    );
                    let list: Items<Promotion> = typed("promotions", r)?;
                    for p in list.items {
                        println!(
                            "{:<6} {:<16} {:<12} {:<12} {:<16} {}",
                            p.id,
                            p.pipeline,
                            p.from,
                            p.to,
                            p.phase.as_str(),
                            p.message
                        );
                    }
                }
            }
            PromotionCommand::Get { id } => {
                let p = client.get(&format!("/api/v1/promotions/{id}")).await?;
                print_promotion(&p, json_out)?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn pipeline(args: PipelineArgs) -> anyhow::Result<ExitCode> {
    let client = args.common.server.client()?;
    let json_out = args.common.output == Output::Json;
    block_on(async {
        let r = match args.command {
            PipelineCommand::List => {
                let r = client.get("/api/v1/pipelines").await?;
                if !json_out {
                    let list: Items<Pipeline> = typed("pipelines", r)?;
                    for p in list.items {
                        let stages: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
                        println!("{}: {}", p.name, stages.join(" → "));
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                r
            }
            PipelineCommand::Get { name } => {
                let r = client.get(&format!("/api/v1/pipelines/{name}")).await?;
                if !json_out {
                    let view: PipelineView = typed("pipeline", r)?;
                    for s in view.stages {
                        let apps: Vec<String> = s
                            .applications
                            .iter()
                            .map(|a| {
                                format!(
                                    "{} {}/{}",
                                    a.name,
                                    a.sync.map_or("?", |s| s.as_str()),
                                    a.health.map_or("?", |h| h.as_str())
                                )
                            })
                            .collect();
                        let values: Vec<String> = match s.values {
                            Some(StageValues::Read(vs)) => vs
                                .iter()
                                .map(|v| {
                                    format!(
                                        "{}={}",
                                        v.freight,
                                        v.value.as_deref().unwrap_or("(none)")
                                    )
                                })
                                .collect(),
                            Some(StageValues::Unreadable { error }) => {
                                vec![format!("error: {error}")]
                            }
                            None => Vec::new(),
                        };
                        println!(
                            "{:<12} {}  [{}]",
                            s.name,
                            apps.join(", "),
                            values.join(", ")
                        );
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                r
            }
            PipelineCommand::Apply { file } => {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                client.post_text("/api/v1/pipelines", text).await?
            }
            PipelineCommand::Delete { name } => {
                client.delete(&format!("/api/v1/pipelines/{name}")).await?
            }
        };
        if json_out {
            print_json(&r)?;
        } else {
            println!("{}", serde_json::to_string(&r)?);
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn dora(args: DoraArgs) -> anyhow::Result<ExitCode> {
    let client = args.common.server.client()?;
    let q = match (&args.app, &args.pipeline) {
        (Some(a), None) => format!("application={a}"),
        (None, Some(p)) => format!("pipeline={p}"),
        _ => bail!("give --app APP or --pipeline PIPELINE"),
    };
    block_on(async {
        let r = client
            .get(&format!("/api/v1/dora?{q}&days={}", args.days))
            .await?;
        if args.common.output == Output::Json {
            print_json(&r)?;
            return Ok(ExitCode::SUCCESS);
        }
        let r: DoraAnswer = typed("dora", r)?;
        let d = &r.dora;
        let secs = |v: Option<f64>| v.map_or("n/a".to_string(), |s| format!("{s:.0}s"));
        match (&r.stage, &r.pipeline, &r.application) {
            (Some(stage), Some(p), _) => println!(
                "pipeline {p} (production stage {stage}), last {} days",
                args.days
            ),
            (_, _, a) => println!(
                "application {}, last {} days",
                a.as_deref().unwrap_or_default(),
                args.days
            ),
        }
        println!(
            "  deployments:           {} ({} failed)",
            d.deployments, d.failed_deployments
        );
        println!(
            "  deployment frequency:  {:.2} per day",
            d.deployment_frequency_per_day
        );
        println!("  lead time for changes: {}", secs(d.lead_time_seconds));
        println!(
            "  change failure rate:   {}",
            d.change_failure_rate
                .map_or("n/a".to_string(), |r| format!("{:.0}%", r * 100.0))
        );
        println!(
            "  mean time to restore:  {}",
            secs(d.mean_time_to_restore_seconds)
        );
        Ok(ExitCode::SUCCESS)
    })
}
