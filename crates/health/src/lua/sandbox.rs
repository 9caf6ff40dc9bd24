//! The sandboxed LuaJIT state one health script runs in.
//!
//! LuaJIT has no sandbox mode, so the script's environment is built here from an allow-list:
//! the base functions that cannot load code or reach the host, `string`, `table`, `math`, a
//! safe `os` (time, date, clock, difftime: what Argo CD's `oslib_safe.go` offers, plus the
//! two harmless clocks), and a `require` that only hands out those modules. The state's real
//! globals never reach the script; each run gets a fresh state, so writes to globals (Argo
//! CD's scripts do `hs = {}`) stay inside one evaluation.
//!
//! Limits: the JIT is switched off (compiled traces skip count hooks), an instruction-count
//! hook enforces the deadline, and the allocator enforces the memory cap. `pcall`/`xpcall`
//! are wrapped so a script cannot swallow the time-limit error and keep running.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Table, VmState};

/// How many VM instructions run between two deadline checks: small enough that a tight loop
/// overruns the deadline by microseconds, large enough that the check costs nothing.
const HOOK_EVERY: u32 = 1_000;

/// Builds the environment table; runs once per state with the real globals, before the
/// script exists. `timed_out` is the Rust-side flag the hook raises.
const PRELUDE: &str = r#"
local timed_out = ...
jit.off()
jit.flush()
local env = {}
for _, name in ipairs({
  "assert", "error", "ipairs", "next", "pairs", "select", "tonumber", "tostring", "type",
  "unpack", "rawequal", "rawget", "rawset", "setmetatable", "getmetatable", "_VERSION",
}) do
  env[name] = _G[name]
end
-- Argo CD's scripts may print while debugging; output goes nowhere here.
env.print = function() end
string.dump = nil
local safe_os = {
  time = os.time, date = os.date, clock = os.clock, difftime = os.difftime,
}
env.string, env.table, env.math, env.os = string, table, math, safe_os
local modules = { os = safe_os, string = string, table = table, math = math }
env.require = function(name)
  local m = modules[name]
  if m == nil then
    error("module '" .. tostring(name) .. "' not found", 2)
  end
  return m
end
-- A time-limit error caught by the script is raised again, so the limit holds.
local raw_pcall, raw_xpcall = pcall, xpcall
local function pass(ok, ...)
  if not ok and timed_out() then error((...), 0) end
  return ok, ...
end
env.pcall = function(f, ...) return pass(raw_pcall(f, ...)) end
env.xpcall = function(f, handler)
  return pass(raw_xpcall(f, function(e)
    if timed_out() then return e end
    return handler(e)
  end))
end
env._G = env
-- Nothing outside the environment may load code or touch the host, even by accident.
for _, name in ipairs({ "dofile", "loadfile", "load", "loadstring", "module", "require",
  "getfenv", "setfenv", "collectgarbage", "newproxy", "gcinfo", "io", "os", "debug",
  "package", "ffi", "coroutine" }) do
  _G[name] = nil
end
return env
"#;

/// A fresh state and the environment for one script run.
pub(crate) struct Sandbox {
    pub lua: Lua,
    pub env: Table,
    timed_out: Arc<AtomicBool>,
}

impl Sandbox {
    pub fn new() -> mlua::Result<Self> {
        let libs = StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::OS | StdLib::JIT;
        let lua = Lua::new_with(libs, LuaOptions::default())?;
        let timed_out = Arc::new(AtomicBool::new(false));
        let flag = timed_out.clone();
        let probe = lua.create_function(move |_, ()| Ok(flag.load(Ordering::Relaxed)))?;
        let env: Table = lua.load(PRELUDE).set_name("=sandbox").call(probe)?;
        Ok(Sandbox {
            lua,
            env,
            timed_out,
        })
    }

    /// Caps the memory the script may allocate on top of what the state holds now, and
    /// arms the deadline. Past the deadline every hook call fails, so the error comes back
    /// however deep the script is.
    pub fn arm(&self, deadline: Instant, memory_bytes: usize) -> mlua::Result<()> {
        let cap = self.lua.used_memory().saturating_add(memory_bytes);
        // mlua's own allocator backs LuaJIT's GC64 build; if a build lacks it, the hook
        // below checks the figure instead.
        let enforced = self.lua.set_memory_limit(cap).is_ok();
        let flag = self.timed_out.clone();
        let triggers = HookTriggers::new().every_nth_instruction(HOOK_EVERY);
        self.lua.set_hook(triggers, move |lua, _| {
            if flag.load(Ordering::Relaxed) || Instant::now() > deadline {
                flag.store(true, Ordering::Relaxed);
                return Err(mlua::Error::RuntimeError("time limit exceeded".into()));
            }
            if !enforced && lua.used_memory() > cap {
                return Err(mlua::Error::MemoryError("memory limit exceeded".into()));
            }
            Ok(VmState::Continue)
        })
    }

    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Relaxed)
    }
}
