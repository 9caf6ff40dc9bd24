//! Custom health checks in Lua, with Argo CD's contract: the script sees the live object as
//! the global `obj` and returns a table `{ status = "...", message = "..." }`.
//!
//! The runtime is LuaJIT (Lua 5.1 plus `goto`, like Argo CD's gopher-lua), run in the
//! sandbox of `lua/sandbox.rs`. What a script's result means follows Argo CD's
//! `ExecuteHealthLua`: `nil`, an empty table or an array means "no health" (the object is
//! left out of the aggregate); a status outside the six known ones is Unknown with "Lua
//! returned an invalid health status"; any other value, a runtime error, a time-out or a
//! script that does not compile is an error the assessor turns into Unknown for that object
//! alone.

mod sandbox;

use std::time::{Duration, Instant};

use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaSerdeExt, Table, Value as LuaValue};
use serde_json::Value;

use crate::config::LuaOrigin;
use crate::{Health, HealthStatus};
use sandbox::Sandbox;

/// Argo CD's answer to a status outside the six it knows.
pub const INVALID_STATUS: &str = "Lua returned an invalid health status";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LuaError {
    #[error("health check for {selector}: {message}")]
    Script { selector: String, message: String },
    #[error("health check for {selector} does not compile: {message}")]
    Compile { selector: String, message: String },
    #[error("health check for {selector} did not finish within {limit:?}")]
    Timeout { selector: String, limit: Duration },
    #[error("health check for {selector} used more than {limit} bytes of memory")]
    Memory { selector: String, limit: usize },
    #[error("health check for {selector}: {got}")]
    BadResult { selector: String, got: String },
}

/// One configured check: a selector (`group/Kind`, `Kind` for the core group, `*`
/// wildcards as in Argo CD's `resource.customizations` keys), its script and its origin.
#[derive(Debug, Clone)]
pub struct LuaCheck {
    pub selector: String,
    pub origin: LuaOrigin,
    script: String,
    compile_error: Option<LuaError>,
    /// Argo CD gives a script one second; so does Driftless.
    pub timeout: Duration,
    pub memory_bytes: usize,
}

impl LuaCheck {
    /// A check whose script must compile: the error names the selector and Lua's line.
    pub fn new(selector: &str, script: &str) -> Result<Self, LuaError> {
        let check = Self::parse(selector, script, LuaOrigin::Native);
        match check.compile_error {
            Some(e) => Err(e),
            None => Ok(check),
        }
    }

    /// A check from configuration: a script that does not compile is kept, and makes the
    /// health of the kinds it selects Unknown with the compiler's message (nothing else
    /// stops), as in Argo CD.
    pub fn parse(selector: &str, script: &str, origin: LuaOrigin) -> Self {
        let mut check = LuaCheck {
            selector: selector.to_string(),
            origin,
            script: script.to_string(),
            compile_error: None,
            timeout: Duration::from_secs(1),
            memory_bytes: 64 << 20,
        };
        let lua = Lua::new();
        if let Err(e) = lua
            .load(script)
            .set_name(format!("={selector}"))
            .into_function()
        {
            check.compile_error = Some(LuaError::Compile {
                selector: selector.to_string(),
                message: first_line(&e),
            });
        }
        check
    }

    /// Why the script cannot run, if it does not compile.
    pub fn compile_error(&self) -> Option<&LuaError> {
        self.compile_error.as_ref()
    }

    /// Whether the selector covers `group/kind`: Argo CD's key (`group/Kind`, or `Kind` for
    /// the core group) matched as a whole with `*` wildcards; the core group may also be
    /// written `/Kind`.
    pub fn applies_to(&self, group: &str, kind: &str) -> bool {
        self.applies_to_key(&argo_key(group, kind), group.is_empty())
    }

    /// [`Self::applies_to`] for an Argo CD key computed once by the caller.
    pub(crate) fn applies_to_key(&self, key: &str, core: bool) -> bool {
        let selector = self.key();
        if self.is_exact() {
            return selector == key;
        }
        // The core group may be written `*/Kind` as well as `Kind`.
        driftless_core::wildcard::matches(selector, key)
            || (core && driftless_core::wildcard::matches(selector, &format!("/{key}")))
    }

    /// The selector as an Argo CD key (`/Kind` is `Kind`).
    pub(crate) fn key(&self) -> &str {
        self.selector.strip_prefix('/').unwrap_or(&self.selector)
    }

    /// Whether the selector names one kind exactly (no wildcard).
    pub fn is_exact(&self) -> bool {
        !self.selector.contains('*')
    }

    fn script_error(&self, e: mlua::Error) -> LuaError {
        if is_memory_error(&e) {
            return LuaError::Memory {
                selector: self.selector.clone(),
                limit: self.memory_bytes,
            };
        }
        LuaError::Script {
            selector: self.selector.clone(),
            message: first_line(&e),
        }
    }

    /// Runs the script on one object: `Ok(None)` when the script says the object has no
    /// health (nil, an empty table, an array).
    pub fn run(&self, obj: &Value) -> Result<Option<Health>, LuaError> {
        if let Some(e) = &self.compile_error {
            return Err(e.clone());
        }
        let outcome = sandbox::with_sandbox(|sandbox, env| {
            let result = self.run_in(sandbox, env, obj);
            // Out of memory or time: the state is not worth keeping.
            let keep = !matches!(
                result,
                Err(LuaError::Memory { .. } | LuaError::Timeout { .. })
            );
            (result, keep)
        });
        outcome.map_err(|e| self.script_error(e))?
    }

    fn run_in(
        &self,
        sandbox: &Sandbox,
        env: Table,
        obj: &Value,
    ) -> Result<Option<Health>, LuaError> {
        let opts = SerializeOptions::new()
            .serialize_none_to_null(false)
            .serialize_unit_to_null(false)
            .set_array_metatable(false);
        let value = sandbox
            .lua
            .to_value_with(obj, opts)
            .map_err(|e| self.script_error(e))?;
        env.raw_set("obj", value)
            .map_err(|e| self.script_error(e))?;
        sandbox
            .arm(Instant::now() + self.timeout, self.memory_bytes)
            .map_err(|e| self.script_error(e))?;
        let result: LuaValue = match sandbox
            .lua
            .load(&self.script)
            .set_name(format!("={}", self.selector))
            .set_environment(env)
            .eval()
        {
            Ok(v) => v,
            Err(_) if sandbox.timed_out() => {
                return Err(LuaError::Timeout {
                    selector: self.selector.clone(),
                    limit: self.timeout,
                });
            }
            Err(e) => return Err(self.script_error(e)),
        };
        self.read_result(result)
    }

    fn read_result(&self, result: LuaValue) -> Result<Option<Health>, LuaError> {
        let bad = |got: String| LuaError::BadResult {
            selector: self.selector.clone(),
            got,
        };
        let t = match result {
            LuaValue::Nil => return Ok(None),
            LuaValue::Table(t) => t,
            other => {
                return Err(bad(format!(
                    "expect table output from Lua script, not {}",
                    argo_type_name(&other)
                )));
            }
        };
        if is_array(&t) {
            return Ok(None);
        }
        let status = string_field(&t, "status").map_err(&bad)?;
        let message = string_field(&t, "message").map_err(&bad)?;
        Ok(Some(match HealthStatus::parse(&status) {
            Some(status) => Health::new(status, message),
            None => Health::new(HealthStatus::Unknown, INVALID_STATUS),
        }))
    }
}

/// Argo CD's resource key: `group/Kind`, or just `Kind` for the core group.
pub fn argo_key(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{group}/{kind}")
    }
}

/// An empty table, or one with only the keys 1..n: Argo CD's JSON encoder writes an array,
/// which does not decode into a health, and Argo CD reads that as "no health".
fn is_array(t: &Table) -> bool {
    let n = t.raw_len();
    let mut count = 0usize;
    let mut only_sequence = true;
    t.for_each(|k: LuaValue, _: LuaValue| {
        count += 1;
        if !matches!(k, LuaValue::Integer(i) if i >= 1 && (i as usize) <= n)
            && !matches!(k, LuaValue::Number(f) if f >= 1.0 && f.fract() == 0.0 && (f as usize) <= n)
        {
            only_sequence = false;
        }
        Ok(())
    })
    .ok();
    only_sequence && count == n
}

/// A string field of the result; absent is empty. Anything else fails as Go's JSON decoder
/// fails on it in Argo CD.
fn string_field(t: &Table, name: &str) -> Result<String, String> {
    match t.raw_get::<LuaValue>(name) {
        Ok(LuaValue::Nil) => Ok(String::new()),
        Ok(LuaValue::String(s)) => Ok(s.to_string_lossy()),
        Ok(other) => Err(format!(
            "json: cannot unmarshal {} into Go struct field HealthStatus.{name} of type string",
            json_kind(&other)
        )),
        Err(e) => Err(first_line(&e)),
    }
}

fn json_kind(v: &LuaValue) -> &'static str {
    match v {
        LuaValue::Boolean(_) => "bool",
        LuaValue::Integer(_) | LuaValue::Number(_) => "number",
        LuaValue::Table(_) => "object",
        _ => "value",
    }
}

fn argo_type_name(v: &LuaValue) -> &'static str {
    match v {
        LuaValue::Boolean(_) => "boolean",
        LuaValue::Integer(_) | LuaValue::Number(_) => "number",
        LuaValue::String(_) => "string",
        LuaValue::Function(_) => "function",
        LuaValue::Thread(_) => "thread",
        _ => "userdata",
    }
}

fn first_line(e: &mlua::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// Out of memory, however the error was wrapped on its way out of Lua.
fn is_memory_error(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } => is_memory_error(cause),
        mlua::Error::WithContext { cause, .. } => is_memory_error(cause),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
