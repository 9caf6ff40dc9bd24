//! The engine's own objects, so a release script can drive a pipeline with its own checks in
//! between: `promote(pipeline, to, {from, wait})` (waits until the promotion ends or waits
//! for an approval), `approve(id, comment)`, `wait_promotion(id)` (until it ends),
//! `get_promotion(id)`, `get_pipeline(name)`,
//! `history(workflow)` and `events(workflow, after)`.

use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{Lua, MultiValue, Table, Value};

use super::{Gitops, first_id, raise, to_lua};

fn string_arg(v: Option<&Value>, what: &str) -> Result<String, String> {
    match v {
        Some(Value::String(s)) => Ok(s.to_str().map_err(|e| e.to_string())?.to_string()),
        Some(Value::Integer(i)) => Ok(i.to_string()),
        _ => Err(format!("{what} is missing")),
    }
}

fn id_arg(v: Option<&Value>) -> Result<i64, String> {
    match v {
        Some(Value::Integer(i)) => Ok(*i),
        Some(Value::Number(n)) if n.fract() == 0.0 => Ok(*n as i64),
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "the promotion id is not a number".into()),
        Some(Value::Table(t)) => t
            .get::<Option<i64>>("id")
            .ok()
            .flatten()
            .ok_or_else(|| "the promotion table has no id".into()),
        _ => Err("the promotion id is missing".into()),
    }
}

/// Phases after which a promotion changes no more (or waits for a person: an approval, a
/// pull request's merge).
fn settled(phase: &str) -> bool {
    matches!(
        phase,
        "Succeeded"
            | "Failed"
            | "Rejected"
            | "Expired"
            | "Superseded"
            | "WaitingApproval"
            | "WaitingMerge"
    )
}

pub(super) fn install(g: &Rc<Gitops>, lua: &Lua, m: &Table) -> mlua::Result<()> {
    g.add(lua, m, "promote", |g, lua, at, args| {
        let a: Vec<Value> = args.into_iter().collect();
        let pipeline =
            string_arg(a.first(), "the pipeline").map_err(|e| raise(at, "promote", e))?;
        let to =
            string_arg(a.get(1), "the stage to promote to").map_err(|e| raise(at, "promote", e))?;
        let opts = match a.get(2) {
            Some(Value::Table(t)) => Some(t.clone()),
            _ => None,
        };
        let from: Option<String> = opts.as_ref().and_then(|o| o.get("from").ok().flatten());
        let wait = opts
            .as_ref()
            .and_then(|o| o.get::<Option<bool>>("wait").ok().flatten())
            .unwrap_or(true);
        let started = g
            .call(|c| c.promote(&pipeline, from.as_deref(), &to))
            .map_err(|e| raise(at, "promote", e))?;
        let p = if wait {
            g.wait_promotion(&started, false)
                .map_err(|e| raise(at, "promote", e))?
        } else {
            started
        };
        Ok(MultiValue::from_vec(vec![to_lua(lua, &p)?]))
    })?;
    g.add(lua, m, "approve", |g, lua, at, args| {
        let a: Vec<Value> = args.into_iter().collect();
        let id = id_arg(a.first()).map_err(|e| raise(at, "approve", e))?;
        let comment = string_arg(a.get(1), "comment").unwrap_or_default();
        let p = g
            .call(|c| c.approve(id, &comment))
            .map_err(|e| raise(at, "approve", e))?;
        Ok(MultiValue::from_vec(vec![to_lua(lua, &p)?]))
    })?;
    g.add(lua, m, "get_promotion", |g, lua, at, args| {
        let a: Vec<Value> = args.into_iter().collect();
        let id = id_arg(a.first()).map_err(|e| raise(at, "get_promotion", e))?;
        let p = g
            .call(|c| c.promotion(id))
            .map_err(|e| raise(at, "get_promotion", e))?;
        Ok(MultiValue::from_vec(vec![to_lua(lua, &p)?]))
    })?;
    g.add(lua, m, "wait_promotion", |g, lua, at, args| {
        let a: Vec<Value> = args.into_iter().collect();
        let id = id_arg(a.first()).map_err(|e| raise(at, "wait_promotion", e))?;
        let p = g
            .wait_promotion(&serde_json::json!({"id": id}), true)
            .map_err(|e| raise(at, "wait_promotion", e))?;
        Ok(MultiValue::from_vec(vec![to_lua(lua, &p)?]))
    })?;
    g.add(lua, m, "get_pipeline", |g, lua, at, args| {
        let a: Vec<Value> = args.into_iter().collect();
        let name =
            string_arg(a.first(), "the pipeline name").map_err(|e| raise(at, "get_pipeline", e))?;
        let p = g
            .call(|c| c.pipeline(&name))
            .map_err(|e| raise(at, "get_pipeline", e))?;
        Ok(MultiValue::from_vec(vec![to_lua(lua, &p)?]))
    })?;
    g.add(lua, m, "history", |g, lua, at, args| {
        let id = first_id(&args).map_err(|e| raise(at, "history", e))?;
        g.app(&id).map_err(|e| raise(at, "history", e))?;
        let items = g
            .call(|c| c.history(&id))
            .map_err(|e| raise(at, "history", e))?;
        let rows: Vec<serde_json::Value> = items
            .iter()
            .map(|h| {
                serde_json::json!({
                    "id": h["id"], "revision": h["revision"], "operation": h["operation_id"],
                    "deployed_at_ms": h["deployed_ms"], "digest": h["digest"],
                })
            })
            .collect();
        Ok(MultiValue::from_vec(vec![to_lua(
            lua,
            &serde_json::Value::Array(rows),
        )?]))
    })?;
    g.add(lua, m, "events", |g, lua, at, args| {
        let a: Vec<Value> = args.into_iter().collect();
        let id = super::workflow_id(a.first().unwrap_or(&Value::Nil))
            .map_err(|e| raise(at, "events", e))?;
        let after = id_arg(a.get(1)).unwrap_or(0);
        let items = g
            .call(|c| c.events(&id, after))
            .map_err(|e| raise(at, "events", e))?;
        Ok(MultiValue::from_vec(vec![to_lua(
            lua,
            &serde_json::Value::Array(items),
        )?]))
    })?;
    Ok(())
}

impl Gitops {
    /// Polls a promotion until it settles (or the run's wait limit passes); `past_approval`:
    /// waiting for an approval is not settled (after `approve`, the promotion runs on).
    fn wait_promotion(
        &self,
        started: &serde_json::Value,
        past_approval: bool,
    ) -> Result<serde_json::Value, String> {
        let id = started["id"]
            .as_i64()
            .ok_or_else(|| format!("the engine's answer names no promotion: {started}"))?;
        let begun = Instant::now();
        loop {
            let p = self.call(|c| c.promotion(id)).map_err(|e| e.to_string())?;
            let phase = p["phase"].as_str().unwrap_or_default();
            if settled(phase) && !(past_approval && phase == "WaitingApproval") {
                return Ok(p);
            }
            if begun.elapsed() > self.wait_limit {
                return Err(format!(
                    "promotion {id} is still {} after {}s",
                    p["phase"].as_str().unwrap_or("?"),
                    self.wait_limit.as_secs()
                ));
            }
            self.budget
                .host(|| self.client.pause(Duration::from_millis(300)));
        }
    }
}
