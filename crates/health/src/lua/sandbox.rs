//! The sandboxed LuaJIT state health scripts run in, one per thread, reused run after run.
//!
//! LuaJIT has no sandbox mode, so each run's environment is built from an allow-list
//! (`prelude.lua`): the base functions that cannot load code or reach the host, copies of
//! `string`, `table` and `math`, a safe `os` (time, date, clock, difftime: what Argo CD's
//! `oslib_safe.go` offers, plus the two harmless clocks), and a `require` that only hands
//! out those modules. The state's real globals never reach a script, and every run gets a
//! fresh environment, so writes to globals (Argo CD's scripts do `hs = {}`) stay inside one
//! evaluation; a run that hit a limit discards the whole state.
//!
//! Limits: the JIT is switched off (compiled traces skip count hooks), an instruction-count
//! hook enforces the deadline, and the allocator enforces the memory cap. `pcall`/`xpcall`
//! are wrapped so a script cannot swallow the time-limit error and keep running.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, VmState};

/// How many VM instructions run between two deadline checks: small enough that a tight loop
/// overruns the deadline by microseconds, large enough that the check costs nothing.
const HOOK_EVERY: u32 = 1_000;

/// Garbage left by earlier runs is collected once the state holds this much.
const COLLECT_ABOVE: usize = 16 << 20;

const PRELUDE: &str = concat!(include_str!("go_format.lua"), include_str!("prelude.lua"));

thread_local! {
    static STATE: RefCell<Option<Sandbox>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's sandbox and a fresh environment; a run that ran out of time
/// or memory (or found the state unusable) leaves no state behind for the next one.
pub(crate) fn with_sandbox<R>(f: impl FnOnce(&Sandbox, Table) -> (R, bool)) -> mlua::Result<R> {
    STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let sandbox = match slot.take() {
            Some(s) => s,
            None => Sandbox::new()?,
        };
        if sandbox.lua.used_memory() > COLLECT_ABOVE {
            sandbox.lua.gc_collect()?;
        }
        sandbox.timed_out.store(false, Ordering::Relaxed);
        let env: Table = sandbox.make_env.call(())?;
        let (result, healthy) = f(&sandbox, env);
        if healthy && !sandbox.timed_out() {
            sandbox.lua.remove_hook();
            *slot = Some(sandbox);
        }
        Ok(result)
    })
}

/// A LuaJIT state prepared by the prelude.
pub(crate) struct Sandbox {
    pub lua: Lua,
    make_env: Function,
    timed_out: Arc<AtomicBool>,
}

impl Sandbox {
    fn new() -> mlua::Result<Self> {
        let libs = StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::OS | StdLib::JIT;
        let lua = Lua::new_with(libs, LuaOptions::default())?;
        let timed_out = Arc::new(AtomicBool::new(false));
        let flag = timed_out.clone();
        let probe = lua.create_function(move |_, ()| Ok(flag.load(Ordering::Relaxed)))?;
        let make_env: Function = lua.load(PRELUDE).set_name("=sandbox").call(probe)?;
        Ok(Sandbox {
            lua,
            make_env,
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
