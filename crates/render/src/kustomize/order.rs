//! Output order: kustomize's `legacy` order by default (Namespaces, CRDs, RBAC, ConfigMaps...
//! first, webhooks last; then by group/version/kind string, namespace and name), or `fifo`
//! (accumulation order) when `sortOptions.order: fifo`.

use super::Resource;
use super::spec::SortOptions;
use crate::RenderError;

const ORDER_FIRST: [&str; 22] = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const ORDER_LAST: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// kustomize's `Gvk.String()`: `group_version_kind` with `~G`/`~V`/`~K` for empty parts.
fn gvk_string(r: &Resource) -> String {
    let or = |s: &str, d: &str| {
        if s.is_empty() {
            d.to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "{}_{}_{}",
        or(r.group(), "~G"),
        or(r.version(), "~V"),
        or(r.kind(), "~K")
    )
}

pub fn sort(
    kfile: &str,
    opts: Option<&SortOptions>,
    ra: &mut [Resource],
) -> Result<(), RenderError> {
    let (first, last): (Vec<String>, Vec<String>) = match opts {
        Some(SortOptions {
            order: Some(o),
            legacy_sort_options: Some(_),
        }) if o == "fifo" => {
            return Err(RenderError::invalid(
                kfile,
                Some("sortOptions.legacySortOptions".into()),
                "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'",
            ));
        }
        Some(SortOptions { order: None, .. }) => {
            return Err(RenderError::invalid(
                kfile,
                Some("sortOptions.order".into()),
                "the field 'sortOptions.order' must be one of [fifo, legacy]",
            ));
        }
        Some(SortOptions { order: Some(o), .. }) if o == "fifo" => return Ok(()),
        Some(SortOptions {
            order: Some(o),
            legacy_sort_options,
            ..
        }) if o == "legacy" => match legacy_sort_options {
            Some(l) if !l.order_first.is_empty() || !l.order_last.is_empty() => {
                (l.order_first.clone(), l.order_last.clone())
            }
            _ => (
                ORDER_FIRST.map(String::from).to_vec(),
                ORDER_LAST.map(String::from).to_vec(),
            ),
        },
        Some(SortOptions { order: Some(o), .. }) => {
            return Err(RenderError::invalid(
                kfile,
                Some("sortOptions.order".into()),
                format!("`{o}` is not one of legacy, fifo"),
            ));
        }
        _ => (
            ORDER_FIRST.map(String::from).to_vec(),
            ORDER_LAST.map(String::from).to_vec(),
        ),
    };
    let rank = |kind: &str| -> i64 {
        if let Some(i) = first.iter().position(|k| k == kind) {
            return i as i64 - first.len() as i64;
        }
        if let Some(i) = last.iter().position(|k| k == kind) {
            return i as i64 + 1;
        }
        0
    };
    // Ties break on kyaml's `ResId.String()`: gvk, then the namespace as written (`~X`
    // when empty, which sorts after every real namespace), then the name.
    let effective_ns = |r: &Resource| -> String {
        if r.namespace().is_empty() {
            "~X".into()
        } else {
            r.namespace().into()
        }
    };
    // Stable sort, like Go's sort.Stable over kustomize's legacy comparator.
    let mut keyed: Vec<(i64, String, String, String, Resource)> = ra
        .iter()
        .map(|r| {
            (
                rank(r.kind()),
                gvk_string(r),
                effective_ns(r),
                r.name().to_string(),
                r.clone(),
            )
        })
        .collect();
    keyed.sort_by(|a, b| (a.0, &a.1, &a.2, &a.3).cmp(&(b.0, &b.1, &b.2, &b.3)));
    for (slot, (_, _, _, _, r)) in ra.iter_mut().zip(keyed) {
        *slot = r;
    }
    Ok(())
}
