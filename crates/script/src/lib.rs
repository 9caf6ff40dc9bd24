//! Lua workflows: `driftless run SCRIPT.lua` runs a script with the `gitops` module (the
//! Sloth Runner GitOps API: workflows, repositories, diff previews, sync, status, rollback,
//! auto-sync; plus pipelines, history and events), `task(...)` builders, `log.*` and
//! `params`, against a running engine through its API as the caller.
//!
//! Entry point: [`run`]. The engine is reached only through [`client::EngineClient`]; the
//! terminal only through [`host::Console`]. The script runs in a [`sandbox`]: no file,
//! process or network access but the module, Lua time and memory limits, and errors that
//! carry the script's file and line.
//!
//! A run: the script's body runs first (it may act at once, as the documentation's
//! fragments do, or build tasks); then the tasks asked for run, dependencies first
//! ([`tasks`]). The report says which succeeded; any failure makes the run fail.

pub mod client;
pub mod gitops;
pub mod host;
pub mod sandbox;
pub mod tasks;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use mlua::{Function, Table, Value};

pub use client::{ClientError, EngineClient};
pub use host::Console;
pub use tasks::TaskOutcome;

/// What to run and within which limits.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The script's name in messages (its path as given).
    pub file: String,
    pub source: String,
    /// Tasks to run (all, in build order, when empty).
    pub tasks: Vec<String>,
    /// `--param k=v`: the `params` table, and globals for the documentation's fragments.
    pub params: BTreeMap<String, String>,
    /// Lua time (waits on the engine excluded).
    pub cpu_limit: Duration,
    pub memory_limit: usize,
    /// Longest wait on one engine operation (a sync, a rollback, a promotion).
    pub wait_limit: Duration,
}

impl RunOptions {
    pub fn new(file: &str, source: &str) -> Self {
        RunOptions {
            file: file.to_string(),
            source: source.to_string(),
            tasks: Vec::new(),
            params: BTreeMap::new(),
            cpu_limit: Duration::from_secs(30),
            memory_limit: 64 << 20,
            wait_limit: Duration::from_secs(600),
        }
    }
}

/// Why a run could not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The script does not compile, or its body raised an error (`file:line: message`).
    #[error("{0}")]
    Lua(String),
    /// What was asked cannot be run (an unknown task, a cycle, a parameter shadowing a
    /// built-in).
    #[error("{0}")]
    Usage(String),
}

/// The outcome of a run: the tasks that ran, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub tasks: Vec<TaskOutcome>,
}

impl Report {
    pub fn success(&self) -> bool {
        self.tasks.iter().all(|t| t.success)
    }
}

/// Globals a parameter may not replace.
const RESERVED: &[&str] = &[
    "gitops", "task", "log", "params", "print", "io", "require", "string", "table", "math", "os",
    "pairs", "ipairs", "error", "type", "tostring", "tonumber", "pcall", "xpcall",
];

/// Runs a script to the end.
pub fn run(
    opts: &RunOptions,
    client: Rc<dyn EngineClient>,
    console: Rc<dyn Console>,
) -> Result<Report, ScriptError> {
    let lua_err = |e: mlua::Error| ScriptError::Lua(sandbox::message(&e));
    let sb = sandbox::Sandbox::new(opts.cpu_limit, opts.memory_limit).map_err(lua_err)?;
    let (lua, env) = (&sb.lua, &sb.env);
    let origin = host::Origin {
        file: Rc::from(opts.file.as_str()),
        task: Rc::new(RefCell::new(None)),
    };
    let log = host::install(lua, env, console, &sb.budget, &origin).map_err(lua_err)?;
    let gitops = Rc::new(gitops::Gitops::new(
        client,
        sb.budget.clone(),
        opts.wait_limit,
    ))
    .install(lua)
    .map_err(lua_err)?;
    let registry: tasks::Registry = Rc::new(RefCell::new(Vec::new()));
    let params = lua.create_table().map_err(lua_err)?;
    for (k, v) in &opts.params {
        if RESERVED.contains(&k.as_str()) {
            return Err(ScriptError::Usage(format!(
                "--param {k}: {k} is a built-in of scripts; choose another name"
            )));
        }
        params.set(k.as_str(), v.as_str()).map_err(lua_err)?;
        env.set(k.as_str(), v.as_str()).map_err(lua_err)?;
    }
    let setup = || -> mlua::Result<()> {
        env.set("gitops", gitops.clone())?;
        env.set("task", tasks::task_function(lua, registry.clone())?)?;
        env.set("params", params.clone())?;
        env.set("require", require_fn(lua, env, &gitops, &log)?)?;
        Ok(())
    };
    setup().map_err(lua_err)?;
    let chunk = lua
        .load(opts.source.as_str())
        .set_name(format!("@{}", sandbox::chunk_name(&opts.file)))
        .set_environment(env.clone());
    chunk.exec().map_err(lua_err)?;
    let built = registry.borrow().clone();
    if built.is_empty() {
        if let Some(t) = opts.tasks.first() {
            return Err(ScriptError::Usage(format!(
                "no task named {t}: {} builds no task",
                opts.file
            )));
        }
        return Ok(Report::default());
    }
    let ordered = tasks::order(&built, &opts.tasks).map_err(ScriptError::Usage)?;
    let outcomes = tasks::run(lua, &ordered, &params, &origin.task, &opts.file).map_err(lua_err)?;
    if sb.budget.exceeded() {
        return Err(ScriptError::Lua(format!(
            "{}: time limit of {}s of Lua time exceeded",
            opts.file,
            opts.cpu_limit.as_secs()
        )));
    }
    Ok(Report { tasks: outcomes })
}

/// `require(name)`: only the modules a script has (the documentation's scripts start with
/// `local gitops = require("gitops")`).
fn require_fn(lua: &mlua::Lua, env: &Table, gitops: &Table, log: &Table) -> mlua::Result<Function> {
    let modules = lua.create_table()?;
    modules.set("gitops", gitops.clone())?;
    modules.set("log", log.clone())?;
    for m in ["string", "table", "math", "os"] {
        modules.set(m, env.get::<Value>(m)?)?;
    }
    lua.create_function(move |lua, name: String| match modules.get::<Value>(name.as_str())? {
        Value::Nil => Err(mlua::Error::RuntimeError(format!(
            "{}module '{name}' not found (scripts may require gitops, log, string, table, math, os)",
            sandbox::caller(lua)
        ))),
        m => Ok(m),
    })
}

#[cfg(test)]
mod tests;
