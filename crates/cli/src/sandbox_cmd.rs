//! `driftless sandbox`: the embedded Kubernetes API stand-in on loopback, with a kubeconfig
//! that kubectl and kube-rs use unchanged. Runs until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

#[derive(Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write the kubeconfig (default: DIR/kubeconfig with --data, else
    /// ~/.driftless/sandbox/kubeconfig).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Keep the cluster in this directory so it survives restarts (default: in memory).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Hold every Deployment rollout Progressing this long (90s, 5m, 1h) or `forever`, as a
    /// slow real rollout does; per Deployment, the annotation sandbox.driftless.dev/hold-rollout
    /// does the same.
    #[arg(long, value_name = "DURATION")]
    hold_rollouts: Option<String>,
}

pub fn run(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    let kubeconfig = match (&args.kubeconfig, &args.data) {
        (Some(k), _) => k.clone(),
        (None, Some(d)) => d.join("kubeconfig"),
        (None, None) => {
            PathBuf::from(std::env::var("HOME").context("HOME is not set; pass --kubeconfig")?)
                .join(".driftless/sandbox/kubeconfig")
        }
    };
    let hold = match &args.hold_rollouts {
        Some(h) => Some(driftless_sandbox::parse_hold(h).with_context(|| {
            format!("--hold-rollouts {h:?}: expected a duration like 90s, 5m or 1h, or `forever`")
        })?),
        None => None,
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let opts = driftless_sandbox::SandboxOptions {
            port: args.port,
            data_dir: args.data.clone(),
        };
        let sandbox = driftless_sandbox::Sandbox::start_with(opts)
            .await
            .with_context(|| format!("cannot start the sandbox on 127.0.0.1:{}", args.port))?;
        sandbox.with_store(|s| s.rollout_hold = hold);
        if let Some(dir) = kubeconfig.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        write_private(&kubeconfig, &sandbox.kubeconfig())?;
        println!("sandbox API server: {}", sandbox.url());
        println!("kubeconfig: {}", kubeconfig.display());
        println!(
            "try: kubectl --kubeconfig {} get namespaces",
            kubeconfig.display()
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        println!("stopping the sandbox");
        // Dropping the sandbox writes its final state when --data is set.
        drop(sandbox);
        Ok(ExitCode::SUCCESS)
    })
}

/// The kubeconfig holds the bearer token: readable by its owner only.
pub(crate) fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
    }
    .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(not(unix))]
    let mut f =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
