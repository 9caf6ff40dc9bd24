//! `driftless drift report [--app A | --pipeline P] [--since T] -o json`: per application and
//! environment, drift found or not, its grade and diff summary, healed or alerted, and when —
//! the document a scheduled CI job keeps as an artifact and sends on.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::app_args::Output;
use crate::client::ServerArgs;
use crate::notifications_cmd::query_value;

#[derive(Args)]
pub struct DriftArgs {
    #[command(subcommand)]
    command: DriftCommand,
}

#[derive(Subcommand)]
enum DriftCommand {
    /// The drift report of every application, one application, or a pipeline's.
    Report {
        #[arg(long, group = "of")]
        app: Option<String>,
        #[arg(long, group = "of")]
        pipeline: Option<String>,
        /// Only drift recorded from then on (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(short, long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

pub fn run(args: DriftArgs) -> anyhow::Result<ExitCode> {
    let DriftCommand::Report {
        app,
        pipeline,
        since,
        server,
        output,
    } = args.command;
    let client = server.client()?;
    let mut q = Vec::new();
    for (k, v) in [("app", app), ("pipeline", pipeline), ("since", since)] {
        if let Some(v) = v {
            q.push(format!("{k}={}", query_value(&v)));
        }
    }
    tokio::runtime::Runtime::new()?.block_on(async {
        let r = client
            .get(&format!("/api/v1/drift/report?{}", q.join("&")))
            .await?;
        if output == Output::Json {
            println!("{}", serde_json::to_string_pretty(&r)?);
            return Ok(ExitCode::SUCCESS);
        }
        let rows = r["applications"].as_array().cloned().unwrap_or_default();
        println!(
            "{:<24} {:<12} {:<8} {:<8} {:<7} {:<24} ALERTED",
            "APP", "ENV", "DRIFTED", "GRADE", "HEALED", "DETECTED"
        );
        for row in rows {
            let s = |k: &str| row[k].as_str().unwrap_or("-").to_string();
            let alerted: Vec<&str> = row["alerted"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            println!(
                "{:<24} {:<12} {:<8} {:<8} {:<7} {:<24} {}",
                s("app"),
                s("environment"),
                row["drifted"],
                s("grade"),
                row["healed"],
                s("detectedAt"),
                alerted.join(",")
            );
            for line in row["summary"].as_array().into_iter().flatten() {
                println!("    {}", line.as_str().unwrap_or_default());
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
