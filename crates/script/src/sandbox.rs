//! The sandboxed LuaJIT state a script runs in.
//!
//! LuaJIT has no sandbox mode, so the script's environment is an allow-list built before the
//! script exists: the base functions that cannot load code or reach the host, `string`,
//! `table`, `math`, a safe `os` (clocks and dates only), and what the runner adds (`gitops`,
//! `task`, `log`, `params`, `print`, an `io` whose only function is the confirmation prompt,
//! and a `require` that hands out those modules). No file, process or network access exists
//! except through the `gitops` module, which goes to the engine's API as the caller.
//!
//! Limits: the JIT is off (compiled traces skip count hooks), an instruction-count hook
//! enforces a budget of Lua time, and the allocator caps memory. Time spent waiting on the
//! engine (a sync, a promotion) is not Lua time: host calls pause the budget (see
//! [`Budget::host`]); the overall wait is bounded by the run's timeout instead.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Table, VmState};

/// VM instructions between two budget checks: a tight loop overruns by microseconds.
const HOOK_EVERY: u32 = 1_000;

/// Builds the environment from the real globals, then removes whatever could load code or
/// reach the host from those globals.
const PRELUDE: &str = r#"
local timed_out = ...
jit.off()
jit.flush()
local env = {}
for _, name in ipairs({
  "assert", "error", "ipairs", "next", "pairs", "select", "tonumber", "tostring", "type",
  "unpack", "rawequal", "rawget", "rawset", "rawlen", "setmetatable", "getmetatable", "_VERSION",
}) do
  env[name] = _G[name]
end
string.dump = nil
env.string, env.table, env.math = string, table, math
env.os = { time = os.time, date = os.date, clock = os.clock, difftime = os.difftime }
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
for _, name in ipairs({ "dofile", "loadfile", "load", "loadstring", "module", "require",
  "getfenv", "setfenv", "collectgarbage", "newproxy", "gcinfo", "io", "os", "debug",
  "package", "ffi", "coroutine", "jit", "print" }) do
  _G[name] = nil
end
return env
"#;

/// Lua time used so far, net of host calls.
#[derive(Clone)]
pub struct Budget {
    inner: Arc<Mutex<BudgetState>>,
}

struct BudgetState {
    started: Instant,
    in_host: Duration,
    limit: Duration,
    exceeded: bool,
}

impl Budget {
    fn new(limit: Duration) -> Self {
        Budget {
            inner: Arc::new(Mutex::new(BudgetState {
                started: Instant::now(),
                in_host: Duration::ZERO,
                limit,
                exceeded: false,
            })),
        }
    }

    /// Runs a host call (an API request, a wait, a prompt) outside the Lua-time budget.
    pub fn host<T>(&self, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let r = f();
        self.lock().in_host += started.elapsed();
        r
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Has the script used up its Lua time? Latches: once over, always over.
    fn check(&self) -> bool {
        let mut s = self.lock();
        let used = s.started.elapsed().saturating_sub(s.in_host);
        if used > s.limit {
            s.exceeded = true;
        }
        s.exceeded
    }

    pub fn exceeded(&self) -> bool {
        self.lock().exceeded
    }
}

/// A fresh state, its environment and its budget.
pub struct Sandbox {
    pub lua: Lua,
    pub env: Table,
    pub budget: Budget,
}

impl Sandbox {
    /// `cpu`: the Lua time allowed; `memory_bytes`: what the script may allocate on top of
    /// the state's own.
    pub fn new(cpu: Duration, memory_bytes: usize) -> mlua::Result<Self> {
        let libs = StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::OS | StdLib::JIT;
        let lua = Lua::new_with(libs, LuaOptions::default())?;
        let budget = Budget::new(cpu);
        let probe_budget = budget.clone();
        let probe = lua.create_function(move |_, ()| Ok(probe_budget.exceeded()))?;
        let env: Table = lua.load(PRELUDE).set_name("=sandbox").call(probe)?;
        let cap = lua.used_memory().saturating_add(memory_bytes);
        let enforced = lua.set_memory_limit(cap).is_ok();
        let hook_budget = budget.clone();
        let triggers = HookTriggers::new().every_nth_instruction(HOOK_EVERY);
        lua.set_hook(triggers, move |lua, debug| {
            if hook_budget.check() {
                // Where the script was when its time ran out.
                let src = debug.source().short_src.map(|s| s.into_owned());
                let at = match (src, debug.current_line()) {
                    (Some(s), Some(l)) => format!("{s}:{l}: "),
                    _ => String::new(),
                };
                return Err(mlua::Error::RuntimeError(format!(
                    "{at}time limit exceeded (the script's Lua time, waits on the engine excluded)"
                )));
            }
            if !enforced && lua.used_memory() > cap {
                return Err(mlua::Error::MemoryError("memory limit exceeded".into()));
            }
            Ok(VmState::Continue)
        })?;
        Ok(Sandbox { lua, env, budget })
    }
}

/// `file:line: ` of the Lua code calling the running host function, for its errors.
pub fn caller(lua: &Lua) -> String {
    lua.inspect_stack(1, |d| {
        let src = d.source().short_src.map(|s| s.into_owned());
        match (src, d.current_line()) {
            (Some(s), Some(l)) => format!("{s}:{l}: "),
            _ => String::new(),
        }
    })
    .unwrap_or_default()
}

/// The message of an error raised in a script: the innermost cause, without mlua's
/// wrapping and tracebacks (the message already names the file and line).
pub fn message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => message(cause),
        mlua::Error::RuntimeError(m) => without_traceback(m),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::MemoryError(m) => format!("memory limit exceeded: {m}"),
        mlua::Error::WithContext { cause, context } => format!("{context}: {}", message(cause)),
        other => other.to_string(),
    }
}

/// The message without the traceback mlua appends (the first line names file and line).
fn without_traceback(m: &str) -> String {
    let end = [m.find("\nstack traceback:"), m.find("\n\t")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(m.len());
    m[..end].to_string()
}

/// The chunk name errors show: the path as given, or its file name when Lua would cut a
/// long path (it keeps 60 characters, from the end).
pub fn chunk_name(path: &str) -> String {
    if path.len() <= 55 {
        return path.to_string();
    }
    std::path::Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}
