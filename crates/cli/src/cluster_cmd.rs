//! `driftless cluster add|list|remove`: the clusters a running engine deploys to besides its
//! own (`in-cluster`), through its API. The kubeconfig file is read here and sent to the
//! engine, which connects before accepting it; applications pick a cluster with
//! `destination.name` (or `destination.server`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::app_args::Output;
use crate::client::ServerArgs;

#[derive(Args)]
pub struct ClusterCmdArgs {
    #[command(subcommand)]
    command: ClusterCommand,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(short, long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Add (or replace) a cluster from a kubeconfig file.
    Add {
        /// The name applications use in `destination.name`.
        name: String,
        /// The kubeconfig file (read here; its credentials are stored by the engine).
        #[arg(long)]
        kubeconfig: PathBuf,
        /// Its context (default: the current one).
        #[arg(long)]
        context: Option<String>,
        /// Let an `exec` credential plugin in the kubeconfig run on the engine's host.
        #[arg(long)]
        allow_exec_credentials: bool,
    },
    /// Every cluster: name, API server, whether its live cache has listed.
    List,
    /// Forget a cluster (nothing in it is deleted).
    Remove { name: String },
}

/// The Cluster document `cluster add` sends.
fn definition(name: &str, kubeconfig: &str, context: Option<&str>, allow_exec: bool) -> Value {
    let mut spec = json!({"kubeconfig": kubeconfig});
    if let Some(c) = context {
        spec["context"] = json!(c);
    }
    if allow_exec {
        spec["allowExecCredentials"] = json!(true);
    }
    json!({
        "apiVersion": "driftless.dev/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name},
        "spec": spec,
    })
}

pub fn run(args: ClusterCmdArgs) -> anyhow::Result<ExitCode> {
    let client = args.server.client()?;
    let json = args.output == Output::Json;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        match args.command {
            ClusterCommand::Add {
                name,
                kubeconfig,
                context,
                allow_exec_credentials,
            } => {
                let text = std::fs::read_to_string(&kubeconfig)
                    .with_context(|| format!("cannot read {}", kubeconfig.display()))?;
                let doc = definition(&name, &text, context.as_deref(), allow_exec_credentials);
                client
                    .post_text("/api/v1/clusters", doc.to_string())
                    .await?;
                println!("cluster {name} added");
            }
            ClusterCommand::List => {
                let r = client.get("/api/v1/clusters").await?;
                let items = r["items"].as_array().cloned().unwrap_or_default();
                if json {
                    println!("{}", serde_json::to_string_pretty(&items)?);
                } else {
                    println!("{:<24} {:<8} {:<8} SERVER", "NAME", "SYNCED", "OBJECTS");
                    for c in &items {
                        println!(
                            "{:<24} {:<8} {:<8} {}",
                            c["name"].as_str().unwrap_or_default(),
                            c["synced"],
                            c["objects"],
                            c["server"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
            ClusterCommand::Remove { name } => {
                client.delete(&format!("/api/v1/clusters/{name}")).await?;
                println!("cluster {name} removed");
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_what_the_engine_parses() {
        let d = super::definition(
            "prod",
            "apiVersion: v1\nkind: Config\n",
            Some("admin"),
            false,
        );
        let mut defs = driftless_core::definitions::Definitions::default();
        defs.add_file(&d.to_string(), "cli");
        assert!(defs.errors.is_empty(), "{:?}", defs.errors);
        assert_eq!(defs.clusters[0].name, "prod");
        assert_eq!(defs.clusters[0].context.as_deref(), Some("admin"));
    }
}
