//! `driftless image set APP|STAGE IMAGE:TAG`: what a CI job runs after pushing an image — the
//! tag is committed into the application's kustomization (for `PIPELINE/STAGE`, into every
//! application of the pipeline's first stage, which then promotes it) and the engine syncs it.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::app_args::Output;
use crate::client::ServerArgs;

#[derive(Args)]
pub struct ImageCmdArgs {
    #[command(subcommand)]
    command: ImageCommand,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(short, long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Set an image's tag (or digest) in an application's kustomization, by a commit.
    Set {
        /// An application, or a pipeline's first stage (`PIPELINE/STAGE`).
        target: String,
        /// `NAME:TAG` or `NAME@sha256:DIGEST`, NAME as in the kustomization's `images`.
        image: String,
    },
}

pub fn run(args: ImageCmdArgs) -> anyhow::Result<ExitCode> {
    let client = args.server.client()?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        match args.command {
            ImageCommand::Set { target, image } => {
                // An application unless it names a stage (`PIPELINE/STAGE`, or no such app).
                let is_app = !target.contains('/')
                    && client
                        .get(&format!("/api/v1/applications/{target}"))
                        .await
                        .is_ok();
                let body = if is_app {
                    serde_json::json!({"application": target, "image": image})
                } else {
                    serde_json::json!({"stage": target, "image": image})
                };
                let r = client.post_json("/api/v1/images", &body).await?;
                if args.output == Output::Json {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                } else {
                    let items = match r["items"].as_array() {
                        Some(items) => items.clone(),
                        None => vec![r.clone()],
                    };
                    for r in items {
                        println!(
                            "{}: {} set in {} (was {}), commit {} on {}",
                            r["application"].as_str().unwrap_or_default(),
                            image,
                            r["file"].as_str().unwrap_or_default(),
                            r["previous"].as_str().unwrap_or("not set"),
                            r["commit"].as_str().unwrap_or_default(),
                            r["branch"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
