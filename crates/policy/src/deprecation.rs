//! Deprecated and removed API versions, from Kubernetes' deprecated API migration guide
//! (<https://kubernetes.io/docs/reference/using-api/deprecation-guide/>). An object in a
//! version removed at or before the target version is an error; one deprecated but still
//! served is a warning naming the release that removes it.

use crate::finding::{Check, Finding, ObjectRef};

/// One row of the guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deprecation {
    pub api_version: &'static str,
    /// `None`: every kind of that version.
    pub kind: Option<&'static str>,
    /// Minor version (1.x) that deprecated it.
    pub deprecated_in: u32,
    /// Minor version that stopped serving it; `None` while still served.
    pub removed_in: Option<u32>,
    pub replacement: &'static str,
}

const fn row(
    api_version: &'static str,
    kind: Option<&'static str>,
    deprecated_in: u32,
    removed_in: Option<u32>,
    replacement: &'static str,
) -> Deprecation {
    Deprecation {
        api_version,
        kind,
        deprecated_in,
        removed_in,
        replacement,
    }
}

/// The table, most specific rows (with a kind) first.
pub const TABLE: &[Deprecation] = &[
    row(
        "extensions/v1beta1",
        Some("Ingress"),
        14,
        Some(22),
        "networking.k8s.io/v1 Ingress",
    ),
    row(
        "extensions/v1beta1",
        Some("NetworkPolicy"),
        9,
        Some(16),
        "networking.k8s.io/v1 NetworkPolicy",
    ),
    row(
        "extensions/v1beta1",
        Some("PodSecurityPolicy"),
        10,
        Some(16),
        "policy/v1beta1, then Pod Security Admission",
    ),
    row("extensions/v1beta1", None, 8, Some(16), "apps/v1"),
    row("apps/v1beta1", None, 9, Some(16), "apps/v1"),
    row("apps/v1beta2", None, 9, Some(16), "apps/v1"),
    row(
        "networking.k8s.io/v1beta1",
        None,
        19,
        Some(22),
        "networking.k8s.io/v1",
    ),
    row(
        "admissionregistration.k8s.io/v1beta1",
        None,
        16,
        Some(22),
        "admissionregistration.k8s.io/v1",
    ),
    row(
        "apiextensions.k8s.io/v1beta1",
        None,
        16,
        Some(22),
        "apiextensions.k8s.io/v1",
    ),
    row(
        "apiregistration.k8s.io/v1beta1",
        None,
        19,
        Some(22),
        "apiregistration.k8s.io/v1",
    ),
    row(
        "authentication.k8s.io/v1beta1",
        None,
        19,
        Some(22),
        "authentication.k8s.io/v1",
    ),
    row(
        "authorization.k8s.io/v1beta1",
        None,
        19,
        Some(22),
        "authorization.k8s.io/v1",
    ),
    row(
        "certificates.k8s.io/v1beta1",
        None,
        19,
        Some(22),
        "certificates.k8s.io/v1",
    ),
    row(
        "coordination.k8s.io/v1beta1",
        None,
        19,
        Some(22),
        "coordination.k8s.io/v1",
    ),
    row(
        "rbac.authorization.k8s.io/v1beta1",
        None,
        17,
        Some(22),
        "rbac.authorization.k8s.io/v1",
    ),
    row(
        "scheduling.k8s.io/v1beta1",
        None,
        14,
        Some(22),
        "scheduling.k8s.io/v1",
    ),
    row(
        "storage.k8s.io/v1beta1",
        Some("CSIStorageCapacity"),
        24,
        Some(27),
        "storage.k8s.io/v1",
    ),
    row(
        "storage.k8s.io/v1beta1",
        None,
        19,
        Some(22),
        "storage.k8s.io/v1",
    ),
    row(
        "policy/v1beta1",
        Some("PodSecurityPolicy"),
        21,
        Some(25),
        "Pod Security Admission (no replacement object)",
    ),
    row("policy/v1beta1", None, 21, Some(25), "policy/v1"),
    row("batch/v1beta1", None, 21, Some(25), "batch/v1"),
    row(
        "discovery.k8s.io/v1beta1",
        None,
        21,
        Some(25),
        "discovery.k8s.io/v1",
    ),
    row(
        "events.k8s.io/v1beta1",
        None,
        19,
        Some(25),
        "events.k8s.io/v1",
    ),
    row("node.k8s.io/v1beta1", None, 20, Some(25), "node.k8s.io/v1"),
    row("autoscaling/v2beta1", None, 22, Some(25), "autoscaling/v2"),
    row("autoscaling/v2beta2", None, 23, Some(26), "autoscaling/v2"),
    row(
        "flowcontrol.apiserver.k8s.io/v1beta1",
        None,
        23,
        Some(26),
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    row(
        "flowcontrol.apiserver.k8s.io/v1beta2",
        None,
        26,
        Some(29),
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    row(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        None,
        29,
        Some(32),
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    row(
        "resource.k8s.io/v1beta1",
        None,
        34,
        None,
        "resource.k8s.io/v1",
    ),
    row(
        "v1",
        Some("Endpoints"),
        33,
        None,
        "discovery.k8s.io/v1 EndpointSlice",
    ),
    row(
        "v1",
        Some("ComponentStatus"),
        19,
        None,
        "no replacement (query the components' health endpoints)",
    ),
];

/// Parses `1.36`, `v1.36`, `1.36.2` into the minor version (36).
pub fn parse_minor(version: &str) -> Option<u32> {
    let v = version.trim().trim_start_matches('v');
    let mut parts = v.split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}

/// The row that applies to an object, if any.
pub fn lookup(api_version: &str, kind: &str) -> Option<&'static Deprecation> {
    TABLE
        .iter()
        .find(|d| d.api_version == api_version && d.kind.is_none_or(|k| k == kind))
}

/// The finding for one object at Kubernetes 1.`minor`, if its API version is deprecated or
/// removed by then.
pub fn check(object: &ObjectRef, minor: u32) -> Option<Finding> {
    let d = lookup(&object.api_version, &object.kind)?;
    let what = format!("{} {}", object.api_version, object.kind);
    match d.removed_in {
        Some(r) if r <= minor => Some(
            Finding::error(
                Check::Deprecation,
                "deprecation.removed",
                format!(
                    "{what} was removed in Kubernetes 1.{r} (target 1.{minor}); use {}",
                    d.replacement
                ),
            )
            .on(object.clone())
            .field("apiVersion"),
        ),
        _ if d.deprecated_in <= minor => Some(
            Finding::warning(
                Check::Deprecation,
                "deprecation.deprecated",
                match d.removed_in {
                    Some(r) => format!(
                        "{what} is deprecated since 1.{} and removed in 1.{r}; use {}",
                        d.deprecated_in, d.replacement
                    ),
                    None => format!(
                        "{what} is deprecated since 1.{}; use {}",
                        d.deprecated_in, d.replacement
                    ),
                },
            )
            .on(object.clone())
            .field("apiVersion"),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(api: &str, kind: &str) -> ObjectRef {
        ObjectRef {
            api_version: api.into(),
            kind: kind.into(),
            namespace: String::new(),
            name: "x".into(),
        }
    }

    #[test]
    fn removed_is_an_error_deprecated_a_warning_current_nothing() {
        let f = check(&obj("batch/v1beta1", "CronJob"), 36).expect("removed");
        assert!(f.is_error());
        assert!(
            f.message.contains("removed in Kubernetes 1.25"),
            "{}",
            f.message
        );
        let f = check(&obj("batch/v1beta1", "CronJob"), 23).expect("deprecated");
        assert!(!f.is_error());
        assert!(check(&obj("batch/v1beta1", "CronJob"), 20).is_none());
        assert!(check(&obj("batch/v1", "CronJob"), 36).is_none());
        let f = check(&obj("extensions/v1beta1", "Ingress"), 21).expect("ingress");
        assert!(f.message.contains("removed in 1.22"), "{}", f.message);
        assert_eq!(parse_minor("v1.36.2"), Some(36));
        assert_eq!(parse_minor("2.0"), None);
    }
}
