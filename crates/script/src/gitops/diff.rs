//! `generate_diff` / `preview_changes` (pure): the engine's comparison of an application
//! (`GET /applications/{name}/diff`) in the shape scripts read — `nil` when nothing would
//! change, else `summary` (total, created, updated, deleted, conflict count), `changes`
//! (resource, type create/update/delete, impact low/medium/high/critical from the engine's
//! impact grading, with its reason, the changed fields and the unified diff), `conflicts`
//! (resource, description) and `warnings`.

use serde_json::{Value, json};

/// `Deployment.apps shop/web`, `Namespace shop`: how the CLI and the UI name a resource.
pub fn resource_name(r: &Value) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or_default();
    let mut out = s("kind").to_string();
    if !s("group").is_empty() {
        out.push('.');
        out.push_str(s("group"));
    }
    out.push(' ');
    if !s("namespace").is_empty() {
        out.push_str(s("namespace"));
        out.push('/');
    }
    out.push_str(s("name"));
    out
}

/// Kinds whose deletion the engine refuses without an explicit confirmation.
fn critical_kind(r: &Value) -> bool {
    matches!(
        (
            r["group"].as_str().unwrap_or_default(),
            r["kind"].as_str().unwrap_or_default()
        ),
        (
            "",
            "Namespace" | "PersistentVolume" | "PersistentVolumeClaim"
        ) | ("apiextensions.k8s.io", "CustomResourceDefinition")
    )
}

/// The script's view of a comparison; `None` when the cluster already matches. `prunes`:
/// whether a sync of this workflow deletes what Git no longer declares.
pub fn preview(comparison: &Value, prunes: bool) -> Option<Value> {
    let mut changes = Vec::new();
    let mut conflicts = Vec::new();
    let mut warnings = Vec::new();
    let (mut created, mut updated, mut deleted) = (0, 0, 0);
    let empty = Vec::new();
    for r in comparison["resources"].as_array().unwrap_or(&empty) {
        let key = &r["key"];
        let resource = resource_name(key);
        let kind = match r["status"].as_str().unwrap_or_default() {
            "Missing" => "create",
            "OutOfSync" => "update",
            "Extraneous" => "delete",
            "Conflict" => {
                let why = r["message"].as_str().filter(|m| !m.is_empty());
                conflicts.push(json!({
                    "resource": resource,
                    "description": why.unwrap_or("the live object is managed by another application"),
                }));
                continue;
            }
            _ => continue,
        };
        match kind {
            "create" => created += 1,
            "update" => updated += 1,
            _ => deleted += 1,
        }
        let grade = match r["impact"]["grade"].as_str().unwrap_or_default() {
            "" | "none" => "low",
            g => g,
        };
        if kind == "delete" && !prunes {
            warnings.push(format!(
                "{resource} is no longer in Git; a sync of this workflow leaves it (auto_prune is off)"
            ));
        }
        if kind == "delete" && critical_kind(key) {
            warnings.push(format!(
                "{resource}: the engine refuses to delete a {} without an explicit confirmation",
                key["kind"].as_str().unwrap_or_default()
            ));
        }
        for w in r["warnings"].as_array().unwrap_or(&empty) {
            warnings.push(format!("{resource}: {}", w.as_str().unwrap_or_default()));
        }
        let fields: Vec<Value> = r["changes"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|c| c["path"].clone())
            .collect();
        changes.push(json!({
            "resource": resource,
            "kind": key["kind"],
            "namespace": key["namespace"],
            "name": key["name"],
            "type": kind,
            "impact": grade,
            "reason": r["impact"]["reason"],
            "fields": fields,
            "diff": r["diff"],
        }));
    }
    if changes.is_empty() && conflicts.is_empty() {
        return None;
    }
    Some(json!({
        "summary": {
            "total_changes": created + updated + deleted,
            "created_resources": created,
            "updated_resources": updated,
            "deleted_resources": deleted,
            "conflict_count": conflicts.len(),
            "max_impact": comparison["summary"]["max_impact"],
        },
        "changes": changes,
        "conflicts": conflicts,
        "warnings": warnings,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(kind: &str, ns: &str, name: &str, status: &str, grade: &str) -> Value {
        json!({
            "key": {"group": if kind == "Deployment" { "apps" } else { "" }, "kind": kind, "namespace": ns, "name": name},
            "status": status,
            "impact": {"grade": grade, "reason": "because"},
            "changes": [{"path": "spec.replicas", "op": "replace"}],
            "diff": "-a\n+b\n",
            "message": "",
            "warnings": [],
        })
    }

    #[test]
    fn nothing_to_change_is_nil() {
        let cmp =
            json!({"resources": [res("ConfigMap", "a", "b", "Synced", "none")], "summary": {}});
        assert_eq!(preview(&cmp, true), None);
    }

    #[test]
    fn changes_carry_type_and_impact_and_conflicts_are_counted() {
        let mut conflict = res("Service", "shop", "web", "Conflict", "none");
        conflict["message"] = json!("tracked by application other");
        let cmp = json!({
            "resources": [
                res("Deployment", "shop", "web", "OutOfSync", "medium"),
                res("ConfigMap", "shop", "cfg", "Missing", "none"),
                res("Namespace", "", "old", "Extraneous", "critical"),
                conflict,
            ],
            "summary": {"max_impact": "critical"},
        });
        let p = preview(&cmp, false).unwrap();
        assert_eq!(p["summary"]["total_changes"], 3);
        assert_eq!(p["summary"]["created_resources"], 1);
        assert_eq!(p["summary"]["updated_resources"], 1);
        assert_eq!(p["summary"]["deleted_resources"], 1);
        assert_eq!(p["summary"]["conflict_count"], 1);
        assert_eq!(p["changes"][0]["resource"], "Deployment.apps shop/web");
        assert_eq!(p["changes"][0]["type"], "update");
        assert_eq!(p["changes"][1]["impact"], "low");
        assert_eq!(p["changes"][2]["type"], "delete");
        assert_eq!(p["changes"][2]["impact"], "critical");
        assert_eq!(p["conflicts"][0]["resource"], "Service shop/web");
        assert_eq!(
            p["conflicts"][0]["description"],
            "tracked by application other"
        );
        let warnings = p["warnings"].to_string();
        assert!(warnings.contains("auto_prune is off"), "{warnings}");
        assert!(
            warnings.contains("refuses to delete a Namespace"),
            "{warnings}"
        );
    }
}
