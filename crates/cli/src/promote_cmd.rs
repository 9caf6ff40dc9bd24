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
use crate::client::{Client, ServerArgs};

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
fn print_report(p: &Value) {
    println!(
        "promotion {} of {}: {} → {}  {}",
        p["id"],
        p["pipeline"].as_str().unwrap_or_default(),
        p["from"].as_str().unwrap_or_default(),
        p["to"].as_str().unwrap_or_default(),
        p["phase"].as_str().unwrap_or_default()
    );
    println!("  {}", p["message"].as_str().unwrap_or_default());
    for v in p["values"].as_array().into_iter().flatten() {
        println!(
            "  {}: {} → {}",
            v["label"].as_str().unwrap_or_default(),
            v["before"].as_str().unwrap_or("(none)"),
            v["after"].as_str().unwrap_or("(none)")
        );
    }
    for g in p["gates"].as_array().into_iter().flatten() {
        let mark = if g["passed"] == true { "ok" } else { "waiting" };
        println!(
            "  gate {} [{mark}]: {}",
            g["gate"].as_str().unwrap_or_default(),
            g["message"].as_str().unwrap_or_default()
        );
    }
    for a in p["approvals"].as_array().into_iter().flatten() {
        let verb = if a["approved"] == true {
            "approved"
        } else {
            "rejected"
        };
        println!(
            "  {} {verb}: {}",
            a["user"].as_str().unwrap_or_default(),
            a["comment"].as_str().unwrap_or_default()
        );
    }
    for c in p["commits"].as_array().into_iter().flatten() {
        println!(
            "  {} commit {} on {} ({} attempt(s))",
            c["purpose"].as_str().unwrap_or_default(),
            c["commit"].as_str().unwrap_or_default(),
            c["branch"].as_str().unwrap_or_default(),
            c["attempts"]
        );
    }
}

const FINAL: [&str; 5] = ["Succeeded", "Failed", "Rejected", "Expired", "Superseded"];

async fn wait_for(client: &Client, id: &Value, timeout: Duration) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let p = client.get(&format!("/api/v1/promotions/{id}")).await?;
        if FINAL.contains(&p["phase"].as_str().unwrap_or_default()) {
            return Ok(p);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "promotion {id} is still {} after {timeout:?}: {}",
                p["phase"].as_str().unwrap_or_default(),
                p["message"].as_str().unwrap_or_default()
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
            wait_for(&client, &p["id"], timeout).await?
        } else {
            p
        };
        if args.common.output == Output::Json {
            print_json(&p)?;
        } else {
            print_report(&p);
        }
        let ok = !args.wait || p["phase"] == "Succeeded";
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
        if args.common.output == Output::Json {
            print_json(&p)?;
        } else {
            print_report(&p);
        }
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
                    for p in r["items"].as_array().into_iter().flatten() {
                        println!(
                            "{:<6} {:<16} {:<12} {:<12} {:<16} {}",
                            p["id"],
                            p["pipeline"].as_str().unwrap_or_default(),
                            p["from"].as_str().unwrap_or_default(),
                            p["to"].as_str().unwrap_or_default(),
                            p["phase"].as_str().unwrap_or_default(),
                            p["message"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
            PromotionCommand::Get { id } => {
                let p = client.get(&format!("/api/v1/promotions/{id}")).await?;
                if json_out {
                    print_json(&p)?;
                } else {
                    print_report(&p);
                }
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
                    for p in r["items"].as_array().into_iter().flatten() {
                        let stages: Vec<&str> = p["stages"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s["name"].as_str())
                            .collect();
                        println!(
                            "{}: {}",
                            p["name"].as_str().unwrap_or_default(),
                            stages.join(" → ")
                        );
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                r
            }
            PipelineCommand::Get { name } => {
                let r = client.get(&format!("/api/v1/pipelines/{name}")).await?;
                if !json_out {
                    for s in r["stages"].as_array().into_iter().flatten() {
                        let apps: Vec<String> = s["applications"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|a| {
                                format!(
                                    "{} {}/{}",
                                    a["name"].as_str().unwrap_or_default(),
                                    a["sync"].as_str().unwrap_or("?"),
                                    a["health"].as_str().unwrap_or("?")
                                )
                            })
                            .collect();
                        let values: Vec<String> = s["values"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|v| {
                                format!(
                                    "{}={}",
                                    v["freight"].as_str().unwrap_or_default(),
                                    v["value"].as_str().unwrap_or("(none)")
                                )
                            })
                            .collect();
                        println!(
                            "{:<12} {}  [{}]",
                            s["name"].as_str().unwrap_or_default(),
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
        let d = &r["dora"];
        let secs = |v: &Value| v.as_f64().map_or("n/a".to_string(), |s| format!("{s:.0}s"));
        if let Some(stage) = r["stage"].as_str() {
            println!(
                "pipeline {} (production stage {stage}), last {} days",
                r["pipeline"].as_str().unwrap_or_default(),
                args.days
            );
        } else {
            println!(
                "application {}, last {} days",
                r["application"].as_str().unwrap_or_default(),
                args.days
            );
        }
        println!(
            "  deployments:           {} ({} failed)",
            d["deployments"], d["failedDeployments"]
        );
        println!(
            "  deployment frequency:  {:.2} per day",
            d["deploymentFrequencyPerDay"].as_f64().unwrap_or(0.0)
        );
        println!("  lead time for changes: {}", secs(&d["leadTimeSeconds"]));
        println!(
            "  change failure rate:   {}",
            d["changeFailureRate"]
                .as_f64()
                .map_or("n/a".to_string(), |r| format!("{:.0}%", r * 100.0))
        );
        println!(
            "  mean time to restore:  {}",
            secs(&d["meanTimeToRestoreSeconds"])
        );
        Ok(ExitCode::SUCCESS)
    })
}
