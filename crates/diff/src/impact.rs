//! Impact grading: how much a change can hurt, with the reason, so a reviewer (or a Lua
//! policy, or the drift grader) can tell a relabel from an outage.
//!
//! - critical: deleting a Namespace, PersistentVolume(Claim) or CustomResourceDefinition
//!   (everything inside or stored in it goes with it);
//! - high: deleting a workload or an entry point (Service, Ingress), changing a selector,
//!   an immutable field (the apply will be refused or the object replaced), RBAC bindings,
//!   or scaling to zero;
//! - medium: an image, the pod template, replicas, configuration data, any other spec change,
//!   deleting anything else;
//! - low: creating an object, labels and annotations.

use serde::{Deserialize, Serialize};

use driftless_core::ResourceKey;

use crate::changes::Change;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Default,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    #[default]
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl std::fmt::Display for Grade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Grade::None => "none",
            Grade::Low => "low",
            Grade::Medium => "medium",
            Grade::High => "high",
            Grade::Critical => "critical",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(default)]
pub struct Impact {
    pub grade: Grade,
    pub reason: String,
}

impl Impact {
    fn new(grade: Grade, reason: impl Into<String>) -> Self {
        Impact {
            grade,
            reason: reason.into(),
        }
    }
}

/// Kinds whose deletion destroys data or everything inside them.
pub fn is_critical_delete(key: &ResourceKey) -> bool {
    matches!(
        (key.group.as_str(), key.kind.as_str()),
        ("", "Namespace")
            | ("", "PersistentVolume")
            | ("", "PersistentVolumeClaim")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
    )
}

pub fn of_create(key: &ResourceKey) -> Impact {
    Impact::new(Grade::Low, format!("creates {}", key.kind))
}

pub fn of_delete(key: &ResourceKey) -> Impact {
    if is_critical_delete(key) {
        let what = match key.kind.as_str() {
            "Namespace" => "deletes the namespace and every object in it",
            "CustomResourceDefinition" => "deletes the CRD and every custom resource of its kind",
            _ => "deletes stored data",
        };
        return Impact::new(Grade::Critical, what);
    }
    match key.kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "Service" | "Ingress" | "CronJob"
        | "ClusterRoleBinding" | "RoleBinding" => Impact::new(
            Grade::High,
            format!(
                "deletes {} {} (stops what it runs or serves)",
                key.kind, key.name
            ),
        ),
        _ => Impact::new(Grade::Medium, format!("deletes {} {}", key.kind, key.name)),
    }
}

/// The highest impact among the changes of an update.
pub fn of_update(key: &ResourceKey, changes: &[Change], replicas_to: Option<i64>) -> Impact {
    let mut best = Impact::default();
    for c in changes {
        let i = of_path(key, &c.path, replicas_to);
        if i.grade > best.grade {
            best = i;
        }
    }
    best
}

fn of_path(key: &ResourceKey, path: &str, replicas_to: Option<i64>) -> Impact {
    let kind = key.kind.as_str();
    if path.starts_with("metadata.labels") || path.starts_with("metadata.annotations") {
        return Impact::new(Grade::Low, "changes labels or annotations");
    }
    if path.starts_with("spec.selector") {
        return Impact::new(
            Grade::High,
            format!(
                "changes the selector of {kind} (immutable for workloads; Services re-route traffic)"
            ),
        );
    }
    if let Some(field) = immutable(kind, path) {
        return Impact::new(
            Grade::High,
            format!(
                "changes {field}, which is immutable: the server refuses the update (Replace=true recreates it)"
            ),
        );
    }
    if matches!(kind, "RoleBinding" | "ClusterRoleBinding") {
        return Impact::new(Grade::High, "changes who holds permissions");
    }
    if path == "spec.replicas" {
        return match replicas_to {
            Some(0) => Impact::new(Grade::High, "scales to zero replicas"),
            _ => Impact::new(Grade::Medium, "scales replicas"),
        };
    }
    if path.contains("containers[") && path.ends_with(".image") {
        return Impact::new(
            Grade::Medium,
            "changes a container image (rolls out new pods)",
        );
    }
    if path.starts_with("spec.template") || path.starts_with("spec.jobTemplate") {
        return Impact::new(
            Grade::Medium,
            "changes the pod template (rolls out new pods)",
        );
    }
    if path.starts_with("data") || path.starts_with("stringData") || path.starts_with("binaryData")
    {
        return Impact::new(Grade::Medium, "changes configuration data");
    }
    if path.starts_with("rules") {
        return Impact::new(Grade::Medium, "changes permissions granted");
    }
    Impact::new(Grade::Medium, format!("changes {path}"))
}

/// The immutable field `path` falls under, for kinds with well-known immutable fields.
fn immutable(kind: &str, path: &str) -> Option<&'static str> {
    let fields: &[&'static str] = match kind {
        "Service" => &["spec.clusterIP", "spec.clusterIPs"],
        "Job" => &["spec.template", "spec.completionMode"],
        "StatefulSet" => &[
            "spec.volumeClaimTemplates",
            "spec.serviceName",
            "spec.podManagementPolicy",
        ],
        "PersistentVolumeClaim" => &[
            "spec.storageClassName",
            "spec.accessModes",
            "spec.volumeName",
        ],
        "PersistentVolume" => &["spec.csi", "spec.hostPath", "spec.nfs", "spec.local"],
        "RoleBinding" | "ClusterRoleBinding" => &["roleRef"],
        "Secret" => &["type"],
        _ => &[],
    };
    fields
        .iter()
        .find(|f| {
            path == **f || path.starts_with(&format!("{f}.")) || path.starts_with(&format!("{f}["))
        })
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::ChangeOp;

    fn ch(p: &str) -> Change {
        Change {
            path: p.into(),
            op: ChangeOp::Changed,
        }
    }

    #[test]
    fn grades_follow_the_documented_table() {
        let d = ResourceKey::new("apps", "Deployment", "ns", "w");
        assert_eq!(
            of_update(&d, &[ch("metadata.labels.a")], None).grade,
            Grade::Low
        );
        assert_eq!(
            of_update(
                &d,
                &[
                    ch("metadata.labels.a"),
                    ch("spec.template.spec.containers[name=app].image")
                ],
                None
            )
            .grade,
            Grade::Medium
        );
        assert_eq!(
            of_update(&d, &[ch("spec.selector.matchLabels.app")], None).grade,
            Grade::High
        );
        assert_eq!(
            of_update(&d, &[ch("spec.replicas")], Some(0)).grade,
            Grade::High
        );
        let svc = ResourceKey::new("", "Service", "ns", "s");
        assert_eq!(
            of_update(&svc, &[ch("spec.clusterIP")], None).grade,
            Grade::High
        );
        assert_eq!(
            of_delete(&ResourceKey::new("", "Namespace", "", "prod")).grade,
            Grade::Critical
        );
        assert_eq!(
            of_delete(&ResourceKey::new("", "PersistentVolumeClaim", "a", "b")).grade,
            Grade::Critical
        );
        assert_eq!(of_delete(&d).grade, Grade::High);
        assert_eq!(
            of_delete(&ResourceKey::new("", "ConfigMap", "a", "b")).grade,
            Grade::Medium
        );
    }
}
