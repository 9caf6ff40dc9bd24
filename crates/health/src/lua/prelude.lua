-- Runs once per LuaJIT state, with the state's real globals; returns `make_env`, which
-- builds the allow-listed environment of one script run. `timed_out` is the Rust-side flag
-- the deadline hook raises.
local timed_out = ...
jit.off()
jit.flush()

local base = {}
for _, name in ipairs({
  "assert", "error", "ipairs", "next", "pairs", "select", "tonumber", "tostring", "type",
  "unpack", "rawequal", "rawget", "rawset", "setmetatable", "getmetatable", "_VERSION",
}) do
  base[name] = _G[name]
end

string.dump = nil
string.format = go_format(string.format)
-- Lua 5.0 names gopher-lua still answers to (Lua 5.1 kept them behind LUA_COMPAT).
math.mod = math.mod or math.fmod
string.gfind = string.gfind or string.gmatch
-- Scripts share this state one after another: the shared string metatable must not be
-- reachable (its __index is the real string table).
getmetatable("").__metatable = false
local safe_os = { time = os.time, date = os.date, clock = os.clock, difftime = os.difftime }

-- Nothing outside the environment may load code or touch the host, even by accident.
for _, name in ipairs({ "dofile", "loadfile", "load", "loadstring", "module", "require",
  "getfenv", "setfenv", "collectgarbage", "newproxy", "gcinfo", "io", "os", "debug",
  "package", "ffi", "coroutine" }) do
  _G[name] = nil
end

local pairs, ipairs, error, tostring = pairs, ipairs, error, tostring
local raw_pcall, raw_xpcall = pcall, xpcall
local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end
-- A time-limit error caught by the script is raised again, so the limit holds.
local function pass(ok, ...)
  if not ok and timed_out() then error((...), 0) end
  return ok, ...
end
local function pcall_(f, ...) return pass(raw_pcall(f, ...)) end
local function xpcall_(f, handler)
  return pass(raw_xpcall(f, function(e)
    if timed_out() then return e end
    return handler(e)
  end))
end
local function print_() end -- Argo CD's scripts may print while debugging

return function()
  local env = copy(base)
  -- Copies, so a script that rewrites `string.format` changes nothing for the next one.
  env.string, env.table, env.math, env.os = copy(string), copy(table), copy(math), copy(safe_os)
  local modules = { os = env.os, string = env.string, table = env.table, math = env.math }
  env.require = function(name)
    local m = modules[name]
    if m == nil then
      error("module '" .. tostring(name) .. "' not found", 2)
    end
    return m
  end
  env.pcall, env.xpcall, env.print = pcall_, xpcall_, print_
  env._G = env
  return env
end
