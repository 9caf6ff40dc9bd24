//! Workloads, with gitops-engine's semantics so users see the statuses and messages they
//! know from Argo CD: Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod.

use serde_json::Value;

use super::fields::{cond_is, cond_message, condition, int, not_observed, text};
use crate::{Health, HealthStatus as S};

pub(super) fn deployment(d: &Value) -> Health {
    if d.pointer("/spec/paused") == Some(&Value::Bool(true)) {
        return Health::new(S::Suspended, "Deployment is paused");
    }
    if not_observed(d) {
        return Health::new(
            S::Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }
    if let Some(c) = condition(d, "Progressing")
        && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
    {
        let name = text(d, "/metadata/name").unwrap_or("");
        return Health::new(
            S::Degraded,
            format!("Deployment \"{name}\" exceeded its progress deadline"),
        );
    }
    let want = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let updated = int(d, "/status/updatedReplicas");
    let total = int(d, "/status/replicas");
    let available = int(d, "/status/availableReplicas");
    if updated < want {
        return Health::new(
            S::Progressing,
            format!(
                "Waiting for rollout to finish: {updated} out of {want} new replicas have been updated..."
            ),
        );
    }
    if total > updated {
        return Health::new(
            S::Progressing,
            format!(
                "Waiting for rollout to finish: {} old replicas are pending termination...",
                total - updated
            ),
        );
    }
    if available < updated {
        return Health::new(
            S::Progressing,
            format!(
                "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
            ),
        );
    }
    Health::healthy()
}

pub(super) fn stateful_set(s: &Value) -> Health {
    if not_observed(s) {
        return Health::new(
            S::Progressing,
            "Waiting for statefulset spec update to be observed...",
        );
    }
    let want = s
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let ready = int(s, "/status/readyReplicas");
    if ready < want {
        return Health::new(
            S::Progressing,
            format!("Waiting for {} pods to be ready...", want - ready),
        );
    }
    if text(s, "/spec/updateStrategy/type") == Some("OnDelete") {
        return Health::new(
            S::Healthy,
            "statefulset has OnDelete update strategy, not waiting for rollout",
        );
    }
    if let Some(partition) = s
        .pointer("/spec/updateStrategy/rollingUpdate/partition")
        .and_then(Value::as_i64)
        && partition > 0
    {
        let updated = int(s, "/status/updatedReplicas");
        if updated < want - partition {
            return Health::new(
                S::Progressing,
                format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                    want - partition
                ),
            );
        }
        return Health::new(
            S::Healthy,
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        );
    }
    if text(s, "/status/updateRevision") != text(s, "/status/currentRevision") {
        return Health::new(
            S::Progressing,
            format!(
                "waiting for statefulset rolling update to complete {} pods at revision {}...",
                int(s, "/status/updatedReplicas"),
                text(s, "/status/updateRevision").unwrap_or("")
            ),
        );
    }
    Health::new(
        S::Healthy,
        format!(
            "statefulset rolling update complete {ready} pods at revision {}...",
            text(s, "/status/currentRevision").unwrap_or("")
        ),
    )
}

pub(super) fn daemon_set(d: &Value) -> Health {
    if not_observed(d) {
        return Health::new(
            S::Progressing,
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
    }
    if text(d, "/spec/updateStrategy/type") == Some("OnDelete") {
        return Health::new(
            S::Healthy,
            "daemon set has OnDelete update strategy, not waiting for rollout",
        );
    }
    let desired = int(d, "/status/desiredNumberScheduled");
    let updated = int(d, "/status/updatedNumberScheduled");
    let available = int(d, "/status/numberAvailable");
    if updated < desired {
        return Health::new(
            S::Progressing,
            format!(
                "Waiting for daemon set \"{}\" rollout to finish: {updated} out of {desired} new pods have been updated...",
                text(d, "/metadata/name").unwrap_or("")
            ),
        );
    }
    if available < desired {
        return Health::new(
            S::Progressing,
            format!(
                "Waiting for daemon set \"{}\" rollout to finish: {available} of {desired} updated pods are available...",
                text(d, "/metadata/name").unwrap_or("")
            ),
        );
    }
    Health::healthy()
}

pub(super) fn replica_set(r: &Value) -> Health {
    if not_observed(r) {
        return Health::new(
            S::Progressing,
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
    }
    if cond_is(r, "ReplicaFailure", "True") {
        return Health::new(S::Degraded, cond_message(r, "ReplicaFailure"));
    }
    let want = r
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let available = int(r, "/status/availableReplicas");
    if available < want {
        return Health::new(
            S::Progressing,
            format!(
                "Waiting for rollout to finish: {available} out of {want} new replicas are available..."
            ),
        );
    }
    Health::healthy()
}

/// Container waiting reasons that will not fix themselves.
const STUCK: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "CrashLoopBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

pub(super) fn pod(p: &Value) -> Health {
    let statuses: Vec<&Value> = ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .filter_map(|ptr| p.pointer(ptr)?.as_array())
        .flatten()
        .collect();
    for c in &statuses {
        if let Some(reason) = text(c, "/state/waiting/reason")
            && STUCK.contains(&reason)
        {
            let msg = text(c, "/state/waiting/message").unwrap_or(reason);
            return Health::new(S::Degraded, msg.to_string());
        }
    }
    match text(p, "/status/phase") {
        Some("Succeeded") => Health::new(S::Healthy, text(p, "/status/message").unwrap_or("")),
        Some("Failed") => Health::new(
            S::Degraded,
            text(p, "/status/message").unwrap_or("pod failed"),
        ),
        Some("Running") => {
            if text(p, "/spec/restartPolicy").unwrap_or("Always") == "Always" {
                if cond_is(p, "Ready", "True") {
                    Health::healthy()
                } else {
                    Health::new(S::Progressing, "Waiting for the pod to become Ready")
                }
            } else {
                Health::new(S::Progressing, "Pod is running")
            }
        }
        Some("Pending") | None => Health::new(
            S::Progressing,
            text(p, "/status/message").unwrap_or("Pod is pending"),
        ),
        _ => Health::new(S::Unknown, text(p, "/status/message").unwrap_or("")),
    }
}
