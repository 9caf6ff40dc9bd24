//! `driftless diff`: what a sync would change, per resource, with its impact grade and a
//! unified YAML diff (Secret values masked). `--exit-code` exits 1 when out of sync, for CI.

use std::process::ExitCode;

use clap::Args;
use driftless_diff::{Comparison, SyncStatus};
use driftless_engine::controller::gate::Verdict;
use driftless_engine::{compare_with_cluster, load};

use crate::app_args::{AppArgs, Output};

#[derive(Args)]
pub struct DiffArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Exit with 1 when anything differs (0 when in sync).
    #[arg(long)]
    exit_code: bool,
}

pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let target = args.app.target()?;
    let rt = tokio::runtime::Runtime::new()?;
    let cmp = rt.block_on(async {
        let cluster = args.app.cluster.connect().await?;
        let loaded = load(
            &cluster,
            &target.app.name,
            &target.rendered,
            target.destination_namespace().as_deref(),
            &[],
        )
        .await?;
        anyhow::Ok(
            compare_with_cluster(
                &cluster,
                &loaded,
                &target.compare_options(),
                args.app.server_side(),
                None,
            )
            .await,
        )
    })?;
    let refusal = target.policy_verdict.as_ref().and_then(|v| v.refusal());
    match args.app.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "app": target.app.name,
                "comparison": cmp,
                "policy": policy_json(target.policy_verdict.as_ref()),
            }))?
        ),
        Output::Text => {
            print!("{}", text(&target.app.name, &cmp));
            print!("{}", policy_text(target.policy_verdict.as_ref()));
        }
    }
    // A revision the policy gate refuses would not be synced: CI should see that too.
    Ok(
        if args.exit_code && (!cmp.summary.in_sync() || refusal.is_some()) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// The policy gate's findings as the engine would judge this revision (`null`: the
/// repository declares no gate).
fn policy_json(verdict: Option<&Verdict>) -> serde_json::Value {
    match verdict {
        None => serde_json::Value::Null,
        Some(Verdict::Broken(e)) => serde_json::json!({"refused": true, "error": e}),
        Some(v @ Verdict::Checked(findings)) => serde_json::json!({
            "refused": v.refusal().is_some(),
            "findings": findings,
        }),
    }
}

fn policy_text(verdict: Option<&Verdict>) -> String {
    match verdict {
        None => String::new(),
        Some(Verdict::Broken(e)) => {
            format!(
                "policy: the repository's validation config is invalid, a sync would be refused: {e}\n"
            )
        }
        Some(v @ Verdict::Checked(findings)) => {
            let mut out = String::new();
            for f in findings {
                out.push_str(&format!("policy: {}\n", f.one_line()));
            }
            out.push_str(if v.refusal().is_some() {
                "policy: a sync of this revision would be refused by the policy gate\n"
            } else {
                "policy: passed\n"
            });
            out
        }
    }
}

fn text(app: &str, cmp: &Comparison) -> String {
    let mut out = String::new();
    for r in cmp
        .resources
        .iter()
        .filter(|r| r.status != SyncStatus::Synced)
    {
        out.push_str(&format!("===== {} {:?}", r.key, r.status));
        if !r.impact.reason.is_empty() {
            out.push_str(&format!(
                "  impact: {} ({})",
                r.impact.grade, r.impact.reason
            ));
        }
        out.push('\n');
        if !r.message.is_empty() {
            out.push_str(&format!("{}\n", r.message));
        }
        for w in &r.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out.push_str(&r.diff);
    }
    let s = &cmp.summary;
    out.push_str(&format!(
        "{app}: {} to create, {} to update, {} to delete, {} unchanged, {} conflicts, {} warnings{}\n",
        s.create, s.update, s.delete, s.unchanged, s.conflicts, s.warnings,
        if s.in_sync() { " — in sync" } else { "" }
    ));
    out
}
