//! `GET /shards`: the replicas sharing the store — each member's lease, owned applications,
//! queue depth, renewals and hand-overs as it last reported them — and, with `?apps=true`,
//! which replica owns which application. Any replica answers, from the shared store.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use crate::{ApiError, ApiState};

#[derive(serde::Deserialize, Default)]
pub struct ShardsQuery {
    /// List every application's owner too.
    #[serde(default)]
    apps: bool,
}

pub async fn list(
    State(s): State<ApiState>,
    Query(q): Query<ShardsQuery>,
) -> Result<Json<Value>, ApiError> {
    let c = &s.controller;
    let (members, owners) = c.shard_members().await?;
    let this = c.ownership().map(|o| o.replica().to_string());
    // An owner row counts only under its member's current, live lease.
    let live: BTreeMap<&str, i64> = members
        .iter()
        .filter(|m| m.live)
        .map(|m| (m.replica.as_str(), m.token))
        .collect();
    let held = |o: &driftless_store::AppOwner| live.get(o.replica.as_str()) == Some(&o.token);
    let names = c.app_names().await;
    let owned: std::collections::BTreeSet<&str> = owners
        .iter()
        .filter(|o| held(o))
        .map(|o| o.app.as_str())
        .collect();
    let unowned: Vec<&String> = names
        .iter()
        .filter(|n| !owned.contains(n.as_str()))
        .collect();
    let mut body = json!({
        "replica": this,
        "sharded": this.is_some(),
        "members": members.iter().map(|m| {
            let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
            v["self"] = json!(this.as_deref() == Some(m.replica.as_str()));
            v
        }).collect::<Vec<_>>(),
        "applications": names.len(),
        "unowned": unowned.len(),
    });
    if q.apps {
        body["owners"] = owners
            .iter()
            .map(|o| json!({"app": o.app, "replica": o.replica, "token": o.token, "sinceMs": o.since_ms, "live": held(o)}))
            .collect();
        body["unownedApps"] = json!(unowned);
    }
    Ok(Json(body))
}
