//! `driftless sync`: make the cluster match Git, wave by wave, with a line per step and per
//! resource as it happens. Exit 0 when the sync succeeded, 1 when it failed or a guard
//! refused it (nothing is changed then), 2 when it could not start.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use driftless_engine::{OperationPhase, Outcome, SyncEvent, sync};

use crate::app_args::{AppArgs, Output};

#[derive(Args)]
pub struct SyncArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Delete tracked objects no longer in Git (also on with the app's automated.prune).
    #[arg(long)]
    prune: bool,
    /// Plan and print; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Override the prune guard (deleting more than half of the app's objects).
    #[arg(long)]
    force: bool,
    /// Allow deleting Namespaces, PersistentVolumes(Claims) and CRDs.
    #[arg(long)]
    confirm_critical: bool,
    /// Allow an empty render to prune everything.
    #[arg(long)]
    allow_empty: bool,
    /// Fail on fields another field manager owns instead of taking them over.
    #[arg(long)]
    keep_conflicts: bool,
    /// How long to wait for each wave to become healthy (`90s`, `5m`).
    #[arg(long, default_value = "5m", value_parser = parse_timeout)]
    timeout: Duration,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    driftless_core::app::parse_duration(s)
        .ok_or_else(|| format!("`{s}` is not a duration like 90s or 5m"))
}

pub fn run(args: SyncArgs) -> anyhow::Result<ExitCode> {
    let target = args.app.target()?;
    let assessor = args.app.assessor()?;
    let mut req = target.request(args.app.server_side());
    req.plan.prune |= args.prune;
    req.plan.force = args.force;
    req.plan.confirm_critical = args.confirm_critical;
    req.plan.allow_empty |= args.allow_empty;
    req.dry_run = args.dry_run;
    req.force_conflicts = !args.keep_conflicts;
    req.health_timeout = args.timeout;
    let json = args.app.output == Output::Json;
    // Progress goes to stderr with -o json so stdout stays one JSON document.
    let progress = move |e: &SyncEvent| {
        let line = match e {
            SyncEvent::Step {
                phase,
                wave,
                prune,
                tasks,
            } => {
                let at = match *wave {
                    i32::MIN => "destination namespace".to_string(),
                    i32::MAX => "prune last".to_string(),
                    w => format!("wave {w}{}", if *prune { " prune" } else { "" }),
                };
                format!("{phase:?} {at}: {tasks} resource(s)")
            }
            SyncEvent::Resource(r) => {
                let mark = match r.outcome {
                    Outcome::Failed | Outcome::HookFailed => "✗",
                    Outcome::Skipped => "-",
                    _ => "✓",
                };
                let health = r
                    .health
                    .as_ref()
                    .map(|h| format!(" ({})", h.status))
                    .unwrap_or_default();
                let msg = if r.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.message)
                };
                format!("  {mark} {} {:?}{health}{msg}", r.key, r.outcome)
            }
        };
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
    };
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(async {
        let cluster = args.app.cluster.connect().await?;
        anyhow::Ok(sync(&cluster, &req, &assessor, None, &progress).await?)
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!("{}: {:?} — {}", result.app, result.phase, result.message);
    }
    Ok(match result.phase {
        OperationPhase::Succeeded => ExitCode::SUCCESS,
        OperationPhase::Failed | OperationPhase::Refused => {
            if json {
                eprintln!("error: {}", result.message);
            }
            ExitCode::from(1)
        }
    })
}
