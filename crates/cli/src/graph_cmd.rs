//! `driftless graph [-o mermaid|json] [--pipeline P | --app A]`: the GitOps flow of a running
//! engine as a Mermaid flowchart grouped by workflow stage — source control (repositories by
//! role), CI (webhooks per provider, polling, image-set), the engine's parts, and every
//! cluster with the stages it hosts, promotion gates as verification steps, security checks
//! highlighted — drawn from the live configuration (paste it into Markdown: GitHub renders
//! it), or JSON (the text and the nodes that link to a page). The web UI draws the same.

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::client::ServerArgs;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Mermaid,
    Json,
}

#[derive(Args)]
pub struct GraphArgs {
    #[arg(short, long, value_enum, default_value_t = Format::Mermaid)]
    output: Format,
    /// Only this pipeline: its stages' applications, clusters and repositories.
    #[arg(long, conflicts_with = "app")]
    pipeline: Option<String>,
    /// Only this application (and the pipeline stages it is part of).
    #[arg(long)]
    app: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

/// Percent-encodes a query value (names are DNS labels, but nothing from a user is trusted).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn run(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let client = args.server.client()?;
    let query = match (&args.pipeline, &args.app) {
        (Some(p), _) => format!("?pipeline={}", encode(p)),
        (None, Some(a)) => format!("?application={}", encode(a)),
        (None, None) => String::new(),
    };
    tokio::runtime::Runtime::new()?.block_on(async {
        let g = client.get(&format!("/api/v1/graph{query}")).await?;
        match args.output {
            Format::Mermaid => print!("{}", g["mermaid"].as_str().unwrap_or_default()),
            Format::Json => println!("{}", serde_json::to_string_pretty(&g)?),
        }
        Ok(ExitCode::SUCCESS)
    })
}
