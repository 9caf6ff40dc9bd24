//! What a script may touch of the host besides the engine: `print` and `io.write` to the
//! console, `io.read` for a confirmation (the console decides: a terminal line, `--yes`, or
//! a refusal when nobody can answer), and `log.debug/info/warn/error` into the engine's
//! structured log (tracing, target `driftless::script`, with the script and task as fields,
//! so `DRIFTLESS_LOG_FORMAT=json` makes them JSON like every engine line).

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{Lua, MultiValue, Table, Variadic};

use crate::sandbox::Budget;

/// The terminal (or a test's stand-in) a script prints to and reads confirmations from.
pub trait Console {
    /// Writes `text` as is (`print` adds the newline).
    fn write(&self, text: &str);
    /// One line typed by the user, without its newline; `Ok(None)` at end of input; `Err`
    /// when no one can answer (stdin is not a terminal and `--yes` was not given).
    fn read_line(&self) -> Result<Option<String>, String>;
}

/// Who is logging: the script file and the task running now.
#[derive(Clone)]
pub(crate) struct Origin {
    pub file: Rc<str>,
    pub task: Rc<RefCell<Option<String>>>,
}

fn joined(args: &MultiValue, sep: &str) -> mlua::Result<String> {
    let parts: mlua::Result<Vec<String>> = args.iter().map(|v| v.to_string()).collect();
    Ok(parts?.join(sep))
}

fn log_fn(lua: &Lua, origin: &Origin, level: tracing::Level) -> mlua::Result<mlua::Function> {
    let origin = origin.clone();
    lua.create_function(move |_, args: MultiValue| {
        let msg = joined(&args, " ")?;
        // Recorded only inside a task (an absent field, not an empty one, at top level).
        let task = origin.task.borrow().clone();
        let task = task.as_deref();
        let file = &*origin.file;
        match level {
            tracing::Level::ERROR => {
                tracing::error!(target: "driftless::script", script = file, task, "{msg}")
            }
            tracing::Level::WARN => {
                tracing::warn!(target: "driftless::script", script = file, task, "{msg}")
            }
            tracing::Level::DEBUG | tracing::Level::TRACE => {
                tracing::debug!(target: "driftless::script", script = file, task, "{msg}")
            }
            tracing::Level::INFO => {
                tracing::info!(target: "driftless::script", script = file, task, "{msg}")
            }
        }
        Ok(())
    })
}

/// Adds `print`, `io` and `log` to the script's environment.
pub(crate) fn install(
    lua: &Lua,
    env: &Table,
    console: Rc<dyn Console>,
    budget: &Budget,
    origin: &Origin,
) -> mlua::Result<Table> {
    let out = console.clone();
    env.set(
        "print",
        lua.create_function(move |_, args: MultiValue| {
            out.write(&format!("{}\n", joined(&args, "\t")?));
            Ok(())
        })?,
    )?;
    let io = lua.create_table()?;
    let out = console.clone();
    io.set(
        "write",
        lua.create_function(move |_, args: MultiValue| {
            out.write(&joined(&args, "")?);
            Ok(())
        })?,
    )?;
    let (input, budget) = (console, budget.clone());
    io.set(
        "read",
        lua.create_function(move |lua, formats: Variadic<mlua::Value>| {
            let at = crate::sandbox::caller(lua);
            for f in formats.iter() {
                let f = f.to_string()?;
                if !matches!(f.trim_start_matches('*'), "l" | "line" | "L") {
                    return Err(mlua::Error::RuntimeError(format!(
                        "{at}io.read: only lines can be read (a confirmation), not {f:?}"
                    )));
                }
            }
            budget
                .host(|| input.read_line())
                .map_err(|e| mlua::Error::RuntimeError(format!("{at}io.read: {e}")))
        })?,
    )?;
    env.set("io", io)?;
    let log = lua.create_table()?;
    log.set("debug", log_fn(lua, origin, tracing::Level::DEBUG)?)?;
    log.set("info", log_fn(lua, origin, tracing::Level::INFO)?)?;
    log.set("warn", log_fn(lua, origin, tracing::Level::WARN)?)?;
    log.set("error", log_fn(lua, origin, tracing::Level::ERROR)?)?;
    env.set("log", log.clone())?;
    Ok(log)
}
