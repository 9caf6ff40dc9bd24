//! Acting on workflows: `sync_workflow`, `rollback_workflow` (each waits for the operation
//! it queued and for the status that follows it), `get_workflow_status`, `list_workflows`,
//! `wait_for`, and `start_auto_sync` / `stop_auto_sync` (which turn the automated policy of
//! the workflows created with `auto_sync = true` back on, or off, through the API).

use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{Lua, MultiValue, Table, Value};
use serde_json::{Value as Json, json};

use super::status_view::status_of;
use super::{Gitops, first_id, raise, spec::LABEL, to_lua};

/// `false, message`: an outcome the script handles.
fn failed(lua: &Lua, message: &str) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![
        Value::Boolean(false),
        Value::String(lua.create_string(message)?),
    ]))
}

fn one(v: Value) -> MultiValue {
    MultiValue::from_vec(vec![v])
}

fn lower(v: &Json, default: &str) -> String {
    lower_str(v.as_str(), default)
}

fn lower_str(v: Option<&str>, default: &str) -> String {
    match v {
        Some("OutOfSync") => "out_of_sync".into(),
        Some(s) if !s.is_empty() => s.to_ascii_lowercase(),
        _ => default.into(),
    }
}

/// How long a wait may take: `opts.timeout` (`"2m"`), else the run's limit.
fn timeout_of(opts: Option<&Table>, default: Duration) -> Result<Duration, String> {
    let Some(t) = opts.and_then(|o| o.get::<Option<String>>("timeout").ok().flatten()) else {
        return Ok(default);
    };
    driftless_core::app::parse_duration(&t)
        .ok_or_else(|| format!("timeout {t:?} is not a duration like 2m"))
}

pub(super) fn install(g: &Rc<Gitops>, lua: &Lua, m: &Table) -> mlua::Result<()> {
    g.add(lua, m, "sync_workflow", |g, lua, at, args| {
        let id = first_id(&args).map_err(|e| raise(at, "sync_workflow", e))?;
        match g.sync(&id).map_err(|e| raise(at, "sync_workflow", e))? {
            Ok(done) => Ok(one(to_lua(lua, &done)?)),
            Err(why) => failed(lua, &why),
        }
    })?;
    g.add(lua, m, "rollback_workflow", |g, lua, at, args| {
        let mut it = args.into_iter();
        let id = super::workflow_id(&it.next().unwrap_or(Value::Nil))
            .map_err(|e| raise(at, "rollback_workflow", e))?;
        let reason = match it.next() {
            Some(Value::String(s)) => s.to_str()?.to_string(),
            _ => "rollback requested by a script".to_string(),
        };
        let to = match it.next() {
            Some(Value::Table(t)) => t.get::<Option<i64>>("to")?,
            _ => None,
        };
        match g
            .rollback(&id, &reason, to)
            .map_err(|e| raise(at, "rollback_workflow", e))?
        {
            Ok(done) => Ok(one(to_lua(lua, &done)?)),
            Err(why) => failed(lua, &why),
        }
    })?;
    g.add(lua, m, "get_workflow_status", |g, lua, at, args| {
        let id = first_id(&args).map_err(|e| raise(at, "get_workflow_status", e))?;
        let s = g
            .status(&id)
            .map_err(|e| raise(at, "get_workflow_status", e))?;
        Ok(one(to_lua(lua, &s)?))
    })?;
    g.add(lua, m, "list_workflows", |g, lua, at, _| {
        let rows = g.call(|c| c.applications()).map_err(|e| raise(at, "list_workflows", e))?;
        let list: Vec<Json> = rows
            .iter()
            .map(|r| {
                json!({
                    "id": r["name"], "name": r["name"], "repo": r["repo"], "path": r["path"],
                    "status": lower(&r["sync"], "unknown"), "health": lower(&r["health"], "unknown"),
                    "revision": r["revision"],
                    "auto_sync": r["labels"][format!("{LABEL}/auto-sync")] == "true",
                    "workflow": r["labels"][format!("{LABEL}/workflow")] == "true",
                })
            })
            .collect();
        Ok(one(to_lua(lua, &Json::Array(list))?))
    })?;
    install_wait(g, lua, m)?;
    for (name, on) in [("start_auto_sync", true), ("stop_auto_sync", false)] {
        g.add(lua, m, name, move |g, _lua, at, _| {
            let n = g.auto_sync(on).map_err(|e| raise(at, name, e))?;
            Ok(one(Value::Integer(n as i64)))
        })?;
    }
    Ok(())
}

/// `wait_for(id, {status, health, event, timeout})`: polls until the workflow is in the
/// state asked for (default: synced), or an event of that kind was recorded.
fn install_wait(g: &Rc<Gitops>, lua: &Lua, m: &Table) -> mlua::Result<()> {
    g.add(lua, m, "wait_for", |g, lua, at, args| {
        let mut it = args.into_iter();
        let id = super::workflow_id(&it.next().unwrap_or(Value::Nil))
            .map_err(|e| raise(at, "wait_for", e))?;
        let opts = match it.next() {
            Some(Value::Table(t)) => Some(t),
            _ => None,
        };
        let want = |k: &str| {
            opts.as_ref()
                .and_then(|o| o.get::<Option<String>>(k).ok().flatten())
        };
        // An event kind to wait for (`RollbackOnFailure`); then the status is only checked
        // when asked for.
        let event = want("event");
        let status = want("status").or_else(|| event.is_none().then(|| "synced".into()));
        let health = want("health");
        let limit =
            timeout_of(opts.as_ref(), g.wait_limit).map_err(|e| raise(at, "wait_for", e))?;
        let started = Instant::now();
        loop {
            let s = g.status(&id).map_err(|e| raise(at, "wait_for", e))?;
            let health_ok = health.as_ref().is_none_or(|h| s["health"] == h.as_str());
            let status_ok = status.as_ref().is_none_or(|w| s["status"] == w.as_str());
            let seen = match &event {
                Some(kind) => g
                    .event_of(&id, kind)
                    .map_err(|e| raise(at, "wait_for", e))?,
                None => Some(serde_json::Value::Null),
            };
            if let Some(ev) = seen
                && status_ok
                && health_ok
            {
                let mut s = s;
                s["event"] = ev;
                return Ok(one(to_lua(lua, &s)?));
            }
            if started.elapsed() > limit {
                let wanted = [
                    status.clone(),
                    health.clone(),
                    event.clone().map(|e| format!("event {e}")),
                ];
                let wanted: Vec<String> = wanted.into_iter().flatten().collect();
                return failed(
                    lua,
                    &format!(
                        "workflow {id} is {} and {} after {}s (waited for {})",
                        s["status"].as_str().unwrap_or("?"),
                        s["health"].as_str().unwrap_or("?"),
                        limit.as_secs(),
                        wanted.join(", ")
                    ),
                );
            }
            g.budget.host(|| g.client.pause(Duration::from_millis(300)));
        }
    })?;
    Ok(())
}

impl Gitops {
    /// Syncs and waits: `Ok(Ok(result))` when it succeeded, `Ok(Err(why))` when it failed.
    fn sync(&self, id: &str) -> Result<Result<Json, String>, String> {
        let app = self.app(id)?;
        let labels = &app["spec"]["labels"];
        if labels[format!("{LABEL}/diff-preview")] == "true"
            && let Some(p) = self.preview(id)?
        {
            let s = &p["summary"];
            tracing::info!(target: "driftless::script", workflow = %id, "diff preview: {} change(s) ({} created, {} updated, {} deleted), {} conflict(s), highest impact {}",
                s["total_changes"], s["created_resources"], s["updated_resources"], s["deleted_resources"], s["conflict_count"], s["max_impact"].as_str().unwrap_or("none"));
        }
        let prune = app["spec"]["syncPolicy"]["automated"]["prune"] == true
            || labels[format!("{LABEL}/auto-prune")] == "true";
        let (before, error_before) = self.mark(id, &app)?;
        self.call(|c| c.sync(id, prune))
            .map_err(|e| e.to_string())?;
        self.finish(id, before, error_before, &app, "sync")
    }

    /// Rolls back (with the reason in the audit log) and waits like a sync.
    fn rollback(
        &self,
        id: &str,
        reason: &str,
        to: Option<i64>,
    ) -> Result<Result<Json, String>, String> {
        let app = self.app(id)?;
        // "The previous state" is the newest deployment of another revision: the history
        // also holds re-syncs of the current one, and going back to those changes nothing.
        let to = match to {
            Some(t) => t,
            None => {
                let history = self.call(|c| c.history(id)).map_err(|e| e.to_string())?;
                let current = history.first().map(|h| h["revision"].clone());
                match history
                    .iter()
                    .find(|h| Some(&h["revision"]) != current.as_ref())
                {
                    Some(h) => h["id"].as_i64().unwrap_or_default(),
                    None => {
                        return Ok(Err(format!(
                            "workflow {id} has no earlier revision to roll back to"
                        )));
                    }
                }
            }
        };
        let (before, error_before) = self.mark(id, &app)?;
        match self.call(|c| c.rollback(id, Some(to), reason)) {
            Ok(_) => {}
            Err(crate::client::ClientError::Refused(why)) => return Ok(Err(why)),
            Err(e) => return Err(e.to_string()),
        }
        tracing::info!(target: "driftless::script", workflow = %id, reason = %reason, "rollback requested");
        self.finish(id, before, error_before, &app, "rollback")
    }

    /// The newest operation id and the current error, before a request.
    fn mark(&self, id: &str, app: &Json) -> Result<(i64, Option<String>), String> {
        let ops = self.call(|c| c.operations(id)).map_err(|e| e.to_string())?;
        let before = ops
            .iter()
            .filter_map(|o| o["id"].as_i64())
            .max()
            .unwrap_or(0);
        Ok((before, status_of(app).error))
    }

    /// Waits for the operation a user's request started after `before`, then for the status
    /// that follows it; the result as the script sees it.
    fn finish(
        &self,
        id: &str,
        before: i64,
        error_before: Option<String>,
        app: &Json,
        what: &str,
    ) -> Result<Result<Json, String>, String> {
        let limit = app["spec"]["labels"][format!("{LABEL}/health-timeout")]
            .as_str()
            .and_then(driftless_core::app::parse_duration)
            .map_or(self.wait_limit, |t| t + Duration::from_secs(60));
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        let op = loop {
            let ops = self.call(|c| c.operations(id)).map_err(|e| e.to_string())?;
            let mine = ops
                .iter()
                .filter(|o| o["id"].as_i64().unwrap_or(0) > before)
                .find(|o| {
                    o["request"]["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("by a user"))
                });
            if let Some(op) = mine
                && op["phase"] != "Running"
            {
                break op.clone();
            }
            if mine.is_none() {
                let now = self.app(id)?;
                if let Some(e) = status_of(&now).error.as_deref()
                    && (Some(e) != error_before.as_deref()
                        || started.elapsed() > Duration::from_secs(20))
                {
                    return Ok(Err(format!("the engine could not {what} {id}: {e}")));
                }
            }
            if started.elapsed() > limit {
                return Ok(Err(format!(
                    "{what} of {id} did not finish within {}s",
                    limit.as_secs()
                )));
            }
            self.budget.host(|| self.client.pause(pause));
            pause = (pause * 2).min(Duration::from_secs(1));
        };
        // The comparison after the sync, so a status read next says what the cluster is now;
        // after a successful one, its health once settled too: the engine's operation ends
        // when its last wave is applied (Argo CD's semantics), before a rollout is done.
        let finished = op["finished_ms"].as_i64().unwrap_or(0);
        let settle = Instant::now();
        let settle_limit = if op["phase"] == "Succeeded" {
            limit
        } else {
            Duration::from_secs(30)
        };
        while settle.elapsed() < settle_limit {
            let now = self.app(id)?;
            let st = status_of(&now);
            let health = st.health.as_ref().and_then(|h| h.status.as_deref());
            if st.reconciled_at_ms.unwrap_or(0) >= finished
                && (op["phase"] != "Succeeded" || health != Some("Progressing"))
            {
                break;
            }
            self.budget
                .host(|| self.client.pause(Duration::from_millis(100)));
        }
        let message = op["result"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if op["phase"] != "Succeeded" {
            return Ok(Err(format!(
                "{what} of {id} failed (operation {}): {message}",
                op["id"]
            )));
        }
        Ok(Ok(json!({
            "success": true,
            "message": format!("{what} of {id} succeeded (operation {}): {message}", op["id"]),
            "operation": op["id"],
            "revision": op["revision"],
            "kind": op["kind"],
        })))
    }

    /// `get_workflow_status`: the application's status and its last operation.
    pub(super) fn status(&self, id: &str) -> Result<Json, String> {
        let app = self.app(id)?;
        let st = status_of(&app);
        let ops = self.call(|c| c.operations(id)).map_err(|e| e.to_string())?;
        let last = ops.iter().max_by_key(|o| o["id"].as_i64().unwrap_or(0));
        let last_sync_result = match last {
            Some(o) => json!({
                "status": lower(&o["phase"], "none"), "operation": o["id"], "kind": o["kind"],
                "revision": o["revision"], "message": o["result"]["message"], "finished_at_ms": o["finished_ms"],
            }),
            None => json!({"status": "none"}),
        };
        Ok(json!({
            "id": id,
            "status": lower_str(st.sync.status.as_deref(), "unknown"),
            "health": lower_str(st.health.as_ref().and_then(|h| h.status.as_deref()), "unknown"),
            "health_message": st.health.as_ref().and_then(|h| h.message.clone()),
            "revision": st.sync.revision,
            "head": st.sync.head,
            "pinned": st.pinned.and_then(|p| p.revision),
            "error": st.error,
            "auto_sync": !app["spec"]["syncPolicy"]["automated"].is_null(),
            "summary": st.sync.summary,
            "last_sync_result": last_sync_result,
        }))
    }

    /// The first event of `kind` the workflow has (its list is read page by page).
    fn event_of(&self, id: &str, kind: &str) -> Result<Option<Json>, String> {
        let mut after = 0;
        loop {
            let page = self
                .call(|c| c.events(id, after))
                .map_err(|e| e.to_string())?;
            if let Some(e) = page.iter().find(|e| e["kind"] == kind) {
                return Ok(Some(e.clone()));
            }
            match page.iter().filter_map(|e| e["id"].as_i64()).max() {
                Some(last) if last > after => after = last,
                _ => return Ok(None),
            }
        }
    }

    /// Turns the automated policy of the `auto_sync = true` workflows on or off; returns how
    /// many changed.
    fn auto_sync(&self, on: bool) -> Result<usize, String> {
        let rows = self.call(|c| c.applications()).map_err(|e| e.to_string())?;
        let mut changed = 0;
        for r in rows.iter().filter(|r| {
            r["labels"][format!("{LABEL}/workflow")] == "true"
                && r["labels"][format!("{LABEL}/auto-sync")] == "true"
        }) {
            let name = r["name"].as_str().unwrap_or_default();
            let app = self.app(name)?;
            let active = !app["spec"]["syncPolicy"]["automated"].is_null();
            if active == on {
                continue;
            }
            let prune = r["labels"][format!("{LABEL}/auto-prune")] == "true";
            let patch = if on {
                json!({"syncPolicy": {"automated": {"prune": prune, "selfHeal": true}}})
            } else {
                json!({"syncPolicy": {"automated": null}})
            };
            self.call(|c| c.patch_application(name, &patch))
                .map_err(|e| e.to_string())?;
            tracing::info!(target: "driftless::script", workflow = %name, "auto-sync {}", if on { "started" } else { "stopped" });
            changed += 1;
        }
        Ok(changed)
    }
}
