//! The sandbox's limits and Argo CD's result contract, script by script.

use super::*;
use serde_json::json;

fn run(script: &str, obj: Value) -> Result<Option<Health>, LuaError> {
    LuaCheck::new("example.com/Widget", script)
        .unwrap()
        .run(&obj)
}

fn health(script: &str, obj: Value) -> Health {
    run(script, obj).unwrap().expect("a health")
}

#[test]
fn argo_scripts_run_unchanged() {
    let script = r#"
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
    let ready = json!({"metadata": {"name": "w"}, "status": {"phase": "Ready"}});
    assert_eq!(
        health(script, ready),
        Health::new(HealthStatus::Healthy, "ready: w")
    );
    let fresh = json!({"metadata": {"name": "w"}, "status": null});
    assert_eq!(health(script, fresh).status, HealthStatus::Progressing);
}

#[test]
fn the_sandbox_has_no_escape_hatches() {
    let script = r#"local found = {}
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
return { status = "Healthy", message = table.concat(found, ",") }"#;
    assert_eq!(health(script, json!({})).message, "");
}

#[test]
fn endless_scripts_time_out_even_when_they_catch_the_error() {
    for script in [
        "while true do end",
        // A loop the JIT would compile (no calls): the hook must still fire.
        "local x = 0 for i = 1, 1e12 do x = x + i % 7 end return {status='Healthy'}",
        "local function spin() while true do end end
         while true do pcall(spin) xpcall(spin, function(e) return e end) end",
    ] {
        let mut c = LuaCheck::new("a/B", script).unwrap();
        c.timeout = Duration::from_millis(50);
        let started = Instant::now();
        assert!(
            matches!(c.run(&json!({})), Err(LuaError::Timeout { .. })),
            "{script}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{script}");
    }
}

#[test]
fn memory_hogs_hit_the_cap() {
    let mut hog = LuaCheck::new(
        "a/B",
        "local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 1000) .. i end return {status='Healthy'}",
    )
    .unwrap();
    hog.memory_bytes = 8 << 20;
    let err = hog.run(&json!({})).unwrap_err();
    assert!(matches!(err, LuaError::Memory { .. }), "{err}");
    assert!(err.to_string().contains("a/B"), "{err}");
    let big = run(
        "local s = string.rep('x', 1e9) return {status='Healthy'}",
        json!({}),
    );
    assert!(matches!(big, Err(LuaError::Memory { .. })), "{big:?}");
}

#[test]
fn lua_5_1_with_goto_and_the_safe_os() {
    let script = r#"local os = require("os")
for i = 1, 3 do
  if i == 2 then goto done end
end
::done::
local t = os.time({year = 2024, month = 1, day = 2, hour = 0})
hs = { status = "Healthy", message = os.date("!%Y", t) .. " " .. tostring(os.time() > t) }
return hs"#;
    assert_eq!(health(script, json!({})).message, "2024 true");
    // Lua 5.1 library functions Argo CD's scripts use (CronJob's health.lua: table.getn).
    let compat = "return {status = 'Healthy', message = table.getn({1, 2}) .. math.mod(7, 4) ..
        table.maxn({5}) .. unpack({'u'}) .. select('#', string.gfind('a', 'a'))}";
    assert_eq!(health(compat, json!({})).message, "231u1");
}

#[test]
fn string_format_behaves_like_gopher_lua() {
    let script = r#"return { status = "Healthy", message = string.format(
  "%s|%s|%d|%5.1f|%i|%s|%%|%s", nil, true, 3.9, 2.25, -2.5, obj.n, obj.missing) ..
  ("%s"):format(nil) .. string.format("|%d", nil) .. string.format("|%s") }"#;
    assert_eq!(
        health(script, json!({"n": 7})).message,
        "nil|true|3|  2.2|-2|7|%|nilnil|%!d(*lua.LNilType=nil)|%!s(MISSING)"
    );
}

#[test]
fn results_mean_what_they_mean_in_argo_cd() {
    // nil, an empty table, an array: no health.
    for script in ["return nil", "return {}", "return {'Healthy'}", "hs = {}"] {
        assert_eq!(run(script, json!({})).unwrap(), None, "{script}");
    }
    // A status Argo CD does not know (or none at all) is Unknown, with Argo CD's message.
    for script in ["return {status = 'Great'}", "return {message = 'x'}"] {
        assert_eq!(
            health(script, json!({})),
            Health::new(HealthStatus::Unknown, INVALID_STATUS),
            "{script}"
        );
    }
    // A value that is not a table is an error.
    let err = run("return 'Healthy'", json!({})).unwrap_err().to_string();
    assert!(
        err.contains("expect table output from Lua script, not string"),
        "{err}"
    );
    let err = run("return {status = 1}", json!({}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot unmarshal number"), "{err}");
    // Globals are writable, as in gopher-lua; a missing message is empty.
    let h = health(
        "string = nil hs = {status = 'Suspended'} return hs",
        json!({}),
    );
    assert_eq!(h, Health::new(HealthStatus::Suspended, ""));
}

#[test]
fn scripts_that_do_not_compile_fail_at_run_time_with_the_compiler_message() {
    let err = LuaCheck::new("a/B", "return {").unwrap_err().to_string();
    assert!(
        err.starts_with("health check for a/B does not compile:"),
        "{err}"
    );
    let lenient = LuaCheck::parse("a/B", "if then", LuaOrigin::Native);
    assert!(lenient.compile_error().is_some());
    let err = lenient.run(&json!({})).unwrap_err().to_string();
    assert!(
        err.contains("does not compile") && err.contains("a/B"),
        "{err}"
    );
}

#[test]
fn selectors_are_argo_keys_with_wildcards() {
    let c = LuaCheck::new("*.example.com/*", "return {status='Healthy'}").unwrap();
    assert!(c.applies_to("db.example.com", "Cluster"));
    assert!(!c.applies_to("example.org", "Cluster"));
    for core in ["/ConfigMap", "ConfigMap"] {
        let core = LuaCheck::new(core, "return {status='Healthy'}").unwrap();
        assert!(core.applies_to("", "ConfigMap") && !core.applies_to("apps", "ConfigMap"));
    }
    let any = LuaCheck::new("*", "return {}").unwrap();
    assert!(any.applies_to("apps", "Deployment") && any.applies_to("", "Pod"));
    assert!(!any.is_exact() && LuaCheck::new("apps/Deployment", "").unwrap().is_exact());
}

#[test]
fn runs_on_one_thread_share_nothing() {
    let vandal = r#"leak = "yes"
string.format = nil
table.insert = nil
require("os").time = nil
local mt = getmetatable("")
local reached = type(mt) == "table"
if reached then mt.__index.upper = nil end
return { status = "Healthy", message = tostring(reached) }"#;
    assert_eq!(health(vandal, json!({})).message, "false");
    let witness = r#"local t = {}
table.insert(t, string.format("%s", leak))
return { status = "Healthy", message = t[1] .. ("x"):upper() .. type(os.time()) }"#;
    assert_eq!(health(witness, json!({})).message, "nilXnumber");
    // A run that hit the deadline leaves a usable sandbox behind.
    let mut spin = LuaCheck::new("a/B", "while true do end").unwrap();
    spin.timeout = Duration::from_millis(20);
    assert!(matches!(
        spin.run(&json!({})),
        Err(LuaError::Timeout { .. })
    ));
    assert_eq!(health(witness, json!({})).message, "nilXnumber");
}
