//! Built-in health checks, following Argo CD's (gitops-engine `pkg/health`) semantics so
//! users see the statuses they know. Each check reads only `spec`, `status` and `metadata`;
//! a status the controller has not caught up with (`observedGeneration` behind) is
//! Progressing, never Healthy.

use serde_json::Value;

use crate::{Health, HealthStatus as S};

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

fn cond_is(obj: &Value, kind: &str, status: &str) -> bool {
    condition(obj, kind)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some(status)
}

fn cond_message(obj: &Value, kind: &str) -> String {
    condition(obj, kind)
        .and_then(|c| c.get("message").and_then(Value::as_str))
        .unwrap_or("")
        .to_string()
}

/// The controller has not observed the latest spec yet.
fn not_observed(obj: &Value) -> bool {
    match obj
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
    {
        Some(observed) => observed < int(obj, "/metadata/generation"),
        None => obj.pointer("/metadata/generation").is_some() && obj.get("status").is_none(),
    }
}

/// Built-in health; `None` for kinds without a health notion.
pub fn assess(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return Some(Health::new(S::Progressing, "Pending deletion"));
    }
    let h = match (group, kind) {
        ("apps", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => stateful_set(obj),
        ("apps", "DaemonSet") => daemon_set(obj),
        ("apps", "ReplicaSet") => replica_set(obj),
        ("", "Pod") => pod(obj),
        ("batch", "Job") => job(obj),
        ("batch", "CronJob") => cron_job(obj),
        ("", "Service") => service(obj),
        ("networking.k8s.io", "Ingress") => ingress(obj),
        ("", "PersistentVolumeClaim") => pvc(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(obj),
        ("apiregistration.k8s.io", "APIService") => api_service(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj),
        ("", "Namespace") => namespace(obj),
        _ => return generic(obj),
    };
    Some(h)
}

fn deployment(d: &Value) -> Health {
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

fn stateful_set(s: &Value) -> Health {
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

fn daemon_set(d: &Value) -> Health {
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

fn replica_set(r: &Value) -> Health {
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

fn pod(p: &Value) -> Health {
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

fn job(j: &Value) -> Health {
    if cond_is(j, "Failed", "True") {
        return Health::new(S::Degraded, cond_message(j, "Failed"));
    }
    if cond_is(j, "Complete", "True") {
        return Health::new(S::Healthy, cond_message(j, "Complete"));
    }
    if j.pointer("/spec/suspend") == Some(&Value::Bool(true)) {
        return Health::new(S::Suspended, "Job is suspended");
    }
    Health::new(S::Progressing, "Job is running")
}

fn cron_job(c: &Value) -> Health {
    if c.pointer("/spec/suspend") == Some(&Value::Bool(true)) {
        return Health::new(S::Suspended, "CronJob is suspended");
    }
    Health::healthy()
}

fn has_ingress(obj: &Value) -> bool {
    obj.pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn service(s: &Value) -> Health {
    if text(s, "/spec/type") == Some("LoadBalancer") && !has_ingress(s) {
        return Health::new(
            S::Progressing,
            "Waiting for the load balancer to get an address",
        );
    }
    Health::healthy()
}

fn ingress(i: &Value) -> Health {
    if !has_ingress(i) {
        return Health::new(
            S::Progressing,
            "Waiting for the ingress controller to publish an address",
        );
    }
    Health::healthy()
}

fn pvc(p: &Value) -> Health {
    match text(p, "/status/phase") {
        Some("Bound") => Health::healthy(),
        Some("Lost") => Health::new(S::Degraded, "the claim lost its volume"),
        _ => Health::new(S::Progressing, "Waiting for the claim to be bound"),
    }
}

fn hpa(h: &Value) -> Health {
    for (kind, bad) in [("AbleToScale", "False"), ("ScalingActive", "False")] {
        if let Some(c) = condition(h, kind)
            && c.get("status").and_then(Value::as_str) == Some(bad)
        {
            let reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
            // ScalingDisabled is a choice (replicas 0), not a failure.
            if reason != "ScalingDisabled" {
                return Health::new(S::Degraded, cond_message(h, kind));
            }
        }
    }
    if h.get("status").is_none() {
        return Health::new(S::Progressing, "Waiting to autoscale");
    }
    Health::healthy()
}

fn api_service(a: &Value) -> Health {
    if cond_is(a, "Available", "True") {
        return Health::healthy();
    }
    Health::new(S::Progressing, cond_message(a, "Available"))
}

fn crd(c: &Value) -> Health {
    if cond_is(c, "NamesAccepted", "False") {
        return Health::new(S::Degraded, cond_message(c, "NamesAccepted"));
    }
    if cond_is(c, "Established", "True") {
        return Health::healthy();
    }
    Health::new(S::Progressing, "Waiting for the CRD to be established")
}

fn namespace(n: &Value) -> Health {
    match text(n, "/status/phase") {
        Some("Terminating") => Health::new(S::Progressing, "Namespace is terminating"),
        _ => Health::healthy(),
    }
}

/// Any kind with `Ready` or `Available` conditions (most operators follow the convention).
fn generic(obj: &Value) -> Option<Health> {
    for kind in ["Ready", "Available"] {
        if let Some(c) = condition(obj, kind) {
            let msg = cond_message(obj, kind);
            return Some(match c.get("status").and_then(Value::as_str) {
                Some("True") => Health::new(S::Healthy, msg),
                Some("False") => Health::new(S::Degraded, msg),
                _ => Health::new(S::Progressing, msg),
            });
        }
    }
    None
}
