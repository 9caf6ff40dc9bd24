//! Built-in health checks. Core kinds follow gitops-engine's semantics so users see the
//! statuses they know from Argo CD; custom resources of the projects people run most get a
//! check per project family, written from each project's documented status semantics; any
//! other custom resource gets the generic condition rule. Each check reads only `spec`,
//! `status` and `metadata`; a status the controller has not caught up with
//! (`observedGeneration` behind) is Progressing, never Healthy.
//!
//! Kinds of the built-in API groups without a check (ConfigMap, Secret, RBAC, ...) have no
//! health, as in Argo CD.

mod argo_rollouts;
mod argo_workflows;
mod cert_manager;
mod cloudnative_pg;
pub(crate) mod conditions;
mod crossplane;
mod external_secrets;
pub(crate) mod fields;
mod flux;
mod istio;
mod keda;
mod kinds;
mod knative;
mod prometheus_operator;
mod sealed_secrets;
mod strimzi;
mod tekton;
mod workloads;

use serde_json::Value;

use crate::lua::argo_key;
use crate::{Health, HealthSource};

/// The API groups Kubernetes itself serves (as discovered on a v1.36 API server): their
/// kinds have a built-in check or none, never the generic rule.
const BUILT_IN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

type FamilyCheck = fn(&str, &str, &Value) -> Option<Health>;

/// Project families: a name for the API and the UI, and a check that answers for the kinds
/// it knows (`None` for the others).
const FAMILIES: &[(&str, FamilyCheck)] = &[
    ("cert-manager", cert_manager::check),
    ("argo-rollouts", argo_rollouts::check),
    ("argo-workflows", argo_workflows::check),
    ("flux", flux::check),
    ("crossplane", crossplane::check),
    ("external-secrets", external_secrets::check),
    ("sealed-secrets", sealed_secrets::check),
    ("keda", keda::check),
    ("prometheus-operator", prometheus_operator::check),
    ("knative", knative::check),
    ("tekton", tekton::check),
    ("cloudnative-pg", cloudnative_pg::check),
    ("strimzi", strimzi::check),
    ("istio", istio::check),
];

/// Built-in health; `None` for kinds without a health notion.
pub fn assess(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    if BUILT_IN_GROUPS.contains(&group) {
        let source = HealthSource::BuiltinKind {
            kind: argo_key(group, kind),
        };
        return core_kind(group, kind, obj).map(|h| h.from_check(source));
    }
    for (family, check) in FAMILIES {
        if let Some(h) = check(group, kind, obj) {
            return Some(h.from_check(HealthSource::BuiltinFamily {
                family: family.to_string(),
                kind: argo_key(group, kind),
            }));
        }
    }
    conditions::assess(obj).map(|h| h.from_check(HealthSource::Conditions))
}

fn core_kind(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    Some(match (group, kind) {
        ("apps" | "extensions", "Deployment") => workloads::deployment(obj),
        ("apps", "StatefulSet") => workloads::stateful_set(obj),
        ("apps" | "extensions", "DaemonSet") => workloads::daemon_set(obj),
        ("apps" | "extensions", "ReplicaSet") => workloads::replica_set(obj),
        ("", "Pod") => workloads::pod(obj),
        ("batch", "Job") => kinds::job(obj),
        ("batch", "CronJob") => kinds::cron_job(obj),
        ("", "Service") => kinds::service(obj),
        ("networking.k8s.io" | "extensions", "Ingress") => kinds::ingress(obj),
        ("", "PersistentVolumeClaim") => kinds::pvc(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => kinds::hpa(obj),
        ("apiregistration.k8s.io", "APIService") => kinds::api_service(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => kinds::crd(obj),
        ("", "Namespace") => kinds::namespace(obj),
        _ => return None,
    })
}
