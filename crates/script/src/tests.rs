//! The runner against an in-memory engine: what the module asks the API for, the result
//! shapes scripts read, tasks, the confirmation prompt, the sandbox and its limits.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{ClientError, ClientResult, EngineClient};
use crate::{Console, Report, RunOptions, ScriptError, run};

#[derive(Default)]
struct Engine {
    apps: RefCell<BTreeMap<String, Value>>,
    repos: RefCell<Vec<Value>>,
    ops: RefCell<Vec<Value>>,
    comparison: RefCell<Value>,
    calls: RefCell<Vec<String>>,
    /// The phase the next sync ends in.
    sync_phase: RefCell<String>,
}

impl Engine {
    fn new() -> Rc<Self> {
        let e = Engine::default();
        *e.sync_phase.borrow_mut() = "Succeeded".into();
        *e.comparison.borrow_mut() = json!({"resources": [], "summary": {}});
        Rc::new(e)
    }
    fn log(&self, s: String) {
        self.calls.borrow_mut().push(s);
    }
    fn operation(&self, name: &str, kind: &str, reason: &str) {
        let id = self.ops.borrow().len() as i64 + 1;
        let phase = self.sync_phase.borrow().clone();
        self.ops.borrow_mut().push(json!({
            "id": id, "app": name, "kind": kind, "phase": phase, "revision": "abc",
            "request": {"reason": reason}, "result": {"message": "done"}, "finished_ms": 10,
        }));
        if let Some(a) = self.apps.borrow_mut().get_mut(name) {
            a["status"] = json!({"sync": {"status": "Synced", "revision": "abc"}, "health": {"status": "Healthy"}, "reconciledAtMs": 20});
        }
    }
}

impl EngineClient for Engine {
    fn put_application(&self, doc: &Value) -> ClientResult<Value> {
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        self.log(format!("put_application {name}"));
        let mut spec = doc["spec"].clone();
        spec["labels"] = doc["metadata"]["labels"].clone();
        self.apps.borrow_mut().insert(
            name.clone(),
            json!({"name": name, "spec": spec, "status": {}}),
        );
        Ok(json!({"application": name, "warnings": []}))
    }
    fn application(&self, name: &str) -> ClientResult<Option<Value>> {
        Ok(self.apps.borrow().get(name).cloned())
    }
    fn applications(&self) -> ClientResult<Vec<Value>> {
        Ok(self
            .apps
            .borrow()
            .values()
            .map(|a| json!({"name": a["name"], "labels": a["spec"]["labels"], "sync": "Synced", "health": "Healthy"}))
            .collect())
    }
    fn patch_application(&self, name: &str, patch: &Value) -> ClientResult<Value> {
        self.log(format!("patch {name} {patch}"));
        let mut apps = self.apps.borrow_mut();
        let a = apps
            .get_mut(name)
            .ok_or(ClientError::NotFound(name.into()))?;
        a["spec"]["syncPolicy"]["automated"] = patch["syncPolicy"]["automated"].clone();
        Ok(json!({}))
    }
    fn put_repository(&self, doc: &Value) -> ClientResult<Value> {
        self.log(format!("put_repository {}", doc["metadata"]["name"]));
        self.repos
            .borrow_mut()
            .push(json!({"name": doc["metadata"]["name"], "url": doc["spec"]["url"]}));
        Ok(json!({}))
    }
    fn repositories(&self) -> ClientResult<Vec<Value>> {
        Ok(self.repos.borrow().clone())
    }
    fn sync(&self, name: &str, prune: bool) -> ClientResult<Value> {
        self.log(format!("sync {name} prune={prune}"));
        self.operation(name, "sync", "sync requested by a user");
        Ok(json!({"queued": true}))
    }
    fn diff(&self, name: &str) -> ClientResult<Value> {
        self.log(format!("diff {name}"));
        Ok(json!({"comparison": self.comparison.borrow().clone()}))
    }
    fn rollback(&self, name: &str, id: Option<i64>, reason: &str) -> ClientResult<Value> {
        self.log(format!("rollback {name} to {id:?} {reason}"));
        self.operation(name, "rollback", "rollback requested by a user");
        Ok(json!({"queued": true}))
    }
    fn operations(&self, name: &str) -> ClientResult<Vec<Value>> {
        Ok(self
            .ops
            .borrow()
            .iter()
            .filter(|o| o["app"] == name)
            .rev()
            .cloned()
            .collect())
    }
    fn history(&self, _: &str) -> ClientResult<Vec<Value>> {
        // Newest first: a re-sync of the current revision, then the one before.
        Ok(vec![
            json!({"id": 3, "revision": "b"}),
            json!({"id": 2, "revision": "b"}),
            json!({"id": 1, "revision": "a"}),
        ])
    }
    fn events(&self, _: &str, _: i64) -> ClientResult<Vec<Value>> {
        Ok(vec![])
    }
    fn promote(&self, p: &str, _: Option<&str>, to: &str) -> ClientResult<Value> {
        self.log(format!("promote {p} {to}"));
        Ok(json!({"id": 7, "phase": "Succeeded"}))
    }
    fn promotion(&self, id: i64) -> ClientResult<Value> {
        Ok(json!({"id": id, "phase": "Succeeded"}))
    }
    fn approve(&self, id: i64, _: &str) -> ClientResult<Value> {
        Ok(json!({"id": id}))
    }
    fn pipeline(&self, name: &str) -> ClientResult<Value> {
        Ok(json!({"name": name}))
    }
    fn pause(&self, _: Duration) {}
}

#[derive(Default)]
struct Term {
    out: RefCell<String>,
    answers: RefCell<VecDeque<Result<Option<String>, String>>>,
}

impl Console for Term {
    fn write(&self, text: &str) {
        self.out.borrow_mut().push_str(text);
    }
    fn read_line(&self) -> Result<Option<String>, String> {
        self.answers.borrow_mut().pop_front().unwrap_or(Ok(None))
    }
}

fn go(
    engine: &Rc<Engine>,
    term: &Rc<Term>,
    src: &str,
    params: &[(&str, &str)],
) -> Result<Report, ScriptError> {
    let mut o = RunOptions::new("test.lua", src);
    o.params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    o.cpu_limit = Duration::from_secs(1);
    o.memory_limit = 16 << 20;
    run(&o, engine.clone(), term.clone())
}

/// The documentation's examples, verbatim (the CLI's integration tests run them against an engine).
const EXAMPLES: &str = "../cli/tests/fixtures/scripts/gitops-lua";

fn example(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLES);
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_simple_workflow_example_creates_an_automated_application() {
    let (e, t) = (Engine::new(), Rc::new(Term::default()));
    let r = go(&e, &t, &example("01-simple-gitops-workflow.lua"), &[]).unwrap();
    assert!(r.success() && r.tasks.is_empty());
    let apps = e.apps.borrow();
    let app = &apps["infrastructure"];
    assert_eq!(
        app["spec"]["source"]["repoURL"],
        "https://github.com/company/infrastructure"
    );
    assert_eq!(app["spec"]["source"]["targetRevision"], "main");
    assert_eq!(app["spec"]["syncPolicy"]["automated"]["selfHeal"], true);
    assert_eq!(app["spec"]["syncPolicy"]["rollbackOnFailure"], true);
}

#[test]
fn the_multi_environment_example_registers_repositories_and_keeps_their_branches() {
    let (e, t) = (Engine::new(), Rc::new(Term::default()));
    go(
        &e,
        &t,
        &example("02-advanced-multi-environment-setup.lua"),
        &[],
    )
    .unwrap();
    let apps = e.apps.borrow();
    let dev = &apps["development-environment"];
    assert_eq!(
        dev["spec"]["source"]["repoURL"],
        "https://github.com/company/k8s-dev"
    );
    assert_eq!(dev["spec"]["source"]["targetRevision"], "develop");
    assert!(dev["spec"]["syncPolicy"]["automated"].is_object());
    assert!(apps["production-environment"]["spec"]["syncPolicy"]["automated"].is_null());
    assert_eq!(e.repos.borrow().len(), 3);
}

fn high_impact(e: &Engine) {
    *e.comparison.borrow_mut() = json!({
        "resources": [{"key": {"group": "apps", "kind": "Deployment", "namespace": "shop", "name": "web"},
            "status": "OutOfSync", "impact": {"grade": "high", "reason": "selector"}, "changes": [], "diff": "", "message": "", "warnings": []}],
        "summary": {"max_impact": "high"},
    });
    let mut w = crate::gitops::spec::Workflow {
        repo: "https://x/web".into(),
        ..Default::default()
    };
    w.name = Some("web".into());
    e.put_application(&w.application().unwrap()).unwrap();
}

#[test]
fn a_high_impact_change_waits_for_a_yes() {
    let (e, t) = (Engine::new(), Rc::new(Term::default()));
    high_impact(&e);
    t.answers.borrow_mut().push_back(Ok(Some("n".into())));
    let src = example("03-preview-changes-before-deployment.lua");
    let r = go(&e, &t, &src, &[("workflow_id", "web")]).unwrap();
    assert_eq!(r.tasks[0].name, "preview_and_deploy");
    assert!(!r.tasks[0].success);
    assert_eq!(r.tasks[0].message, "Deployment cancelled by user");
    assert!(
        t.out
            .borrow()
            .contains("Proceed with 1 high-impact changes? (y/N)")
    );
    assert!(!e.calls.borrow().iter().any(|c| c.starts_with("sync")));

    t.answers.borrow_mut().push_back(Ok(Some("y".into())));
    let r = go(&e, &t, &src, &[("workflow_id", "web")]).unwrap();
    assert!(r.success(), "{r:?}");
    assert!(
        r.tasks[0].message.contains("sync of web succeeded"),
        "{r:?}"
    );
    assert!(e.calls.borrow().iter().any(|c| c == "sync web prune=false"));

    // Nobody to ask: the prompt fails the task with the script's line.
    t.answers
        .borrow_mut()
        .push_back(Err("stdin is not a terminal: pass --yes".into()));
    let r = go(&e, &t, &src, &[("workflow_id", "web")]).unwrap();
    assert!(
        r.tasks[0]
            .message
            .starts_with("test.lua:51: io.read: stdin is not a terminal"),
        "{r:?}"
    );
}

#[test]
fn rollback_and_status_answer_the_shapes_scripts_read() {
    let (e, t) = (Engine::new(), Rc::new(Term::default()));
    high_impact(&e);
    let r = go(
        &e,
        &t,
        &example("07-manual-rollback.lua"),
        &[("workflow_id", "web"), ("reason", "bad release")],
    )
    .unwrap();
    assert!(r.success(), "{r:?}");
    assert!(
        e.calls
            .borrow()
            .iter()
            .any(|c| c == "rollback web to Some(1) bad release")
    );
    let src = "local s = gitops.get_workflow_status(workflow_id)\nassert(s.status == 'synced' and s.last_sync_result.status == 'succeeded' and s.health == 'healthy')";
    go(&e, &t, src, &[("workflow_id", "web")]).unwrap();
    *e.sync_phase.borrow_mut() = "Failed".into();
    let r = go(
        &e,
        &t,
        &example("06-automatic-rollback-on-failure.lua"),
        &[("workflow_id", "web")],
    )
    .unwrap();
    assert_eq!(r.tasks[0].message, "Deployment and rollback both failed");
}

#[test]
fn auto_sync_is_stopped_and_started_for_auto_sync_workflows() {
    let (e, t) = (Engine::new(), Rc::new(Term::default()));
    go(&e, &t, &example("01-simple-gitops-workflow.lua"), &[]).unwrap();
    let src = "assert(gitops.stop_auto_sync() == 1)\nassert(not gitops.get_workflow_status('infrastructure').auto_sync)\nassert(gitops.start_auto_sync() == 1)";
    go(&e, &t, src, &[]).unwrap();
    assert!(
        e.apps.borrow()["infrastructure"]["spec"]["syncPolicy"]["automated"]["selfHeal"] == true
    );
}

#[test]
fn tasks_run_after_their_dependencies_and_not_after_a_failure() {
    let (e, t) = (Engine::new(), Rc::new(Term::default()));
    let src = r#"
task("deploy"):depends_on({"check"}):command(function(p, deps) print("deploy after " .. deps.check.message) return true end):build()
task("check"):command(function(p) return {success = true, message = "checked " .. p.env} end):build()
task("broken"):command(function() return false, "nope" end):build()
task("after_broken"):depends_on("broken"):command(function() print("never") end):build()
"#;
    let r = go(&e, &t, src, &[("env", "prod")]).unwrap();
    let names: Vec<&str> = r.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["check", "deploy", "broken", "after_broken"]);
    assert!(t.out.borrow().contains("deploy after checked prod"));
    assert!(!t.out.borrow().contains("never"));
    assert_eq!(r.tasks[3].message, "skipped: dependency broken failed");
    assert!(!r.success());
    let mut o = RunOptions::new("test.lua", src);
    o.tasks = vec!["nothing".into()];
    assert_eq!(
        run(&o, e.clone(), t.clone()).unwrap_err(),
        ScriptError::Usage("no task named nothing".into())
    );
    let cycle = "task('a'):depends_on('b'):command(print):build()\ntask('b'):depends_on('a'):command(print):build()";
    let err = go(&e, &t, cycle, &[]).unwrap_err().to_string();
    assert!(err.contains("cycle: a -> b -> a"), "{err}");
}

#[test]
fn errors_name_the_file_and_line() {
    let (e, t) = (Engine::new(), Rc::new(Term::default()));
    let err = go(&e, &t, "\n\ngitops.sync_workflow(workflow_id)", &[]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("test.lua:3: gitops.sync_workflow: the workflow id is nil"),
        "{err}"
    );
    let r = go(
        &e,
        &t,
        "task('t'):command(function()\n  local x = nil\n  return x.y\nend):build()",
        &[],
    )
    .unwrap();
    assert_eq!(
        r.tasks[0].message,
        "test.lua:3: attempt to index local 'x' (a nil value)"
    );
    let err = go(&e, &t, "local x = \n\n )", &[]).unwrap_err();
    assert!(err.to_string().starts_with("test.lua:3:"), "{err}");
    let err = go(&e, &t, "gitops.get_workflow_status('ghost')", &[]).unwrap_err();
    assert!(
        err.to_string().contains("workflow ghost not found"),
        "{err}"
    );
    let err = go(&e, &t, "gitops.workflow({branch = 'main'})", &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("test.lua:1: gitops.workflow: field repo"),
        "{err}"
    );
    let err = go(&e, &t, "print(1)", &[("print", "x")]).unwrap_err();
    assert!(err.to_string().contains("--param print"), "{err}");
}

#[test]
fn the_sandbox_has_no_host_access_and_limits_time_and_memory() {
    let (e, t) = (Engine::new(), Rc::new(Term::default()));
    let src = r#"
assert(io.open == nil and io.popen == nil and io.lines == nil)
assert(os.execute == nil and os.remove == nil and os.getenv == nil and os.exit == nil)
assert(load == nil and loadstring == nil and dofile == nil and loadfile == nil)
assert(string.dump == nil and debug == nil and package == nil and ffi == nil and jit == nil)
assert(not pcall(require, "io") and not pcall(require, "ffi"))
assert(require("gitops") == gitops and type(os.time()) == "number")
"#;
    go(&e, &t, src, &[]).unwrap();
    let err = go(&e, &t, "local n = 0\nwhile true do n = n + 1 end", &[]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("test.lua:2: time limit exceeded"),
        "{err}"
    );
    let err = go(
        &e,
        &t,
        "while true do pcall(function() while true do end end) end",
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("time limit exceeded"), "{err}");
    let err = go(
        &e,
        &t,
        "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end",
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("memory"), "{err}");
}
