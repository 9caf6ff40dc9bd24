//! Custom health checks in Lua, compatible with Argo CD's contract: the script sees the live
//! object as the global `obj` and returns a table `{ status = "...", message = "..." }`.
//!
//! The runtime is LuaJIT (Lua 5.1 plus `goto`, like Argo CD's gopher-lua), run in the
//! sandbox of [`sandbox`]: an allow-listed environment (no io, no process, no code loading),
//! a wall-clock deadline enforced by an instruction-count hook, and a memory cap. Each run
//! gets a fresh state, so one object's evaluation can never see another's.

mod sandbox;

use std::time::{Duration, Instant};

use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaSerdeExt, Value as LuaValue};
use serde_json::Value;

use driftless_core::wildcard;

use crate::{Health, HealthStatus};
use sandbox::Sandbox;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LuaError {
    #[error("health check for {selector}: {message}")]
    Script { selector: String, message: String },
    #[error("health check for {selector} did not finish within {limit:?}")]
    Timeout { selector: String, limit: Duration },
    #[error("health check for {selector} used more than {limit} bytes of memory")]
    Memory { selector: String, limit: usize },
    #[error(
        "health check for {selector} returned {got}; expected a table with `status` (Healthy, Progressing, Degraded, Suspended, Missing or Unknown) and `message`"
    )]
    BadResult { selector: String, got: String },
}

/// One configured check: a `group/Kind` selector (`*` wildcards) and its script.
#[derive(Debug, Clone)]
pub struct LuaCheck {
    pub selector: String,
    script: String,
    /// Argo CD gives a script one second; so does Driftless.
    pub timeout: Duration,
    pub memory_bytes: usize,
}

impl LuaCheck {
    /// Checks the script compiles; the error names the selector and Lua's line.
    pub fn new(selector: &str, script: &str) -> Result<Self, LuaError> {
        let check = LuaCheck {
            selector: selector.to_string(),
            script: script.to_string(),
            timeout: Duration::from_secs(1),
            memory_bytes: 64 << 20,
        };
        let lua = Lua::new();
        lua.load(script)
            .set_name(format!("={selector}"))
            .into_function()
            .map_err(|e| check.script_error(e))?;
        Ok(check)
    }

    /// Whether the selector covers `group/kind` (`*` matches any run of characters; the
    /// core group is written as the empty string: `/ConfigMap`, or `*/ConfigMap`).
    pub fn applies_to(&self, group: &str, kind: &str) -> bool {
        let (g, k) = self
            .selector
            .split_once('/')
            .unwrap_or(("", &self.selector));
        wildcard::matches(g, group) && wildcard::matches(k, kind)
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
            message: e.to_string().lines().next().unwrap_or_default().to_string(),
        }
    }

    /// Runs the script on one object.
    pub fn run(&self, obj: &Value) -> Result<Health, LuaError> {
        let sandbox = Sandbox::new().map_err(|e| self.script_error(e))?;
        let opts = SerializeOptions::new()
            .serialize_none_to_null(false)
            .serialize_unit_to_null(false)
            .set_array_metatable(false);
        let value = sandbox
            .lua
            .to_value_with(obj, opts)
            .map_err(|e| self.script_error(e))?;
        sandbox
            .env
            .raw_set("obj", value)
            .map_err(|e| self.script_error(e))?;
        sandbox
            .arm(Instant::now() + self.timeout, self.memory_bytes)
            .map_err(|e| self.script_error(e))?;
        let result: LuaValue = match sandbox
            .lua
            .load(&self.script)
            .set_name(format!("={}", self.selector))
            .set_environment(sandbox.env.clone())
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

    fn read_result(&self, result: LuaValue) -> Result<Health, LuaError> {
        let bad = |got: String| LuaError::BadResult {
            selector: self.selector.clone(),
            got,
        };
        let LuaValue::Table(t) = result else {
            return Err(bad(result.type_name().to_string()));
        };
        let status: String = t
            .get("status")
            .map_err(|_| bad("a table without a string `status`".into()))?;
        let message: Option<String> = t.get("message").unwrap_or(None);
        let status =
            HealthStatus::parse(&status).ok_or_else(|| bad(format!("status `{status}`")))?;
        Ok(Health::new(status, message.unwrap_or_default()))
    }
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
mod tests {
    use super::*;
    use serde_json::json;

    const ARGO_STYLE: &str = r#"
hs = {}
if obj.status ~= nil and obj.status.phase == "Ready" then
  hs.status = "Healthy"
  hs.message = "ready: " .. obj.metadata.name
  return hs
end
hs.status = "Progressing"
hs.message = "waiting"
return hs
"#;

    #[test]
    fn argo_scripts_run_unchanged() {
        let c = LuaCheck::new("example.com/Widget", ARGO_STYLE).unwrap();
        let ready = json!({"metadata": {"name": "w"}, "status": {"phase": "Ready"}});
        assert_eq!(
            c.run(&ready).unwrap(),
            Health::new(HealthStatus::Healthy, "ready: w")
        );
        let fresh = json!({"metadata": {"name": "w"}, "status": null});
        assert_eq!(c.run(&fresh).unwrap().status, HealthStatus::Progressing);
    }

    #[test]
    fn the_sandbox_has_no_escape_hatches() {
        let c = LuaCheck::new(
            "*/*",
            r#"local found = {}
for _, name in ipairs({"loadstring", "load", "dofile", "loadfile", "io", "debug", "package",
    "ffi", "jit", "getfenv", "setfenv", "collectgarbage", "module", "coroutine"}) do
  if _G[name] ~= nil then found[#found + 1] = name end
end
for _, name in ipairs({"execute", "exit", "getenv", "remove", "rename", "tmpname"}) do
  if os[name] ~= nil then found[#found + 1] = "os." .. name end
end
if string.dump ~= nil then found[#found + 1] = "string.dump" end
local ok = pcall(require, "io")
if ok then found[#found + 1] = "require io" end
return { status = "Healthy", message = table.concat(found, ",") }"#,
        )
        .unwrap();
        assert_eq!(c.run(&json!({})).unwrap().message, "");
    }

    #[test]
    fn endless_scripts_time_out_even_when_they_catch_the_error() {
        let mut c = LuaCheck::new("a/B", "while true do end").unwrap();
        c.timeout = Duration::from_millis(50);
        let started = Instant::now();
        assert!(matches!(c.run(&json!({})), Err(LuaError::Timeout { .. })));
        assert!(started.elapsed() < Duration::from_secs(2));
        // A loop the JIT would compile (no calls): the hook must still fire.
        let mut hot = LuaCheck::new(
            "a/B",
            "local x = 0 for i = 1, 1e12 do x = x + i % 7 end return {status='Healthy'}",
        )
        .unwrap();
        hot.timeout = Duration::from_millis(50);
        assert!(matches!(hot.run(&json!({})), Err(LuaError::Timeout { .. })));
        let mut sly = LuaCheck::new(
            "a/B",
            "local function spin() while true do end end
             while true do pcall(spin) xpcall(spin, function(e) return e end) end",
        )
        .unwrap();
        sly.timeout = Duration::from_millis(50);
        let started = Instant::now();
        assert!(matches!(sly.run(&json!({})), Err(LuaError::Timeout { .. })));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn memory_hogs_hit_the_cap() {
        let mut hog = LuaCheck::new("a/B", "local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 1000) .. i end return {status='Healthy'}").unwrap();
        hog.memory_bytes = 8 << 20;
        let err = hog.run(&json!({})).unwrap_err();
        assert!(matches!(err, LuaError::Memory { .. }), "{err}");
        assert!(err.to_string().contains("a/B"), "{err}");
        let big = LuaCheck::new(
            "a/B",
            "local s = string.rep('x', 1e9) return {status='Healthy'}",
        )
        .unwrap();
        assert!(matches!(big.run(&json!({})), Err(LuaError::Memory { .. })));
    }

    #[test]
    fn lua_5_1_with_goto_and_the_safe_os() {
        let c = LuaCheck::new(
            "*/*",
            r#"local os = require("os")
for i = 1, 3 do
  if i == 2 then goto done end
end
::done::
local t = os.time({year = 2024, month = 1, day = 2, hour = 0})
hs = { status = "Healthy", message = os.date("!%Y", t) .. " " .. tostring(os.time() > t) }
return hs"#,
        )
        .unwrap();
        assert_eq!(c.run(&json!({})).unwrap().message, "2024 true");
    }

    #[test]
    fn bad_results_and_syntax_errors_name_the_selector() {
        let c = LuaCheck::new("a/B", "return { status = 'Great' }").unwrap();
        assert!(
            c.run(&json!({}))
                .unwrap_err()
                .to_string()
                .contains("status `Great`")
        );
        let err = LuaCheck::new("a/B", "return {").unwrap_err().to_string();
        assert!(err.starts_with("health check for a/B:"), "{err}");
    }

    #[test]
    fn selectors_take_wildcards() {
        let c = LuaCheck::new("*.example.com/*", "return {status='Healthy'}").unwrap();
        assert!(c.applies_to("db.example.com", "Cluster"));
        assert!(!c.applies_to("example.org", "Cluster"));
        let core = LuaCheck::new("/ConfigMap", "return {status='Healthy'}").unwrap();
        assert!(core.applies_to("", "ConfigMap") && !core.applies_to("apps", "ConfigMap"));
    }
}
