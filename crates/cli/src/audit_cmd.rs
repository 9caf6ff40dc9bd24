//! `driftless audit verify`: walks the audit log's hash chain and says whether it is intact,
//! or the first entry that was altered or removed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use driftless_store::{Store, StoreError};

#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
    /// The store: `sqlite://PATH` or `postgres://...` (default: driftless.db in the data dir).
    #[arg(long, env = "DRIFTLESS_STORE")]
    store: Option<String>,
    /// Data directory (default: $DRIFTLESS_DATA_DIR, else ~/.driftless).
    #[arg(long, env = "DRIFTLESS_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of the whole log.
    Verify,
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let store = match &args.store {
            Some(url) => Store::open(url).await?,
            None => {
                let dir = match &args.data_dir {
                    Some(d) => d.clone(),
                    None => PathBuf::from(
                        std::env::var("HOME").context("HOME is not set; pass --data-dir")?,
                    )
                    .join(".driftless"),
                };
                Store::sqlite(&dir.join("driftless.db")).await?
            }
        };
        match args.command {
            AuditCommand::Verify => match store.verify_audit().await {
                Ok(n) => {
                    println!("audit log intact: {n} entries, hash chain verified");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e @ StoreError::Tampered { .. }) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.into()),
            },
        }
    })
}
