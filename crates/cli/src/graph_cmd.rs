//! `driftless graph [-o mermaid|json]`: the GitOps flow of a running engine — repositories →
//! applications → clusters, and pipeline stages — as Mermaid text (paste it into a Markdown
//! file) or JSON (nodes and edges); the web UI draws the same graph.

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
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let client = args.server.client()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let g = client.get("/api/v1/graph").await?;
        match args.output {
            Format::Mermaid => print!("{}", g["mermaid"].as_str().unwrap_or_default()),
            Format::Json => println!("{}", serde_json::to_string_pretty(&g)?),
        }
        Ok(ExitCode::SUCCESS)
    })
}
