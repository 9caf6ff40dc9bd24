//! `driftless`: the command-line entry point. Each subcommand lives in its own module; errors
//! are printed once, with their whole cause chain, and map to a non-zero exit code.

mod render_cmd;
mod sandbox_cmd;

use std::process::ExitCode;

// glibc's malloc returns freed pages eagerly; under the sandbox's and the engine's churn of
// short-lived JSON trees that cost more time in TLB shootdowns than in the work itself.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "driftless",
    version,
    about = "GitOps continuous delivery: keep clusters in the state declared in Git"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render an application path into Kubernetes objects (no server needed).
    Render(Box<render_cmd::RenderArgs>),
    /// Run the embedded sandbox Kubernetes API server and write a kubeconfig for it.
    Sandbox(sandbox_cmd::SandboxArgs),
    /// Run the engine (API, controller, embedded store and sandbox cluster).
    Up {
        /// Start with a demo repository, sandbox cluster and three applications.
        #[arg(long)]
        demo: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Render(args) => render_cmd::run(*args),
        Command::Sandbox(args) => sandbox_cmd::run(args),
        Command::Up { .. } => Err(anyhow::anyhow!(
            "the engine (`driftless up`) is not built yet: this release ships rendering (`driftless render`); \
             the controller, store, API and sandbox arrive with the engine work"
        )),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
