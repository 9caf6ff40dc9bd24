//! Tasks as scripts declare them: `task("name"):description(...):depends_on({...})
//! :command(function(params, deps) ... end):build()`. After the script's body ran, the
//! runner runs the tasks asked for (all, in the order they were built, when none is named),
//! each after its dependencies; a task whose dependency failed is skipped. A command's
//! answer decides its outcome: `{success = bool, message = ...}`, `true|false, message`, a
//! string (success, the message), or nothing (success). An error fails the task with the
//! script's file and line.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Instant;

use mlua::{Function, Lua, MultiValue, Table, UserData, UserDataMethods, Value};

/// A built task.
#[derive(Clone)]
pub(crate) struct TaskDef {
    pub name: String,
    pub description: String,
    pub deps: Vec<String>,
    pub command: Function,
    /// Where it was built (`file:line: `), for errors about it.
    pub at: String,
}

/// The tasks a script built, in order.
pub(crate) type Registry = Rc<RefCell<Vec<TaskDef>>>;

#[derive(Clone)]
struct Builder {
    name: String,
    description: String,
    deps: Vec<String>,
    command: Option<Function>,
    registry: Registry,
}

impl UserData for Builder {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("description", |_, b, d: String| {
            Ok(Builder {
                description: d,
                ..b.clone()
            })
        });
        m.add_method("depends_on", |_, b, deps: Value| {
            let mut next = b.clone();
            match deps {
                Value::String(s) => next.deps.push(s.to_str()?.to_string()),
                Value::Table(t) => {
                    for d in t.sequence_values::<String>() {
                        next.deps.push(d?);
                    }
                }
                other => {
                    return Err(mlua::Error::RuntimeError(format!(
                        "task {}: depends_on takes a name or a list of names, not a {}",
                        b.name,
                        other.type_name()
                    )));
                }
            }
            Ok(next)
        });
        m.add_method("command", |_, b, f: Function| {
            Ok(Builder {
                command: Some(f),
                ..b.clone()
            })
        });
        m.add_method("build", |lua, b, ()| {
            let at = crate::sandbox::caller(lua);
            let command = b.command.clone().ok_or_else(|| {
                mlua::Error::RuntimeError(format!("{at}task {} has no command", b.name))
            })?;
            let mut reg = b.registry.borrow_mut();
            if reg.iter().any(|t| t.name == b.name) {
                return Err(mlua::Error::RuntimeError(format!(
                    "{at}task {} is defined twice",
                    b.name
                )));
            }
            reg.push(TaskDef {
                name: b.name.clone(),
                description: b.description.clone(),
                deps: b.deps.clone(),
                command,
                at,
            });
            Ok(b.name.clone())
        });
    }
}

/// The global `task(name)`.
pub(crate) fn task_function(lua: &Lua, registry: Registry) -> mlua::Result<Function> {
    lua.create_function(move |_, name: String| {
        if name.trim().is_empty() {
            return Err(mlua::Error::RuntimeError(
                "task(name): the name is empty".into(),
            ));
        }
        Ok(Builder {
            name,
            description: String::new(),
            deps: Vec::new(),
            command: None,
            registry: registry.clone(),
        })
    })
}

/// How one task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutcome {
    pub name: String,
    pub success: bool,
    pub message: String,
    pub seconds: u64,
}

/// The tasks to run, dependencies first: `wanted` (all when empty) and what they need.
pub(crate) fn order(tasks: &[TaskDef], wanted: &[String]) -> Result<Vec<TaskDef>, String> {
    let by_name: HashMap<&str, &TaskDef> = tasks.iter().map(|t| (t.name.as_str(), t)).collect();
    let roots: Vec<String> = if wanted.is_empty() {
        tasks.iter().map(|t| t.name.clone()).collect()
    } else {
        wanted.to_vec()
    };
    let mut out: Vec<TaskDef> = Vec::new();
    // 0: not seen, 1: on the current path, 2: placed.
    let mut mark: BTreeMap<String, u8> = BTreeMap::new();
    fn visit(
        name: &str,
        by_name: &HashMap<&str, &TaskDef>,
        mark: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
        out: &mut Vec<TaskDef>,
        needed_by: Option<&TaskDef>,
    ) -> Result<(), String> {
        let t = by_name.get(name).ok_or_else(|| match needed_by {
            Some(p) => format!(
                "{}task {} depends on {name}, which is not defined",
                p.at, p.name
            ),
            None => format!("no task named {name}"),
        })?;
        match mark.get(name) {
            Some(2) => return Ok(()),
            Some(1) => {
                path.push(name.to_string());
                return Err(format!(
                    "tasks depend on each other in a cycle: {}",
                    path.join(" -> ")
                ));
            }
            _ => {}
        }
        mark.insert(name.to_string(), 1);
        path.push(name.to_string());
        for d in &t.deps {
            visit(d, by_name, mark, path, out, Some(t))?;
        }
        path.pop();
        mark.insert(name.to_string(), 2);
        out.push((*t).clone());
        Ok(())
    }
    for r in &roots {
        visit(r, &by_name, &mut mark, &mut Vec::new(), &mut out, None)?;
    }
    Ok(out)
}

/// What a command returned, as an outcome.
fn outcome_of(values: MultiValue) -> (bool, String, Value) {
    let mut it = values.into_iter();
    let first = it.next().unwrap_or(Value::Nil);
    let second = it.next().unwrap_or(Value::Nil);
    let text = |v: &Value| {
        v.to_string()
            .ok()
            .filter(|_| !v.is_nil())
            .unwrap_or_default()
    };
    match &first {
        Value::Nil => (true, String::new(), first),
        Value::Boolean(b) => (*b, text(&second), first),
        Value::Table(t) => {
            let success = !matches!(t.get::<Value>("success"), Ok(Value::Boolean(false)));
            let message = t
                .get::<Value>("message")
                .map(|m| text(&m))
                .unwrap_or_default();
            (success, message, first)
        }
        other => (true, text(other), first),
    }
}

/// Runs the ordered tasks; `current` names the running one for the log lines.
pub(crate) fn run(
    lua: &Lua,
    ordered: &[TaskDef],
    params: &Table,
    current: &RefCell<Option<String>>,
    script: &str,
) -> mlua::Result<Vec<TaskOutcome>> {
    let results = lua.create_table()?;
    let mut outcomes: Vec<TaskOutcome> = Vec::new();
    for t in ordered {
        let started = Instant::now();
        let failed_dep = t
            .deps
            .iter()
            .find(|d| outcomes.iter().any(|o| &o.name == *d && !o.success));
        if let Some(d) = failed_dep {
            tracing::warn!(target: "driftless::script", script, task = %t.name, "skipped: dependency {d} failed");
            outcomes.push(TaskOutcome {
                name: t.name.clone(),
                success: false,
                message: format!("skipped: dependency {d} failed"),
                seconds: 0,
            });
            continue;
        }
        let deps = lua.create_table()?;
        for d in &t.deps {
            deps.set(d.as_str(), results.get::<Value>(d.as_str())?)?;
        }
        *current.borrow_mut() = Some(t.name.clone());
        tracing::info!(target: "driftless::script", script, task = %t.name, description = %t.description, "task started");
        let r = t.command.call::<MultiValue>((params.clone(), deps));
        *current.borrow_mut() = None;
        let (success, message, value) = match r {
            Ok(v) => outcome_of(v),
            Err(e) => (false, crate::sandbox::message(&e), Value::Nil),
        };
        let shown = lua.create_table()?;
        shown.set("success", success)?;
        shown.set("message", message.as_str())?;
        shown.set("value", value)?;
        results.set(t.name.as_str(), shown)?;
        let seconds = started.elapsed().as_secs();
        if success {
            tracing::info!(target: "driftless::script", script, task = %t.name, seconds, "task succeeded: {message}");
        } else {
            tracing::error!(target: "driftless::script", script, task = %t.name, seconds, "task failed: {message}");
        }
        outcomes.push(TaskOutcome {
            name: t.name.clone(),
            success,
            message,
            seconds,
        });
    }
    Ok(outcomes)
}
