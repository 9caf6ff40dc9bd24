//! `driftless render`: what an application path renders to, for humans (`-o yaml`) and CI
//! jobs (`-o json`). Warnings go to stderr so stdout stays a clean manifest stream.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use driftless_core::source::SourceTree;
use driftless_git::{Credentials, FetchOptions, GitTree, Mirror, Secret, UrlPolicy};
use driftless_render::directory::DirectoryOptions;
use driftless_render::local::LocalTree;
use driftless_render::plugin::PluginSpec;
use driftless_render::{RenderLimits, RendererSpec, render};

#[derive(Args)]
pub struct RenderArgs {
    /// A Git URL (https://, ssh://, git@host:path, file://) or a local directory. A local
    /// directory is rendered as it is on disk unless --revision is given.
    source: String,
    /// Branch, tag, commit SHA, `HEAD`, or a semver range over tags (`>=1.2 <2`).
    #[arg(long)]
    revision: Option<String>,
    /// Path of the application inside the source.
    #[arg(long, default_value = "")]
    path: String,
    #[command(flatten)]
    git: GitArgs,
    /// kustomize's `--load-restrictor`: `LoadRestrictionsRootOnly` (the default) refuses files
    /// outside a kustomization's directory; `LoadRestrictionsNone` allows any file of the
    /// source (never outside it), as Argo CD's `kustomize.buildOptions` often sets.
    #[arg(long, value_enum, default_value = "LoadRestrictionsRootOnly")]
    load_restrictor: LoadRestrictor,
    /// Render with the native kustomize (the default when the path holds a kustomization).
    #[arg(long, group = "renderer")]
    kustomize: bool,
    /// Render every YAML/JSON file of the path.
    #[arg(long, group = "renderer")]
    directory: bool,
    /// With --directory: include subdirectories.
    #[arg(long, requires = "directory")]
    recurse: bool,
    /// Render with a plugin: `helm` (helm template) or `kustomize` (the kustomize binary).
    #[arg(long, group = "renderer")]
    plugin: Option<String>,
    /// A custom plugin command (argv, split on whitespace, no shell).
    #[arg(long, group = "renderer")]
    plugin_command: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Output::Yaml)]
    output: Output,
}

/// How to reach a Git source. Secrets come from the environment, never from arguments.
#[derive(Args)]
pub struct GitArgs {
    /// Where bare mirrors are kept (default: $DRIFTLESS_DATA_DIR, else ~/.driftless).
    #[arg(long, env = "DRIFTLESS_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// SSH private key for ssh:// and git@host:path URLs.
    #[arg(long)]
    ssh_key: Option<std::path::PathBuf>,
    /// known_hosts file checked strictly for SSH (default: ~/.ssh/known_hosts).
    #[arg(long)]
    known_hosts: Option<std::path::PathBuf>,
    /// Extra PEM CA bundle trusted for HTTPS.
    #[arg(long)]
    ca_file: Option<std::path::PathBuf>,
    /// Allow plain http:// and git:// to non-loopback hosts.
    #[arg(long)]
    insecure: bool,
    /// Shallow fetch depth (default: full history).
    #[arg(long)]
    depth: Option<u32>,
}

impl GitArgs {
    /// Credentials: --ssh-key, else DRIFTLESS_GIT_TOKEN (bearer), else DRIFTLESS_GIT_USERNAME
    /// with DRIFTLESS_GIT_PASSWORD (basic).
    fn credentials(&self) -> anyhow::Result<Credentials> {
        if let Some(key) = &self.ssh_key {
            let known_hosts = match &self.known_hosts {
                Some(k) => k.clone(),
                None => std::path::PathBuf::from(
                    std::env::var("HOME").context("HOME is not set; pass --known-hosts")?,
                )
                .join(".ssh/known_hosts"),
            };
            return Ok(Credentials::SshKey {
                private_key: key.clone(),
                known_hosts,
            });
        }
        if let Ok(token) = std::env::var("DRIFTLESS_GIT_TOKEN") {
            return Ok(Credentials::Bearer {
                token: Secret::new(token),
            });
        }
        match (
            std::env::var("DRIFTLESS_GIT_USERNAME"),
            std::env::var("DRIFTLESS_GIT_PASSWORD"),
        ) {
            (Ok(username), Ok(password)) => Ok(Credentials::Basic {
                username,
                password: Secret::new(password),
            }),
            (Ok(_), Err(_)) => {
                bail!("DRIFTLESS_GIT_USERNAME is set but DRIFTLESS_GIT_PASSWORD is not")
            }
            _ => Ok(Credentials::None),
        }
    }

    fn data_dir(&self) -> anyhow::Result<std::path::PathBuf> {
        match &self.data_dir {
            Some(d) => Ok(d.clone()),
            None => Ok(std::path::PathBuf::from(
                std::env::var("HOME").context("HOME is not set; pass --data-dir")?,
            )
            .join(".driftless")),
        }
    }
}

/// Fetches `source` into its mirror and returns the tree of the resolved revision.
fn git_tree(source: &str, revision: &str, git: &GitArgs) -> anyhow::Result<GitTree> {
    // The CLI runs on the user's own machine: local repositories and loopback are fine here.
    let policy = UrlPolicy {
        allow_local: true,
        allow_insecure: git.insecure,
    };
    let url = match std::path::Path::new(source) {
        p if p.is_dir() => p.canonicalize()?.to_string_lossy().into_owned(),
        _ => source.to_string(),
    };
    let mut mirror = Mirror::open(&git.data_dir()?, &url, policy)?;
    if let Some(ca) = &git.ca_file {
        mirror = mirror.with_ca_file(ca);
    }
    let depth = git
        .depth
        .map(|d| std::num::NonZeroU32::new(d).context("--depth must be at least 1"))
        .transpose()?;
    mirror.fetch(&git.credentials()?, &FetchOptions { depth })?;
    let commit = mirror.resolve(revision)?;
    Ok(mirror.tree_at(&commit)?)
}

/// Renders `path` of `source` (a Git URL, or a local directory: as on disk unless a
/// revision is given, then through Git).
pub(crate) fn render_source(
    source: &str,
    revision: Option<&str>,
    path: &str,
    spec: &RendererSpec,
    git: &GitArgs,
    limits: &RenderLimits,
) -> anyhow::Result<driftless_render::Rendered> {
    let tree = open_source(source, revision, git)?;
    render_tree_with(tree.as_ref(), path, spec, limits)
}

/// The tree a source names: a Git URL (or a local repository at `revision`) fetched, or a
/// local directory as it is on disk.
pub(crate) fn open_source(
    source: &str,
    revision: Option<&str>,
    git: &GitArgs,
) -> anyhow::Result<Box<dyn SourceTree>> {
    let is_url = source.contains("://")
        || driftless_git::url::parse(source)
            .is_ok_and(|u| u.scheme != driftless_git::url::Scheme::File);
    Ok(if is_url || revision.is_some() {
        let revision = revision.unwrap_or("HEAD");
        Box::new(git_tree(source, revision, git).with_context(|| {
            format!(
                "fetching `{revision}` of {}",
                driftless_git::url::redact(source)
            )
        })?)
    } else {
        Box::new(LocalTree::new(source).with_context(|| format!("cannot open `{source}`"))?)
    })
}

/// Renders `path` of an opened source tree.
pub(crate) fn render_tree(
    tree: &dyn SourceTree,
    path: &str,
    spec: &RendererSpec,
) -> anyhow::Result<driftless_render::Rendered> {
    render_tree_with(tree, path, spec, &RenderLimits::default())
}

/// [`render_tree`] with explicit limits (`--load-restrictor`).
fn render_tree_with(
    tree: &dyn SourceTree,
    path: &str,
    spec: &RendererSpec,
    limits: &RenderLimits,
) -> anyhow::Result<driftless_render::Rendered> {
    let shown_path = if path.is_empty() { "." } else { path };
    // One YAML budget for the whole render (every file, every base), not per stream.
    let (result, _) =
        driftless_core::yaml::scoped(driftless_core::yaml::Budget::for_task(), || {
            render(tree, path, spec, limits)
        });
    result.with_context(|| format!("rendering `{shown_path}` in {}", tree.describe()))
}

/// kustomize's load restrictor, spelled as kustomize spells it.
#[derive(Clone, Copy, ValueEnum)]
enum LoadRestrictor {
    #[value(name = "LoadRestrictionsRootOnly")]
    RootOnly,
    #[value(name = "LoadRestrictionsNone")]
    None,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Yaml,
    Json,
}

fn preset(name: &str) -> anyhow::Result<PluginSpec> {
    driftless_render::plugin::preset(name).with_context(|| {
        format!("unknown plugin `{name}`: use helm, kustomize, or --plugin-command")
    })
}

pub fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let spec = if args.kustomize {
        RendererSpec::Kustomize
    } else if args.directory {
        RendererSpec::Directory(DirectoryOptions {
            recurse: args.recurse,
            ..Default::default()
        })
    } else if let Some(p) = &args.plugin {
        RendererSpec::Plugin(preset(p)?)
    } else if let Some(cmd) = &args.plugin_command {
        RendererSpec::Plugin(PluginSpec {
            name: "custom".into(),
            command: cmd.split_whitespace().map(String::from).collect(),
            env: Default::default(),
            env_allow: Vec::new(),
            timeout_seconds: 90,
            max_output_bytes: None,
        })
    } else {
        RendererSpec::Auto
    };
    let limits = RenderLimits {
        kustomize_files_outside_root: matches!(args.load_restrictor, LoadRestrictor::None),
        ..RenderLimits::default()
    };
    let rendered = render_source(
        &args.source,
        args.revision.as_deref(),
        &args.path,
        &spec,
        &args.git,
        &limits,
    )?;
    for w in &rendered.warnings {
        eprintln!("warning: {w}");
    }
    let objects: Vec<&serde_json::Value> = rendered.set.values().collect();
    match args.output {
        Output::Yaml => print!(
            "{}",
            driftless_core::yaml::to_yaml_stream(objects.iter().copied())
        ),
        Output::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {"digest": rendered.set.digest()}, "items": objects});
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
