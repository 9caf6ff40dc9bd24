//! What `diff`, `sync` and `status` share: which application (an Application file in
//! Driftless or Argo CD format, or `--repo/--path/--dest-namespace`), rendering it, reaching
//! the cluster, and turning the application's policy into a comparison and a sync request.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use driftless_core::app::{self, Application};
use driftless_diff::CompareOptions;
use driftless_engine::SyncRequest;
use driftless_kube::{ClusterSource, KubeCluster, connect};

use crate::render_cmd::{GitArgs, open_source, render_tree};

#[derive(Args)]
pub struct AppArgs {
    /// An Application YAML file (driftless.dev/v1alpha1 or Argo CD's argoproj.io/v1alpha1).
    /// A local repoURL is relative to the file and rendered as on disk unless --revision.
    app_file: Option<PathBuf>,
    /// With several Applications in the file: which one.
    #[arg(long)]
    app: Option<String>,
    /// Instead of a file: the repository (Git URL or local directory)...
    #[arg(long, conflicts_with = "app_file")]
    repo: Option<String>,
    /// ...the path inside it...
    #[arg(long, default_value = "")]
    path: String,
    /// ...and the destination namespace of namespaced objects without one.
    #[arg(long)]
    dest_namespace: Option<String>,
    /// Application name used for tracking (default: the file's, or the path's last part).
    #[arg(long)]
    name: Option<String>,
    /// Branch, tag or commit (overrides the file's targetRevision).
    #[arg(long)]
    revision: Option<String>,
    #[command(flatten)]
    git: GitArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Compare client-side only (no dry-run requests to the API server).
    #[arg(long)]
    client_side: bool,
    /// A custom health check in Lua (Argo CD's contract) for a `group/Kind` selector with
    /// `*` wildcards: `--health-check 'example.com/Widget=widget.lua'`. Repeatable.
    #[arg(long = "health-check", value_name = "GROUP/KIND=FILE")]
    health_checks: Vec<String>,
    /// Also label applied objects `app.kubernetes.io/instance: <app>`.
    #[arg(long)]
    instance_label: bool,
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Args)]
pub struct ClusterArgs {
    /// kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// kubeconfig context (default: the current one).
    #[arg(long)]
    context: Option<String>,
    /// Use the pod's service account (running inside a cluster).
    #[arg(long, conflicts_with_all = ["kubeconfig", "context"])]
    pub(crate) in_cluster: bool,
    /// Let kubeconfig `exec` credential plugins run (refused by default).
    #[arg(long)]
    allow_exec_credentials: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

impl ClusterArgs {
    pub async fn connect(&self) -> anyhow::Result<KubeCluster> {
        let source = if self.in_cluster {
            ClusterSource::InCluster
        } else {
            let path = match &self.kubeconfig {
                Some(p) => p.clone(),
                None => PathBuf::from(
                    std::env::var("HOME").context("HOME is not set; pass --kubeconfig")?,
                )
                .join(".kube/config"),
            };
            ClusterSource::Kubeconfig {
                path,
                context: self.context.clone(),
                allow_exec: self.allow_exec_credentials,
            }
        };
        let name = self.context.clone().unwrap_or_else(|| {
            if self.in_cluster {
                "in-cluster".into()
            } else {
                "current context".into()
            }
        });
        // Credentials re-read on a 401 (rotated tokens, projected service-account tokens).
        Ok(KubeCluster::new(connect(&source).await?, name).with_source(source))
    }
}

/// The application a command works on, rendered.
pub struct Target {
    pub app: Application,
    pub rendered: driftless_core::DesiredSet,
    pub policy: driftless_engine::AppPolicy,
    /// The repository's policy gate on the rendered set (`None`: it declares none).
    pub policy_verdict: Option<driftless_engine::controller::gate::Verdict>,
}

impl AppArgs {
    pub fn server_side(&self) -> bool {
        !self.client_side
    }

    /// Built-in health checks plus the `--health-check` scripts (compiled now, so a syntax
    /// error stops the command before it touches the cluster).
    pub fn assessor(&self) -> anyhow::Result<driftless_health::Assessor> {
        let mut checks = Vec::new();
        for spec in &self.health_checks {
            let (selector, file) = spec
                .split_once('=')
                .with_context(|| format!("--health-check `{spec}` is not GROUP/KIND=FILE"))?;
            let script = std::fs::read_to_string(file)
                .with_context(|| format!("--health-check {selector}: cannot read {file}"))?;
            checks.push(
                driftless_health::LuaCheck::new(selector, &script)
                    .with_context(|| format!("--health-check {file}"))?,
            );
        }
        Ok(driftless_health::Assessor::new(checks))
    }

    fn application(&self) -> anyhow::Result<(Application, Option<PathBuf>)> {
        if let Some(file) = &self.app_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let parsed = app::parse(&text, &file.display().to_string())?;
            for p in &parsed {
                for w in &p.warnings {
                    eprintln!("warning: {w}");
                }
            }
            let names: Vec<&str> = parsed.iter().map(|p| p.app.name.as_str()).collect();
            let chosen = match (&self.app, parsed.len()) {
                (None, 1) => parsed[0].app.clone(),
                (None, _) => bail!(
                    "{} holds {} applications ({}); choose one with --app",
                    file.display(),
                    parsed.len(),
                    names.join(", ")
                ),
                (Some(n), _) => parsed
                    .iter()
                    .find(|p| &p.app.name == n)
                    .map(|p| p.app.clone())
                    .with_context(|| {
                        format!(
                            "{} has no application {n} (it has {})",
                            file.display(),
                            names.join(", ")
                        )
                    })?,
            };
            return Ok((chosen, file.parent().map(Path::to_path_buf)));
        }
        let Some(repo) = &self.repo else {
            bail!("give an Application file, or --repo with --path and --dest-namespace");
        };
        let name = self.name.clone().unwrap_or_else(|| {
            let p = self.path.trim_end_matches('/');
            let last = p.rsplit('/').next().unwrap_or_default();
            if last.is_empty() {
                "app".to_string()
            } else {
                last.to_string()
            }
        });
        let mut a = Application {
            name,
            ..Default::default()
        };
        a.source.repo_url = repo.clone();
        a.source.path = self.path.clone();
        a.destination.namespace = self.dest_namespace.clone().unwrap_or_default();
        Ok((a, None))
    }

    /// Reads the application and renders its source.
    pub fn target(&self) -> anyhow::Result<Target> {
        let (mut app, base) = self.application()?;
        if let Some(n) = &self.name {
            app.name = n.clone();
        }
        if let Some(ns) = &self.dest_namespace {
            app.destination.namespace = ns.clone();
        }
        let mut source = app.source.repo_url.clone();
        let local = !source.contains("://") && !source.contains('@');
        if local
            && let Some(base) = &base
            && Path::new(&source).is_relative()
        {
            source = base.join(&source).display().to_string();
        }
        // A local source renders as on disk; a remote one at its targetRevision.
        let revision = self.revision.clone().or_else(|| {
            (!local && !app.source.target_revision.is_empty())
                .then(|| app.source.target_revision.clone())
        });
        let spec = driftless_render::spec_for(&app.source)
            .map_err(|e| anyhow::anyhow!("application {}: {e}", app.name))?;
        let tree = open_source(&source, revision.as_deref(), &self.git)
            .with_context(|| format!("application {}", app.name))?;
        let rendered = render_tree(tree.as_ref(), &app.source.path, &spec)
            .with_context(|| format!("application {}", app.name))?;
        // The repository's own policy gate (`driftless.yaml`), as the engine runs it.
        let gate = driftless_engine::controller::gate::PolicyGates::default();
        let policy_verdict = gate.check(&source, "cli", tree.as_ref(), &rendered.set);
        for w in &rendered.warnings {
            eprintln!("warning: {w}");
        }
        let policy = driftless_engine::AppPolicy::of(&app, self.instance_label)
            .map_err(anyhow::Error::msg)?;
        Ok(Target {
            app,
            rendered: rendered.set,
            policy,
            policy_verdict,
        })
    }
}

impl Target {
    pub fn destination_namespace(&self) -> Option<String> {
        Some(self.app.destination.namespace.clone()).filter(|n| !n.is_empty())
    }

    pub fn compare_options(&self) -> CompareOptions {
        self.policy.compare.clone()
    }

    /// A sync request from the application's policy; flags add to it.
    pub fn request(&self, server_side: bool) -> SyncRequest {
        self.policy
            .request(&self.app, self.rendered.clone(), server_side)
    }
}
