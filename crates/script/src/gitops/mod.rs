//! The `gitops` module: the names, arguments and result shapes of the Sloth Runner GitOps
//! documentation, over the engine's API (see [`crate::client::EngineClient`]). A workflow is
//! an Application, a repository a Repository definition; everything a script does is done
//! by the API as the script's user, so it is visible in the UI and in the audit log.
//!
//! Errors a script cannot act on (an unknown workflow, the engine unreachable, a bad
//! argument) are raised with the script's file and line; outcomes a script is expected to
//! handle (a sync or a rollback that failed) are returned as `false, message`.

mod args;
pub mod diff;
mod objects;
mod ops;
pub mod spec;
mod status_view;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use mlua::{Lua, MultiValue, Table, Value};

use crate::client::{ClientError, EngineClient};
use crate::sandbox::{Budget, caller};
use args::Opts;

/// The module's state for one run.
pub(crate) struct Gitops {
    client: Rc<dyn EngineClient>,
    budget: Budget,
    /// How long one wait on the engine (a sync, a rollback, a promotion) may take.
    wait_limit: Duration,
    /// Branches given to `register_repository` in this run, by repository id: the default
    /// target revision of workflows created from it.
    branches: RefCell<HashMap<String, String>>,
}

/// A failure of a `gitops.*` call, raised in the script at the caller's line.
fn raise(at: &str, func: &str, e: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::RuntimeError(format!("{at}gitops.{func}: {e}"))
}

/// JSON as Lua: objects become tables, `null` becomes nil.
pub(crate) fn to_lua(lua: &Lua, v: &serde_json::Value) -> mlua::Result<Value> {
    use mlua::LuaSerdeExt;
    let opts = mlua::serde::SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    lua.to_value_with(v, opts)
}

/// A workflow id argument: the id itself, or what `workflow{}` returned.
fn workflow_id(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.to_str().map_err(|e| e.to_string())?.to_string()),
        Value::Table(t) => t
            .get::<Option<String>>("workflow_id")
            .ok()
            .flatten()
            .ok_or_else(|| "the workflow table has no workflow_id".into()),
        Value::Nil => {
            Err("the workflow id is nil (pass --param workflow_id=... to the run?)".into())
        }
        other => Err(format!(
            "a workflow id is a string, not a {}",
            other.type_name()
        )),
    }
}

impl Gitops {
    pub(crate) fn new(client: Rc<dyn EngineClient>, budget: Budget, wait_limit: Duration) -> Self {
        Gitops {
            client,
            budget,
            wait_limit,
            branches: RefCell::new(HashMap::new()),
        }
    }

    /// An API call, outside the Lua-time budget.
    fn call<T>(
        &self,
        f: impl FnOnce(&dyn EngineClient) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        self.budget.host(|| f(self.client.as_ref()))
    }

    /// The module table.
    pub(crate) fn install(self: Rc<Self>, lua: &Lua) -> mlua::Result<Table> {
        let m = lua.create_table()?;
        self.add(lua, &m, "workflow", |g, lua, at, args| {
            let w = Opts::new(lua, args.into_iter().next(), "workflow", at)?.workflow(&g, false)?;
            let id = g.put_workflow(&w).map_err(|e| raise(at, "workflow", e))?;
            let t = lua.create_table()?;
            t.set("workflow_id", id.as_str())?;
            t.set("name", id)?;
            t.set("repository", w.repo)?;
            Ok(MultiValue::from_vec(vec![Value::Table(t)]))
        })?;
        self.add(lua, &m, "create_workflow", |g, lua, at, args| {
            let w = Opts::new(lua, args.into_iter().next(), "create_workflow", at)?
                .workflow(&g, true)?;
            let id = g
                .put_workflow(&w)
                .map_err(|e| raise(at, "create_workflow", e))?;
            Ok(MultiValue::from_vec(vec![Value::String(
                lua.create_string(&id)?,
            )]))
        })?;
        self.add(lua, &m, "register_repository", |g, lua, at, args| {
            let (url, branch, creds) =
                Opts::new(lua, args.into_iter().next(), "register_repository", at)?.repository()?;
            let doc = spec::repository(&url, &creds);
            let name = doc["metadata"]["name"].as_str().unwrap_or_default().to_string();
            g.call(|c| c.put_repository(&doc))
                .map_err(|e| raise(at, "register_repository", e))?;
            if let Some(b) = branch {
                g.branches.borrow_mut().insert(name.clone(), b);
            }
            tracing::info!(target: "driftless::script", repository = %name, url = %spec::redact(&url), "repository registered");
            Ok(MultiValue::from_vec(vec![Value::String(lua.create_string(&name)?)]))
        })?;
        for name in ["generate_diff", "preview_changes"] {
            self.add(lua, &m, name, move |g, lua, at, args| {
                let id = first_id(&args).map_err(|e| raise(at, name, e))?;
                let p = g.preview(&id).map_err(|e| raise(at, name, e))?;
                Ok(MultiValue::from_vec(vec![match p {
                    Some(p) => to_lua(lua, &p)?,
                    None => Value::Nil,
                }]))
            })?;
        }
        ops::install(&self, lua, &m)?;
        objects::install(&self, lua, &m)?;
        Ok(m)
    }

    /// Registers `gitops.<name>`: `f` gets the caller's `file:line: ` for its errors.
    fn add(
        self: &Rc<Self>,
        lua: &Lua,
        m: &Table,
        name: &'static str,
        f: impl Fn(Rc<Gitops>, &Lua, &str, MultiValue) -> mlua::Result<MultiValue> + 'static,
    ) -> mlua::Result<()> {
        let g = self.clone();
        m.set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let at = caller(lua);
                f(g.clone(), lua, &at, args)
            })?,
        )
    }

    /// Creates or replaces the workflow's Application; returns its id.
    fn put_workflow(&self, w: &spec::Workflow) -> Result<String, String> {
        let doc = w.application()?;
        let id = w.id();
        let answer = self
            .call(|c| c.put_application(&doc))
            .map_err(|e| e.to_string())?;
        for warning in answer["warnings"].as_array().into_iter().flatten() {
            tracing::warn!(target: "driftless::script", workflow = %id, "{}", warning.as_str().unwrap_or_default());
        }
        tracing::info!(target: "driftless::script", workflow = %id, repo = %spec::redact(&w.repo), path = %w.target_path, auto_sync = w.auto_sync, "workflow created");
        Ok(id)
    }

    /// The URL and the branch registered under repository id `id` (a URL is taken as is).
    fn repository_url(&self, id: &str) -> Result<(String, Option<String>), String> {
        let branch = self.branches.borrow().get(id).cloned();
        if id.contains("://") || id.contains('@') || id.starts_with('/') {
            return Ok((id.to_string(), branch));
        }
        let repos = self.call(|c| c.repositories()).map_err(|e| e.to_string())?;
        let found = repos
            .iter()
            .find(|r| r["name"] == id)
            .and_then(|r| r["url"].as_str())
            .ok_or_else(|| {
                format!("no repository {id} is registered (register_repository returns the id)")
            })?;
        Ok((found.to_string(), branch))
    }

    /// The script's view of what a sync would change (`None`: nothing).
    fn preview(&self, id: &str) -> Result<Option<serde_json::Value>, String> {
        let app = self.app(id)?;
        let prunes = app["spec"]["syncPolicy"]["automated"]["prune"] == true
            || app["spec"]["labels"][format!("{}/auto-prune", spec::LABEL)] == "true";
        let answer = self.call(|c| c.diff(id)).map_err(|e| e.to_string())?;
        Ok(diff::preview(&answer["comparison"], prunes))
    }

    /// An application's record; a clear error when there is none.
    fn app(&self, id: &str) -> Result<serde_json::Value, String> {
        self.call(|c| c.application(id))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("workflow {id} not found (no application of that name)"))
    }
}

/// The first argument as a workflow id.
fn first_id(args: &MultiValue) -> Result<String, String> {
    workflow_id(args.iter().next().unwrap_or(&Value::Nil))
}
