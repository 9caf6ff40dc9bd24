//! `driftless image set APP IMAGE:TAG`: what a CI job runs after pushing an image — the tag
//! is committed into the application's kustomization and the engine syncs it.

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
        application: String,
        /// `NAME:TAG` or `NAME@sha256:DIGEST`, NAME as in the kustomization's `images`.
        image: String,
    },
}

pub fn run(args: ImageCmdArgs) -> anyhow::Result<ExitCode> {
    let client = args.server.client()?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        match args.command {
            ImageCommand::Set { application, image } => {
                let r = client
                    .post_json(
                        "/api/v1/images",
                        &serde_json::json!({"application": application, "image": image}),
                    )
                    .await?;
                if args.output == Output::Json {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                } else {
                    println!(
                        "{application}: {} set in {} (was {}), commit {} on {}",
                        image,
                        r["file"].as_str().unwrap_or_default(),
                        r["previous"].as_str().unwrap_or("not set"),
                        r["commit"].as_str().unwrap_or_default(),
                        r["branch"].as_str().unwrap_or_default()
                    );
                }
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
