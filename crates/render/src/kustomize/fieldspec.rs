//! Field specs: where in which kinds a transformer writes (kustomize's `fieldSpecs`), and the
//! built-in tables kustomize ships for labels, annotations and template labels.
//!
//! A path is `/`-separated; lists met on the way are walked element by element (`[]` markers
//! are accepted and ignored). `create` makes missing maps along the path.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub path: String,
    pub create: bool,
}

pub fn spec(group: Option<&str>, kind: Option<&str>, path: &str, create: bool) -> FieldSpec {
    FieldSpec {
        group: group.map(String::from),
        kind: kind.map(String::from),
        path: path.to_string(),
        create,
    }
}

impl FieldSpec {
    pub fn applies_to(&self, group: &str, kind: &str) -> bool {
        self.group.as_deref().is_none_or(|g| g == group)
            && self.kind.as_deref().is_none_or(|k| k == kind)
    }

    /// Calls `f` on every node at this spec's path in `obj` (creating maps when `create`).
    pub fn visit(&self, obj: &mut Value, f: &mut dyn FnMut(&mut Value)) {
        let segs: Vec<&str> = self.path.split('/').filter(|s| !s.is_empty()).collect();
        walk(obj, &segs, self.create, f);
    }
}

fn walk(node: &mut Value, segs: &[&str], create: bool, f: &mut dyn FnMut(&mut Value)) {
    if let Value::Array(items) = node {
        for item in items {
            walk(item, segs, create, f);
        }
        return;
    }
    let Some((first, rest)) = segs.split_first() else {
        f(node);
        return;
    };
    let Value::Object(map) = node else { return };
    // `name[]` marks a list: walked when present, never created (as in kustomize).
    let (first, is_list) = match first.strip_suffix("[]") {
        Some(f) => (f, true),
        None => (*first, false),
    };
    if !map.contains_key(first) {
        if !create || is_list {
            return;
        }
        map.insert(first.to_string(), Value::Object(Map::new()));
    }
    let child = map.get_mut(first).expect("present");
    if child.is_null() && create {
        *child = Value::Object(Map::new());
    }
    walk(child, rest, create, f);
}

const WORKLOADS_WITH_TEMPLATE: [(&str, &str); 6] = [
    ("", "ReplicationController"),
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
    ("apps", "DaemonSet"),
    ("apps", "StatefulSet"),
    ("batch", "Job"),
];

/// Where a label goes: always `metadata/labels`; templates when asked (or with selectors);
/// selectors when asked (commonLabels always asks).
pub fn label_specs(include_selectors: bool, include_templates: bool) -> Vec<FieldSpec> {
    let mut v = vec![spec(None, None, "metadata/labels", true)];
    if include_selectors || include_templates {
        for (g, k) in WORKLOADS_WITH_TEMPLATE {
            v.push(spec(
                Some(g),
                Some(k),
                "spec/template/metadata/labels",
                true,
            ));
        }
        v.push(spec(
            Some("batch"),
            Some("CronJob"),
            "spec/jobTemplate/metadata/labels",
            true,
        ));
        v.push(spec(
            Some("batch"),
            Some("CronJob"),
            "spec/jobTemplate/spec/template/metadata/labels",
            true,
        ));
        v.push(spec(
            Some("apps"),
            Some("StatefulSet"),
            "spec/volumeClaimTemplates[]/metadata/labels",
            true,
        ));
    }
    if include_selectors {
        v.push(spec(Some(""), Some("Service"), "spec/selector", true));
        v.push(spec(
            Some(""),
            Some("ReplicationController"),
            "spec/selector",
            true,
        ));
        for k in ["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"] {
            v.push(spec(
                Some("apps"),
                Some(k),
                "spec/selector/matchLabels",
                true,
            ));
            for aff in ["podAffinity", "podAntiAffinity"] {
                for when in [
                    "preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm",
                    "requiredDuringSchedulingIgnoredDuringExecution",
                ] {
                    v.push(spec(
                        Some("apps"),
                        Some(k),
                        &format!(
                            "spec/template/spec/affinity/{aff}/{when}/labelSelector/matchLabels"
                        ),
                        false,
                    ));
                }
            }
            v.push(spec(
                Some("apps"),
                Some(k),
                "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
                false,
            ));
        }
        v.push(spec(
            Some("batch"),
            Some("Job"),
            "spec/selector/matchLabels",
            false,
        ));
        v.push(spec(
            Some("batch"),
            Some("CronJob"),
            "spec/jobTemplate/spec/selector/matchLabels",
            false,
        ));
        v.push(spec(
            Some("policy"),
            Some("PodDisruptionBudget"),
            "spec/selector/matchLabels",
            false,
        ));
        v.push(spec(
            Some("networking.k8s.io"),
            Some("NetworkPolicy"),
            "spec/podSelector/matchLabels",
            false,
        ));
        v.push(spec(
            Some("networking.k8s.io"),
            Some("NetworkPolicy"),
            "spec/ingress/from/podSelector/matchLabels",
            false,
        ));
        v.push(spec(
            Some("networking.k8s.io"),
            Some("NetworkPolicy"),
            "spec/egress/to/podSelector/matchLabels",
            false,
        ));
    }
    v
}

/// Where commonAnnotations go: metadata and every pod template.
pub fn annotation_specs() -> Vec<FieldSpec> {
    let mut v = vec![spec(None, None, "metadata/annotations", true)];
    for (g, k) in WORKLOADS_WITH_TEMPLATE {
        v.push(spec(
            Some(g),
            Some(k),
            "spec/template/metadata/annotations",
            true,
        ));
    }
    v.push(spec(
        Some("batch"),
        Some("CronJob"),
        "spec/jobTemplate/metadata/annotations",
        true,
    ));
    v.push(spec(
        Some("batch"),
        Some("CronJob"),
        "spec/jobTemplate/spec/template/metadata/annotations",
        true,
    ));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn visit_walks_lists_and_creates_maps() {
        let mut obj = json!({"spec": {"volumeClaimTemplates": [{"metadata": {}}, {}]}});
        let s = spec(
            None,
            None,
            "spec/volumeClaimTemplates[]/metadata/labels",
            true,
        );
        s.visit(&mut obj, &mut |n| {
            n.as_object_mut().unwrap().insert("a".into(), json!("b"));
        });
        assert_eq!(
            obj["spec"]["volumeClaimTemplates"],
            json!([{"metadata": {"labels": {"a": "b"}}}, {"metadata": {"labels": {"a": "b"}}}])
        );
        let mut job = json!({"spec": {}});
        spec(None, None, "spec/selector/matchLabels", false)
            .visit(&mut job, &mut |_| panic!("must not create"));
        assert_eq!(job, json!({"spec": {}}));
    }
}
