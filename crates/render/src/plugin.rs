//! The plugin renderer: an external command (`helm template`, `jsonnet`, `kustomize build`...)
//! run on a private copy of the application directory; its stdout is read as a YAML stream.
//!
//! - No shell: `command` is argv. The environment is cleared, then only `PATH`, `HOME` (the
//!   working copy), the `envAllow` names and the explicit `env` entries are set.
//! - The app directory is copied out of the source tree through the same confinement as every
//!   render (no escaping symlinks), into a temporary directory that is always removed.
//! - A timeout kills the process; stdout is capped in bytes (a plugin streaming forever is
//!   stopped, not buffered).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use driftless_core::source::{NodeKind, Tree};
use serde::{Deserialize, Serialize};

use crate::manifest::{LoadedObject, parse_objects};
use crate::{Inputs, RenderError, RenderLimits};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginSpec {
    /// Name used in messages (`helm`, `jsonnet`).
    pub name: String,
    /// Program and arguments; `{path}` is replaced by the app directory in the working copy.
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Names of the engine's environment variables passed through.
    #[serde(default)]
    pub env_allow: Vec<String>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Cap on stdout; the render's total cap applies when smaller.
    #[serde(default)]
    pub max_output_bytes: Option<usize>,
}

fn default_timeout() -> u64 {
    90
}

fn plugin_err(spec: &PluginSpec, message: impl Into<String>) -> RenderError {
    RenderError::Plugin {
        plugin: spec.name.clone(),
        message: message.into(),
    }
}

/// Copies `dir` of the tree into `dest`, file by file, through the confined [`Tree`].
fn materialize(
    tree: &Tree<'_>,
    dir: &str,
    dest: &Path,
    limits: &RenderLimits,
    budget: &mut usize,
) -> Result<(), RenderError> {
    std::fs::create_dir_all(dest).map_err(|e| {
        RenderError::invalid(
            dir,
            None,
            format!("cannot create working copy: {}", e.kind()),
        )
    })?;
    for (name, path) in tree.list(dir).map_err(|e| RenderError::source(dir, e))? {
        if name == ".git" {
            continue;
        }
        match tree
            .kind(&path)
            .map_err(|e| RenderError::source(&path, e))?
        {
            Some(NodeKind::Dir) => materialize(tree, &path, &dest.join(&name), limits, budget)?,
            Some(NodeKind::File) => {
                let bytes = tree
                    .read(&path, limits.max_file_bytes)
                    .map_err(|e| RenderError::source(&path, e))?;
                *budget = budget.checked_sub(bytes.len()).ok_or(RenderError::Cap {
                    what: "bytes of plugin input",
                    limit: limits.max_total_bytes,
                })?;
                std::fs::write(dest.join(&name), bytes).map_err(|e| {
                    RenderError::invalid(&path, None, format!("cannot copy: {}", e.kind()))
                })?;
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn render(
    tree: &Tree<'_>,
    app: &str,
    spec: &PluginSpec,
    limits: &RenderLimits,
    inputs: &mut Inputs,
) -> Result<Vec<LoadedObject>, RenderError> {
    let (program, args) = spec
        .command
        .split_first()
        .ok_or_else(|| plugin_err(spec, "`command` is empty"))?;
    inputs.add(app);
    let work = tempfile::Builder::new()
        .prefix("driftless-plugin-")
        .tempdir()
        .map_err(|e| {
            plugin_err(
                spec,
                format!("cannot create a working directory: {}", e.kind()),
            )
        })?;
    let app_dir = work.path().join("app");
    let mut budget = limits.max_total_bytes;
    materialize(tree, app, &app_dir, limits, &mut budget)?;

    let mut cmd = Command::new(program);
    cmd.args(
        args.iter()
            .map(|a| a.replace("{path}", &app_dir.to_string_lossy())),
    )
    .current_dir(&app_dir)
    .env_clear()
    .env("HOME", work.path())
    .env("DRIFTLESS_APP_PATH", app)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for name in &spec.env_allow {
        if let Ok(v) = std::env::var(name) {
            cmd.env(name, v);
        }
    }
    cmd.envs(&spec.env);
    let mut child = cmd
        .spawn()
        .map_err(|e| plugin_err(spec, format!("cannot start `{program}`: {}", e.kind())))?;

    let cap = spec
        .max_output_bytes
        .unwrap_or(limits.max_total_bytes)
        .min(limits.max_total_bytes);
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stdout).take(cap as u64 + 1).read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(spec.timeout_seconds.max(1));
    // stdout ends when the plugin exits, or when the cap is reached: either way stop waiting
    // for it at the deadline (a grandchild holding the pipe open cannot hang the render).
    let buf = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(buf) => buf,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(plugin_err(
                spec,
                format!("timed out after {}s", spec.timeout_seconds),
            ));
        }
    };
    if buf.len() > cap {
        let _ = child.kill();
        let _ = child.wait();
        return Err(plugin_err(
            spec,
            format!("output exceeds the {cap}-byte cap"),
        ));
    }
    let status = wait_until(&mut child, deadline);
    finish(spec, app, status, buf, err_reader, limits)
}

fn wait_until(
    child: &mut std::process::Child,
    deadline: Instant,
) -> Option<std::process::ExitStatus> {
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn finish(
    spec: &PluginSpec,
    app: &str,
    status: Option<std::process::ExitStatus>,
    stdout: Vec<u8>,
    err_reader: std::thread::JoinHandle<Vec<u8>>,
    limits: &RenderLimits,
) -> Result<Vec<LoadedObject>, RenderError> {
    let status = status
        .ok_or_else(|| plugin_err(spec, format!("timed out after {}s", spec.timeout_seconds)))?;
    let stderr = err_reader.join().unwrap_or_default();
    if !status.success() {
        let text = String::from_utf8_lossy(&stderr);
        let tail: String = text
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(plugin_err(
            spec,
            format!("exited with {status}: {}", tail.trim()),
        ));
    }
    let text = String::from_utf8(stdout).map_err(|_| plugin_err(spec, "output is not UTF-8"))?;
    let origin = format!("{app} ({} output)", spec.name);
    Ok(parse_objects(&origin, &text, limits)?.0)
}

/// The built-in plugin presets: `helm` (`helm template release .`) and `kustomize` (the
/// kustomize binary, for features the native one does not cover).
pub fn preset(name: &str) -> Option<PluginSpec> {
    let command: Vec<&str> = match name {
        "helm" => vec!["helm", "template", "release", "."],
        "kustomize" => vec!["kustomize", "build", "."],
        _ => return None,
    };
    Some(PluginSpec {
        name: name.to_string(),
        command: command.into_iter().map(String::from).collect(),
        env: Default::default(),
        env_allow: Vec::new(),
        timeout_seconds: 90,
        max_output_bytes: None,
    })
}
