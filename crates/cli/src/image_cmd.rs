//! `driftless image set APP|STAGE IMAGE:TAG`: what a CI job runs after pushing an image — the
//! tag is committed into the application's kustomization (for `PIPELINE/STAGE`, into every
//! application of the pipeline's first stage, which then promotes it) and the engine syncs it.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::app_args::Output;
use driftless_api::types::{ImageSet, SetImageRequest, StageImageSet};

use crate::client::{ServerArgs, typed};

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
                let body = SetImageRequest {
                    application: is_app.then(|| target.clone()),
                    stage: (!is_app).then(|| target.clone()),
                    image: image.clone(),
                };
                let r = client
                    .post_json("/api/v1/images", &serde_json::to_value(&body)?)
                    .await?;
                if args.output == Output::Json {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                } else {
                    let items = if is_app {
                        vec![typed::<ImageSet>("image set", r)?]
                    } else {
                        typed::<StageImageSet>("image set", r)?.items
                    };
                    for r in items {
                        println!(
                            "{}: {} set in {} (was {}), commit {} on {}",
                            r.application,
                            image,
                            r.file,
                            r.previous.as_deref().unwrap_or("not set"),
                            r.commit,
                            r.branch
                        );
                    }
                }
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
