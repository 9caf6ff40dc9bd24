//! `driftless`: the command-line entry point. Each subcommand lives in its own module; errors
//! are printed once, with their whole cause chain, and map to a non-zero exit code.

mod app_args;
mod app_cmd;
mod audit_cmd;
mod client;
mod cluster_cmd;
mod demo;
mod diff_cmd;
mod drift_cmd;
mod graph_cmd;
mod image_cmd;
mod notifications_cmd;
mod promote_cmd;
mod render_cmd;
mod repo_cmd;
mod run_cmd;
mod sandbox_cmd;
mod shards_cmd;
mod status_cmd;
mod sync_cmd;
mod up_cmd;
mod validate_cmd;

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
    /// Check a configuration repository before anything syncs: structure, YAML, Kubernetes
    /// and CRD schemas, Rego policies, deprecated APIs (reports: text, json, junit, sarif).
    Validate(Box<validate_cmd::ValidateArgs>),
    /// Show what a sync would change: per resource status, impact and a unified diff.
    Diff(Box<diff_cmd::DiffArgs>),
    /// Make the cluster match Git: waves, hooks, prune, health checks.
    Sync(Box<sync_cmd::SyncArgs>),
    /// Sync status and health of every resource of an application.
    Status(Box<status_cmd::StatusArgs>),
    /// Applications of a running engine (`driftless up`), through its API.
    App(app_cmd::AppCmdArgs),
    /// Image updates from CI: a commit setting a tag in an application's (or a pipeline's
    /// first stage's) kustomization.
    Image(image_cmd::ImageCmdArgs),
    /// Promote what a stage runs into the next one (waits for that stage's gates).
    Promote(Box<promote_cmd::PromoteArgs>),
    /// Approve a waiting promotion as the API user of your token.
    Approve(Box<promote_cmd::DecideArgs>),
    /// Reject a waiting promotion.
    Reject(Box<promote_cmd::DecideArgs>),
    /// Promotions and their reports (`get ID -o json`).
    Promotion(Box<promote_cmd::PromotionArgs>),
    /// Pipelines: list, what each stage runs, apply from a file, delete.
    Pipeline(Box<promote_cmd::PipelineArgs>),
    /// The GitOps flow (repositories → applications → clusters, stages) as Mermaid or JSON.
    Graph(graph_cmd::GraphArgs),
    /// DORA figures of an application or a pipeline.
    Dora(Box<promote_cmd::DoraArgs>),
    /// Clusters a running engine deploys to, through its API.
    Cluster(cluster_cmd::ClusterCmdArgs),
    /// Repositories of a running engine and their credentials, through its API.
    Repo(repo_cmd::RepoCmdArgs),
    /// Run a Lua workflow script (the `gitops` module, tasks) against a running engine.
    Run(Box<run_cmd::RunArgs>),
    /// Notifications of a running engine: list (failures with their error), resend, test.
    Notifications(notifications_cmd::NotificationsArgs),
    /// Drift reports for CI (`drift report -o json`).
    Drift(drift_cmd::DriftArgs),
    /// Audit log tools: `verify` checks its hash chain.
    Audit(audit_cmd::AuditArgs),
    /// The replicas sharing the store: which is live, what each owns, how loaded it is.
    Shards(shards_cmd::ShardsArgs),
    /// Run the embedded sandbox Kubernetes API server and write a kubeconfig for it.
    Sandbox(sandbox_cmd::SandboxArgs),
    /// Run the engine: controller, store and API (--demo: with a sandbox cluster and demo apps).
    Up(Box<up_cmd::UpArgs>),
}

/// Logs to stderr: `RUST_LOG` filters (default: the engine's info lines, other crates'
/// warnings), `DRIFTLESS_LOG_FORMAT=json` writes one JSON object per line for collectors.
fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("warn,driftless_engine=info,driftless_api=info,driftless=info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("DRIFTLESS_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn main() -> ExitCode {
    // One TLS backend for the whole process (kube-rs and Git over HTTPS); installing it
    // before anything connects avoids rustls picking (and panicking over) two.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    init_logs();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Render(args) => render_cmd::run(*args),
        Command::Validate(args) => validate_cmd::run(*args),
        Command::Diff(args) => diff_cmd::run(*args),
        Command::Audit(args) => audit_cmd::run(args),
        Command::Notifications(args) => notifications_cmd::run(args),
        Command::Drift(args) => drift_cmd::run(args),
        Command::Run(args) => run_cmd::run(*args),
        Command::Repo(args) => repo_cmd::run(args),
        Command::Cluster(args) => cluster_cmd::run(args),
        Command::Image(args) => image_cmd::run(args),
        Command::Promote(args) => promote_cmd::promote(*args),
        Command::Approve(args) => promote_cmd::decide(*args, true),
        Command::Reject(args) => promote_cmd::decide(*args, false),
        Command::Promotion(args) => promote_cmd::promotion(*args),
        Command::Pipeline(args) => promote_cmd::pipeline(*args),
        Command::Dora(args) => promote_cmd::dora(*args),
        Command::Graph(args) => graph_cmd::run(args),
        Command::App(args) => app_cmd::run(args),
        Command::Sync(args) => sync_cmd::run(*args),
        Command::Status(args) => status_cmd::run(*args),
        Command::Sandbox(args) => sandbox_cmd::run(args),
        Command::Shards(args) => shards_cmd::run(args),
        Command::Up(args) => up_cmd::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
