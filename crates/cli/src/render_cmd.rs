//! `driftless render`: what an application path renders to, for humans (`-o yaml`) and CI
//! jobs (`-o json`). Warnings go to stderr so stdout stays a clean manifest stream.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use driftless_render::directory::DirectoryOptions;
use driftless_render::local::LocalTree;
use driftless_render::plugin::PluginSpec;
use driftless_render::{RenderLimits, RendererSpec, render};

#[derive(Args)]
pub struct RenderArgs {
    /// A local directory (a checkout). Git URLs are fetched with --revision once mirrors land.
    source: String,
    /// Path of the application inside the source.
    #[arg(long, default_value = "")]
    path: String,
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

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Yaml,
    Json,
}

fn preset(name: &str) -> anyhow::Result<PluginSpec> {
    let command: Vec<&str> = match name {
        "helm" => vec!["helm", "template", "release", "."],
        "kustomize" => vec!["kustomize", "build", "."],
        other => bail!("unknown plugin `{other}`: use helm, kustomize, or --plugin-command"),
    };
    Ok(PluginSpec {
        name: name.to_string(),
        command: command.into_iter().map(String::from).collect(),
        env: Default::default(),
        env_allow: Vec::new(),
        timeout_seconds: 90,
        max_output_bytes: None,
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
    if args.source.contains("://") || args.source.starts_with("git@") {
        bail!(
            "`{}` is a Git URL; rendering straight from Git arrives with repository mirrors — render a local checkout for now",
            args.source
        );
    }
    let tree =
        LocalTree::new(&args.source).with_context(|| format!("cannot open `{}`", args.source))?;
    let rendered =
        render(&tree, &args.path, &spec, &RenderLimits::default()).with_context(|| {
            format!(
                "rendering `{}` in {}",
                if args.path.is_empty() {
                    "."
                } else {
                    &args.path
                },
                args.source
            )
        })?;
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
