//! Custom health checks in Lua, compatible with Argo CD's contract: the script sees the live
//! object as the global `obj` and returns a table `{ status = "...", message = "..." }`.
//!
//! Scripts run in Luau's sandbox mode (built-ins read-only, globals isolated per script)
//! with `loadstring`, `require`, `getfenv`/`setfenv`, `collectgarbage` and `os` removed, a
//! wall-clock deadline checked by the VM's interrupt hook, and a memory cap. Each run gets
//! a fresh state, so one object's evaluation can never see another's.

use std::time::{Duration, Instant};

use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaSerdeExt, Value as LuaValue, VmState};
use serde_json::Value;

use driftless_core::wildcard;

use crate::{Health, HealthStatus};

/// Globals a health script must not reach.
const REMOVED: &[&str] = &[
    "loadstring",
    "require",
    "getfenv",
    "setfenv",
    "collectgarbage",
    "os",
    "debug",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LuaError {
    #[error("health check for {selector}: {message}")]
    Script { selector: String, message: String },
    #[error("health check for {selector} did not finish within {limit:?}")]
    Timeout { selector: String, limit: Duration },
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
    pub timeout: Duration,
    pub memory_bytes: usize,
}

impl LuaCheck {
    /// Checks the script compiles; the error names the selector and Luau's line.
    pub fn new(selector: &str, script: &str) -> Result<Self, LuaError> {
        let check = LuaCheck {
            selector: selector.to_string(),
            script: script.to_string(),
            timeout: Duration::from_millis(100),
            memory_bytes: 16 << 20,
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
        LuaError::Script {
            selector: self.selector.clone(),
            message: e.to_string().lines().next().unwrap_or_default().to_string(),
        }
    }

    /// Runs the script on one object.
    pub fn run(&self, obj: &Value) -> Result<Health, LuaError> {
        let lua = Lua::new();
        let setup = || -> mlua::Result<()> {
            let g = lua.globals();
            for name in REMOVED {
                g.raw_remove(*name)?;
            }
            lua.sandbox(true)?;
            lua.set_memory_limit(self.memory_bytes)?;
            let opts = SerializeOptions::new()
                .serialize_none_to_null(false)
                .serialize_unit_to_null(false);
            lua.globals().set("obj", lua.to_value_with(obj, opts)?)?;
            Ok(())
        };
        setup().map_err(|e| self.script_error(e))?;
        let deadline = Instant::now() + self.timeout;
        lua.set_interrupt(move |_| {
            if Instant::now() > deadline {
                return Err(mlua::Error::RuntimeError("time limit exceeded".into()));
            }
            Ok(VmState::Continue)
        });
        let result: LuaValue = match lua
            .load(&self.script)
            .set_name(format!("={}", self.selector))
            .eval()
        {
            Ok(v) => v,
            Err(e) if Instant::now() > deadline => {
                let _ = e;
                return Err(LuaError::Timeout {
                    selector: self.selector.clone(),
                    limit: self.timeout,
                });
            }
            Err(e) => return Err(self.script_error(e)),
        };
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
            r#"return { status = "Healthy", message = tostring(loadstring) .. tostring(require) .. tostring(os) .. tostring(io) }"#,
        )
        .unwrap();
        assert_eq!(c.run(&json!({})).unwrap().message, "nilnilnilnil");
    }

    #[test]
    fn endless_scripts_time_out_and_hogs_hit_the_memory_cap() {
        let c = LuaCheck::new("a/B", "while true do end").unwrap();
        assert!(matches!(c.run(&json!({})), Err(LuaError::Timeout { .. })));
        let hog = LuaCheck::new("a/B", "local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 1000) .. i end return {status='Healthy'}").unwrap();
        let err = hog.run(&json!({})).unwrap_err();
        assert!(err.to_string().contains("a/B"), "{err}");
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
