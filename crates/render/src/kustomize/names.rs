//! Name suffix hashes of generated objects and name-reference rewriting.
//!
//! The hash follows kustomize v5 byte for byte: sha256 over Go's `json.Marshal` (HTML-escaped)
//! of `{kind, name: "", data[, binaryData]}` (ConfigMap) or `{kind, name: "", type, data}`
//! (Secret), first ten hex digits with `0 1 3 a e` swapped for `g h k m t`. The name is hashed
//! empty: kustomize v5 hashes the generated object before naming it (older kustomize hashed the
//! name too, which is why the Kubernetes documentation shows other suffixes). Verified against
//! `kubectl kustomize` (kustomize v5.5.0).
//!
//! References are rewritten from a table of the built-in kinds' reference fields (pod specs'
//! ConfigMap/Secret/PVC/ServiceAccount refs, Ingress backends, RBAC roleRefs and subjects,
//! HPA targets...): a reference equal to any name a resource has held, in the referrer's
//! namespace, becomes that resource's final name.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::Resource;
use super::fieldspec::{FieldSpec, pod_spec_path, spec};

/// Go's `json.Marshal` for a string: HTML-safe escaping included.
fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `json.Marshal` of a map[string]string (keys sorted).
fn go_json_map(m: Option<&Map<String, Value>>, out: &mut String) {
    out.push('{');
    let mut keys: Vec<&String> = m.map(|m| m.keys().collect()).unwrap_or_default();
    keys.sort();
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(k, out);
        out.push(':');
        go_json_string(m.and_then(|m| m[k].as_str()).unwrap_or_default(), out);
    }
    out.push('}');
}

/// The kustomize content hash of a generated ConfigMap or Secret.
pub fn content_hash(obj: &Value) -> String {
    let kind = driftless_core::object::kind(obj).unwrap_or_default();
    let name = "";
    let mut enc = String::new();
    enc.push('{');
    let binary = obj
        .get("binaryData")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    if kind == "ConfigMap" && binary.is_some() {
        enc.push_str("\"binaryData\":");
        go_json_map(binary, &mut enc);
        enc.push(',');
    }
    enc.push_str("\"data\":");
    // kustomize's hasher writes an absent or empty data map as an empty string.
    match obj.get("data").and_then(Value::as_object) {
        Some(d) if !d.is_empty() => go_json_map(Some(d), &mut enc),
        _ => enc.push_str("\"\""),
    }
    enc.push_str(",\"kind\":");
    go_json_string(kind, &mut enc);
    enc.push_str(",\"name\":");
    go_json_string(name, &mut enc);
    if kind == "Secret" {
        enc.push_str(",\"type\":");
        go_json_string(
            obj.get("type").and_then(Value::as_str).unwrap_or_default(),
            &mut enc,
        );
    }
    enc.push('}');
    let hex = hex::encode(Sha256::digest(enc.as_bytes()));
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

pub fn add_hash_suffixes(ra: &mut [Resource]) {
    for r in ra.iter_mut().filter(|r| r.needs_hash) {
        let new = format!("{}-{}", r.name(), content_hash(&r.obj));
        r.rename(&new);
        r.needs_hash = false;
    }
}

/// Extra condition on the map holding a reference.
#[derive(Clone, Copy)]
enum Cond {
    None,
    /// The map's `kind` equals the referenced kind (roleRef, scaleTargetRef).
    KindIsTarget,
    /// RBAC subjects. kustomize v5 renames a subject of any kind whose name matches a
    /// ServiceAccount (a `User` named like a ServiceAccount is renamed too); we match its output
    /// and warn when that happens to a non-ServiceAccount subject.
    Subject,
}

/// Where references live: in pod specs (path relative to the pod spec) or in a given kind.
enum Scope {
    PodSpec,
    Kind(&'static str, &'static str),
}

struct Ref {
    target: (&'static str, &'static str),
    scope: Scope,
    /// Path to the map holding the reference field ("" for the pod spec itself).
    parent: &'static str,
    field: &'static str,
    cond: Cond,
}

const fn r(
    target: (&'static str, &'static str),
    scope: Scope,
    parent: &'static str,
    field: &'static str,
    cond: Cond,
) -> Ref {
    Ref {
        target,
        scope,
        parent,
        field,
        cond,
    }
}

const CM: (&str, &str) = ("", "ConfigMap");
const SECRET: (&str, &str) = ("", "Secret");
const SA: (&str, &str) = ("", "ServiceAccount");
const SVC: (&str, &str) = ("", "Service");
const RBAC: &str = "rbac.authorization.k8s.io";

/// Built once: the pod-spec paths are formatted (and leaked) a single time per process.
static TABLE: std::sync::LazyLock<Vec<Ref>> = std::sync::LazyLock::new(build_table);

fn build_table() -> Vec<Ref> {
    use Cond::*;
    use Scope::*;
    let mut t = Vec::new();
    for c in ["containers", "initContainers", "ephemeralContainers"] {
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        t.push(r(
            CM,
            PodSpec,
            leak(format!("{c}/env/valueFrom/configMapKeyRef")),
            "name",
            None,
        ));
        t.push(r(
            CM,
            PodSpec,
            leak(format!("{c}/envFrom/configMapRef")),
            "name",
            None,
        ));
        t.push(r(
            SECRET,
            PodSpec,
            leak(format!("{c}/env/valueFrom/secretKeyRef")),
            "name",
            None,
        ));
        t.push(r(
            SECRET,
            PodSpec,
            leak(format!("{c}/envFrom/secretRef")),
            "name",
            None,
        ));
    }
    t.extend([
        r(CM, PodSpec, "volumes/configMap", "name", None),
        r(
            CM,
            PodSpec,
            "volumes/projected/sources/configMap",
            "name",
            None,
        ),
        r(SECRET, PodSpec, "volumes/secret", "secretName", None),
        r(
            SECRET,
            PodSpec,
            "volumes/projected/sources/secret",
            "name",
            None,
        ),
        r(SECRET, PodSpec, "imagePullSecrets", "name", None),
        r(
            SECRET,
            Kind("", "ServiceAccount"),
            "imagePullSecrets",
            "name",
            None,
        ),
        r(SECRET, Kind("", "ServiceAccount"), "secrets", "name", None),
        r(
            SECRET,
            Kind("networking.k8s.io", "Ingress"),
            "spec/tls",
            "secretName",
            None,
        ),
        r(SA, PodSpec, "", "serviceAccountName", None),
        r(SA, Kind(RBAC, "RoleBinding"), "subjects", "name", Subject),
        r(
            SA,
            Kind(RBAC, "ClusterRoleBinding"),
            "subjects",
            "name",
            Subject,
        ),
        r(
            ("", "PersistentVolumeClaim"),
            PodSpec,
            "volumes/persistentVolumeClaim",
            "claimName",
            None,
        ),
        r(
            ("", "PersistentVolume"),
            Kind("", "PersistentVolumeClaim"),
            "spec",
            "volumeName",
            None,
        ),
        r(
            ("storage.k8s.io", "StorageClass"),
            Kind("", "PersistentVolumeClaim"),
            "spec",
            "storageClassName",
            None,
        ),
        r(
            ("storage.k8s.io", "StorageClass"),
            Kind("apps", "StatefulSet"),
            "spec/volumeClaimTemplates/spec",
            "storageClassName",
            None,
        ),
        r(
            ("scheduling.k8s.io", "PriorityClass"),
            PodSpec,
            "",
            "priorityClassName",
            None,
        ),
        r(
            SVC,
            Kind("networking.k8s.io", "Ingress"),
            "spec/rules/http/paths/backend/service",
            "name",
            None,
        ),
        r(
            SVC,
            Kind("networking.k8s.io", "Ingress"),
            "spec/defaultBackend/service",
            "name",
            None,
        ),
        r(
            SVC,
            Kind("apps", "StatefulSet"),
            "spec",
            "serviceName",
            None,
        ),
        r(
            SVC,
            Kind("apiregistration.k8s.io", "APIService"),
            "spec/service",
            "name",
            None,
        ),
        r(
            SVC,
            Kind(
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration",
            ),
            "webhooks/clientConfig/service",
            "name",
            None,
        ),
        r(
            SVC,
            Kind(
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration",
            ),
            "webhooks/clientConfig/service",
            "name",
            None,
        ),
        r(
            (RBAC, "Role"),
            Kind(RBAC, "RoleBinding"),
            "roleRef",
            "name",
            KindIsTarget,
        ),
        r(
            (RBAC, "ClusterRole"),
            Kind(RBAC, "RoleBinding"),
            "roleRef",
            "name",
            KindIsTarget,
        ),
        r(
            (RBAC, "ClusterRole"),
            Kind(RBAC, "ClusterRoleBinding"),
            "roleRef",
            "name",
            KindIsTarget,
        ),
    ]);
    for k in ["Deployment", "StatefulSet", "ReplicaSet"] {
        t.push(r(
            ("apps", k),
            Kind("autoscaling", "HorizontalPodAutoscaler"),
            "spec/scaleTargetRef",
            "name",
            KindIsTarget,
        ));
    }
    t
}

/// What the rewriting needs to know of a possible referral target.
struct Target {
    group: String,
    kind: String,
    names: Vec<String>,
    namespaces: Vec<String>,
    name: String,
    namespace: String,
}

pub fn fix_references(ra: &mut [Resource], warnings: &mut Vec<String>) {
    let targets: Vec<Target> = ra
        .iter()
        .map(|r| Target {
            group: r.group().into(),
            kind: r.kind().into(),
            names: r.names.clone(),
            namespaces: r.namespaces.clone(),
            name: r.name().into(),
            namespace: r.namespace().into(),
        })
        .collect();
    let refs = &*TABLE;
    for r in ra.iter_mut() {
        let (group, kind, ns) = (
            r.group().to_string(),
            r.kind().to_string(),
            r.namespace().to_string(),
        );
        for rf in refs {
            let path = match rf.scope {
                Scope::PodSpec => match pod_spec_path(&group, &kind) {
                    Some(p) if rf.parent.is_empty() => p.to_string(),
                    Some(p) => format!("{p}/{}", rf.parent),
                    None => continue,
                },
                Scope::Kind(g, k) if g == group && k == kind => rf.parent.to_string(),
                Scope::Kind(..) => continue,
            };
            let fs: FieldSpec = spec(None, None, &path, false);
            let origin = r.origin.clone();
            fs.visit(&mut r.obj, &mut |node| {
                if let Some(w) = rewrite(node, rf, &targets, &ns) {
                    warnings.push(format!("{origin}: {w}"));
                }
            });
        }
    }
}

/// Rewrites one reference; returns a warning when kustomize's behaviour is surprising.
fn rewrite(node: &mut Value, rf: &Ref, targets: &[Target], referrer_ns: &str) -> Option<String> {
    let map = node.as_object_mut()?;
    let value = map
        .get(rf.field)
        .and_then(Value::as_str)
        .map(String::from)?;
    let map_kind = map.get("kind").and_then(Value::as_str).map(String::from);
    match rf.cond {
        Cond::None => {}
        Cond::KindIsTarget if map_kind.as_deref() != Some(rf.target.1) => return None,
        _ => {}
    }
    let subject_ns = map
        .get("namespace")
        .and_then(Value::as_str)
        .map(String::from);
    let candidates: Vec<&Target> = targets
        .iter()
        .filter(|t| t.group == rf.target.0 && t.kind == rf.target.1 && t.names.contains(&value))
        .filter(|t| match rf.cond {
            Cond::Subject => subject_ns.as_ref().is_none_or(|s| {
                t.namespaces
                    .iter()
                    .any(|n| n == s || (n.is_empty() && s == "default"))
            }),
            // Cluster-scoped referrals (ClusterRole, PV, StorageClass...) have no namespace.
            _ => {
                t.namespace.is_empty()
                    || t.namespace == referrer_ns
                    || (referrer_ns.is_empty() && t.namespace == "default")
            }
        })
        .collect();
    let chosen = match candidates.as_slice() {
        [one] => *one,
        many if !many.is_empty() => *many.iter().find(|t| t.name == value)?,
        _ => return None,
    };
    map.insert(rf.field.to_string(), Value::String(chosen.name.clone()));
    if !matches!(rf.cond, Cond::Subject) {
        return None;
    }
    if !chosen.namespace.is_empty() {
        map.insert("namespace".into(), Value::String(chosen.namespace.clone()));
    }
    match map_kind.as_deref() {
        Some("ServiceAccount") | None => None,
        Some(kind) => Some(format!(
            "subject {kind} `{value}` was renamed to `{}` because a ServiceAccount has that name (kustomize does the same); check the binding grants what you mean",
            chosen.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Expected suffixes are what `kubectl kustomize` (kustomize v5.5.0) printed for the same
    /// generators, including Go's HTML escaping of `&`, `<` and `>`.
    #[test]
    fn hashes_match_kustomize_v5() {
        let cm = |name: &str, data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data});
        assert_eq!(
            content_hash(&cm("example-configmap-2", json!({"FOO": "Bar"}))),
            "42cfbf598f"
        );
        assert_eq!(
            content_hash(&cm("web-config", json!({"LOG_LEVEL": "warn"}))),
            "dfk4bdbtkk"
        );
        assert_eq!(content_hash(&cm("c", json!({"K": "a&b<c>"}))), "tf48ft7fgk");
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {"a": "Yg=="}});
        assert_eq!(content_hash(&secret), "92982c4m8f");
    }
}
