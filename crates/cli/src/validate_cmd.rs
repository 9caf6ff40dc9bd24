//! `driftless validate`: the whole configuration repository checked before anything syncs —
//! structure rules, YAML syntax, every environment/application rendered (no cluster) and
//! checked against the Kubernetes and CRD schemas, Rego policies and deprecated APIs.
//! Reports as text, JSON, JUnit XML or SARIF; exit 1 on errors, 0 with warnings only, 2 when
//! the command itself could not run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use driftless_core::source::{SourceTree, Tree};
use driftless_git::{Credentials, FetchOptions, Mirror, Secret, UrlPolicy};
use driftless_policy::config::Target;
use driftless_policy::report::{EnvironmentReport, Report};
use driftless_policy::{Check, Finding, ObjectRef, PolicySet, Rendered, SchemaSet, Validator};
use driftless_render::local::LocalTree;
use driftless_render::{RenderError, RenderLimits, RendererSpec, render};

#[derive(Args)]
pub struct ValidateArgs {
    /// The repository: a local directory (as on disk unless --revision is given) or a Git URL.
    #[arg(default_value = ".")]
    source: String,
    /// Branch, tag or commit to validate (through Git).
    #[arg(long)]
    revision: Option<String>,
    /// Paths to render (default: the config's targets, else the repository's Applications
    /// and each `environments/*` directory).
    #[arg(long = "path")]
    paths: Vec<String>,
    /// Only these environments/applications (by name).
    #[arg(long = "env")]
    envs: Vec<String>,
    /// The ValidationConfig file in the repository (default: driftless.yaml when present).
    #[arg(long)]
    config: Option<String>,
    /// Target Kubernetes version (default: the config's, else 1.36).
    #[arg(long)]
    kube_version: Option<String>,
    /// Another Kubernetes version's OpenAPI document (v2 or v3, JSON or YAML; repeatable:
    /// v3 comes one file per group-version). Replaces the embedded v1.36 schema.
    #[arg(long = "schema")]
    schemas: Vec<PathBuf>,
    /// A file or directory of CustomResourceDefinitions (local).
    #[arg(long = "crd")]
    crds: Vec<PathBuf>,
    /// A directory of Rego policies (local), in addition to the config's.
    #[arg(long = "policy")]
    policies: Vec<PathBuf>,
    /// Switch on a built-in policy by name (repeatable).
    #[arg(long = "enable")]
    enable: Vec<String>,
    /// Report format (`-o json` is the CI artifact `gitops-validation-report.json`).
    #[arg(short = 'o', long = "format", value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report to this file instead of stdout (a one-line summary goes to stderr).
    #[arg(long = "output", visible_alias = "report")]
    output_file: Option<PathBuf>,
    #[command(flatten)]
    git: GitSource,
}

/// How to reach a Git repository; secrets come from the environment (DRIFTLESS_GIT_TOKEN, or
/// DRIFTLESS_GIT_USERNAME + DRIFTLESS_GIT_PASSWORD), never from arguments.
#[derive(Args)]
struct GitSource {
    /// Where bare mirrors are kept (default: $DRIFTLESS_DATA_DIR, else ~/.driftless).
    #[arg(long, env = "DRIFTLESS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// SSH private key for ssh:// and git@host:path URLs (known hosts: ~/.ssh/known_hosts).
    #[arg(long)]
    ssh_key: Option<PathBuf>,
    /// Extra PEM CA bundle trusted for HTTPS.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Allow plain http:// to non-loopback hosts.
    #[arg(long)]
    insecure: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Junit,
    Sarif,
}

fn home() -> anyhow::Result<PathBuf> {
    Ok(PathBuf::from(
        std::env::var("HOME").context("HOME is not set")?,
    ))
}

fn credentials(git: &GitSource) -> anyhow::Result<Credentials> {
    if let Some(key) = &git.ssh_key {
        return Ok(Credentials::SshKey {
            private_key: key.clone(),
            known_hosts: home()?.join(".ssh/known_hosts"),
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
        (Ok(_), Err(_)) => bail!("DRIFTLESS_GIT_USERNAME is set but DRIFTLESS_GIT_PASSWORD is not"),
        _ => Ok(Credentials::None),
    }
}

/// The repository's tree: the directory on disk, or the revision fetched into a mirror.
fn open_tree(args: &ValidateArgs) -> anyhow::Result<Box<dyn SourceTree>> {
    let source = &args.source;
    let local = Path::new(source).is_dir();
    if local && args.revision.is_none() {
        return Ok(Box::new(
            LocalTree::new(source).with_context(|| format!("cannot open `{source}`"))?,
        ));
    }
    let url = if local {
        Path::new(source)
            .canonicalize()?
            .to_string_lossy()
            .into_owned()
    } else {
        source.clone()
    };
    let revision = args.revision.as_deref().unwrap_or("HEAD");
    let fetch = || -> anyhow::Result<Box<dyn SourceTree>> {
        let data_dir = match &args.git.data_dir {
            Some(d) => d.clone(),
            None => home()?.join(".driftless"),
        };
        let policy = UrlPolicy {
            allow_local: true,
            allow_insecure: args.git.insecure,
        };
        let mut mirror = Mirror::open(&data_dir, &url, policy)?;
        if let Some(ca) = &args.git.ca_file {
            mirror = mirror.with_ca_file(ca);
        }
        mirror.fetch(&credentials(&args.git)?, &FetchOptions { depth: None })?;
        let commit = mirror.resolve(revision)?;
        Ok(Box::new(mirror.tree_at(&commit)?))
    };
    fetch().with_context(|| {
        format!(
            "fetching `{revision}` of {}",
            driftless_git::url::redact(source)
        )
    })
}

/// What to render: --path, else the config's targets, else the repository's Applications
/// (those whose path exists here) and every environment directory not already covered.
fn targets(
    args: &ValidateArgs,
    tree: &dyn SourceTree,
    inputs: &driftless_policy::load::RepoInputs,
    inv: &driftless_policy::repo::Inventory,
) -> Vec<(Target, RendererSpec)> {
    let mut out: Vec<(Target, RendererSpec)> = Vec::new();
    if !args.paths.is_empty() {
        for p in &args.paths {
            let path = p.trim_matches('/').to_string();
            out.push((
                Target {
                    name: if path.is_empty() {
                        ".".into()
                    } else {
                        path.clone()
                    },
                    path,
                },
                RendererSpec::Auto,
            ));
        }
    } else if !inputs.config.targets.is_empty() {
        out = inputs
            .config
            .targets
            .iter()
            .map(|t| (t.clone(), RendererSpec::Auto))
            .collect();
    } else {
        let t = Tree::new(tree);
        for file in inv.documents.keys() {
            let Ok(text) = t.read_string(file, 8 * 1024 * 1024) else {
                continue;
            };
            let Ok(apps) = driftless_core::app::parse(&text, file) else {
                continue;
            };
            for parsed in apps {
                let app = parsed.app;
                let path = app.source.path.trim_matches('/').to_string();
                if path.is_empty()
                    || !inv.dirs.contains(&path)
                    || out.iter().any(|(o, _)| o.path == path)
                {
                    continue;
                }
                let spec = driftless_render::spec_for(&app.source).unwrap_or(RendererSpec::Auto);
                out.push((
                    Target {
                        name: app.name,
                        path,
                    },
                    spec,
                ));
            }
        }
        let env_dir = inputs
            .config
            .structure
            .environments
            .directory
            .trim_matches('/');
        for dir in inv.dirs.iter().filter(|d| {
            d.strip_prefix(env_dir)
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|r| !r.contains('/'))
        }) {
            if !out.iter().any(|(o, _)| &o.path == dir) {
                let name = dir.rsplit('/').next().unwrap_or(dir).to_string();
                out.push((
                    Target {
                        name,
                        path: dir.clone(),
                    },
                    RendererSpec::Auto,
                ));
            }
        }
    }
    if !args.envs.is_empty() {
        out.retain(|(t, _)| {
            args.envs
                .iter()
                .any(|e| e == &t.name || t.path.rsplit('/').next() == Some(e.as_str()))
        });
    }
    out
}

/// A render failure as a finding (skipped when the YAML check already reported its file).
fn render_finding(
    env: &str,
    path: &str,
    e: &RenderError,
    inv: &driftless_policy::repo::Inventory,
) -> Option<Finding> {
    if let RenderError::Yaml { file, .. } = e
        && inv.broken.contains(file)
    {
        return None;
    }
    let mut f = Finding::error(
        Check::Structure,
        "render.failed",
        format!("`{path}` does not render: {e}"),
    );
    f.environment = env.to_string();
    f.file = Some(match e {
        RenderError::Source { file, .. }
        | RenderError::Yaml { file, .. }
        | RenderError::Invalid { file, .. } => file
            .split_once('#')
            .map_or(file.as_str(), |(f, _)| f)
            .to_string(),
        _ => path.to_string(),
    });
    Some(f)
}

/// The schema: the embedded v1.36 one or the --schema / config files, plus every CRD given
/// (--crd) or configured (`spec.schema.crds`); a bad one stops the command.
fn schemas(
    args: &ValidateArgs,
    tree: &dyn SourceTree,
    inputs: &driftless_policy::load::RepoInputs,
) -> anyhow::Result<SchemaSet> {
    let mut set = if args.schemas.is_empty() && inputs.config.schema.files.is_empty() {
        (*driftless_policy::gate::embedded_schema()).clone()
    } else {
        let mut set = SchemaSet::default();
        for f in &args.schemas {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading --schema {}", f.display()))?;
            driftless_policy::load::schema_file(&text, &f.display().to_string(), &mut set)?;
        }
        let t = Tree::new(tree);
        for f in &inputs.config.schema.files {
            let text = t
                .read_string(f, 64 * 1024 * 1024)
                .with_context(|| format!("reading schema file `{f}`"))?;
            driftless_policy::load::schema_file(&text, f, &mut set)?;
        }
        set
    };
    let mut crds = inputs.crds.clone();
    for p in &args.crds {
        let local = LocalTree::new(p.parent().unwrap_or(Path::new(".")).to_path_buf())
            .with_context(|| format!("--crd {}", p.display()))?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (crd, origin) in driftless_policy::load::crds(&local, &name)? {
            crds.push((
                crd,
                format!(
                    "{}/{origin}",
                    p.parent().unwrap_or(Path::new(".")).display()
                ),
            ));
        }
    }
    for (crd, origin) in &crds {
        set.add_crd(crd, origin)?;
    }
    Ok(set)
}

fn policies(
    args: &ValidateArgs,
    inputs: &driftless_policy::load::RepoInputs,
) -> anyhow::Result<PolicySet> {
    let mut builtins: Vec<_> = inputs
        .config
        .policies
        .builtin
        .iter()
        .map(|b| b.enabled())
        .collect();
    for name in &args.enable {
        if !builtins.iter().any(|b| &b.name == name) {
            builtins.push(driftless_policy::config::BuiltinEntry::Name(name.clone()).enabled());
        }
    }
    let mut modules = inputs.modules.clone();
    for dir in &args.policies {
        let local =
            LocalTree::new(dir.clone()).with_context(|| format!("--policy {}", dir.display()))?;
        for mut m in driftless_policy::load::modules(&local, "")? {
            m.file = dir.join(&m.file).display().to_string();
            modules.push(m);
        }
    }
    Ok(PolicySet::new(&builtins, &modules)?)
}

/// CRDs found in the repository's files or rendered by a target: their schemas apply to
/// the custom resources; a bad one is a finding, not the end of the run.
fn add_found_crds(
    schema: &mut SchemaSet,
    inv: &driftless_policy::repo::Inventory,
    sets: &[(Target, driftless_core::DesiredSet)],
) -> Vec<Finding> {
    let mut found = Vec::new();
    for (file, text) in &inv.texts {
        if text.contains("CustomResourceDefinition") {
            // The file parsed during the scan; it cannot fail here.
            let _ = driftless_policy::load::crds_in_text(text, file, &mut found);
        }
    }
    for o in sets.iter().flat_map(|(_, s)| s.iter()) {
        if driftless_policy::load::is_crd(&o.object) {
            found.push((o.object.clone(), o.origin.clone()));
        }
    }
    let mut out = Vec::new();
    for (crd, origin) in &found {
        if let Err(e) = schema.add_crd(crd, origin) {
            let file = origin.split_once('#').map_or(origin.as_str(), |(f, _)| f);
            out.push(
                Finding::error(Check::Schema, "schema.crd", e.to_string())
                    .in_file(file)
                    .on(ObjectRef::of(crd)),
            );
        }
    }
    out.sort_by(|a, b| a.message.cmp(&b.message));
    out.dedup();
    out
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let tree = open_tree(&args)?;
    let inputs = driftless_policy::load::load(tree.as_ref(), args.config.as_deref())?;
    let version = args
        .kube_version
        .clone()
        .unwrap_or_else(|| inputs.config.kubernetes_version.clone());
    let minor = driftless_policy::deprecation::parse_minor(&version)
        .with_context(|| format!("--kube-version must look like 1.36, found {version:?}"))?;
    let (inv, mut findings) = driftless_policy::repo::scan(tree.as_ref());
    findings.extend(driftless_policy::repo::check_structure(
        &inv,
        &inputs.config,
    ));

    let mut environments = Vec::new();
    let mut sets = Vec::new();
    for (target, spec) in targets(&args, tree.as_ref(), &inputs, &inv) {
        match render(tree.as_ref(), &target.path, &spec, &RenderLimits::default()) {
            Ok(r) => sets.push((target, r.set)),
            Err(e) => {
                findings.extend(render_finding(&target.name, &target.path, &e, &inv));
                environments.push(EnvironmentReport {
                    name: target.name,
                    path: target.path,
                    objects: Vec::new(),
                    rendered: false,
                });
            }
        }
    }
    let mut schema = schemas(&args, tree.as_ref(), &inputs)?;
    findings.extend(add_found_crds(&mut schema, &inv, &sets));
    let mut validator = Validator::new(Arc::new(schema), policies(&args, &inputs)?, minor);
    validator.ignore_missing_schemas = inputs.config.schema.ignore_missing_schemas;
    let objects: Vec<Rendered> = sets
        .iter()
        .flat_map(|(t, s)| {
            s.iter().map(move |o| Rendered {
                object: &o.object,
                origin: &o.origin,
                environment: &t.name,
            })
        })
        .collect();
    findings.extend(
        validator.check(&objects, &|origin: &str, field: Option<&str>| {
            inv.position(origin, field)
        }),
    );
    for (t, s) in &sets {
        let objects = s
            .iter()
            .map(|o| (ObjectRef::of(&o.object), inv.locate(&o.origin).0))
            .collect();
        environments.push(EnvironmentReport {
            name: t.name.clone(),
            path: t.path.clone(),
            objects,
            rendered: true,
        });
    }
    environments.sort_by(|a, b| a.name.cmp(&b.name));

    let mut report = Report {
        kubernetes_version: format!("1.{minor}"),
        source: driftless_git::url::redact(&args.source),
        revision: args.revision.clone(),
        environments,
        findings,
    };
    report.sort();
    let body = match args.format {
        Format::Text => driftless_policy::report::text(&report),
        Format::Json => serde_json::to_string_pretty(&report.json())? + "\n",
        Format::Junit => driftless_policy::report::junit(&report),
        Format::Sarif => {
            serde_json::to_string_pretty(&driftless_policy::report::sarif(&report))? + "\n"
        }
    };
    match &args.output_file {
        Some(path) => {
            std::fs::write(path, body)
                .with_context(|| format!("writing the report to {}", path.display()))?;
            let c = report.counts();
            eprintln!(
                "{} error(s), {} warning(s); report written to {}",
                c.errors,
                c.warnings,
                path.display()
            );
        }
        None => print!("{body}"),
    }
    Ok(if report.counts().errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
