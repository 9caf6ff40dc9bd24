//! The simple built-in transformers: namespace, namePrefix/nameSuffix, labels (and
//! commonLabels), commonAnnotations, replicas and images.

use serde_json::{Map, Value};

use super::Resource;
use super::fieldspec::{self, FieldSpec, annotation_specs, label_specs};
use super::spec::{ImageSpec, Kustomization, ReplicaSpec, string_map};
use crate::RenderError;
use driftless_core::object;

/// Whether objects of this group/kind are namespaced: the built-in table, then CRDs of the
/// build itself; unknown kinds count as namespaced, as in kustomize.
pub(crate) fn is_namespaced(group: &str, kind: &str, all: &[Resource]) -> bool {
    if let Some(n) = driftless_core::schema::builtin().is_namespaced(group, kind) {
        return n;
    }
    !all.iter().any(|r| {
        r.kind() == "CustomResourceDefinition"
            && object::str_at(&r.obj, &["spec", "group"]) == Some(group)
            && object::str_at(&r.obj, &["spec", "names", "kind"]) == Some(kind)
            && object::str_at(&r.obj, &["spec", "scope"]) == Some("Cluster")
    })
}

/// Sets the namespace of every namespaced object; ServiceAccount subjects named `default` in
/// (Cluster)RoleBindings follow, as in kustomize's default `setRoleBindingSubjects: defaultOnly`.
pub fn namespace(ns: &str, ra: &mut [Resource]) {
    let scopes: Vec<bool> = ra
        .iter()
        .map(|r| is_namespaced(r.group(), r.kind(), ra))
        .collect();
    for (r, namespaced) in ra.iter_mut().zip(scopes) {
        // kustomize stores every object's id before the namespace filter runs, cluster-scoped
        // ones included: name references then tell apart objects that kept their name.
        r.store_previous_id();
        if namespaced {
            object::set_namespace(&mut r.obj, ns);
            r.namespaces.push(ns.to_string());
        }
        // kustomize's namespace field specs also point services that cluster-scoped objects
        // call into the new namespace: an APIService's (created) and a CRD conversion
        // webhook's (when set).
        match (r.group(), r.kind()) {
            // kustomize's namespace field specs include metadata/name of kind Namespace (v1
            // only): a Namespace object becomes the namespace it is given.
            ("", "Namespace") if r.version() == "v1" && r.name() != ns => {
                object::set_name(&mut r.obj, ns);
                r.names.push(ns.to_string());
            }
            ("apiregistration.k8s.io", "APIService") => {
                if let Some(svc) = object::ensure_map(&mut r.obj, &["spec", "service"]) {
                    svc.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
            ("apiextensions.k8s.io", "CustomResourceDefinition") => {
                let path = ["spec", "conversion", "webhook", "clientConfig", "service"];
                if object::str_at(&r.obj, &[&path[..], &["namespace"]].concat()).is_some()
                    && let Some(svc) = object::ensure_map(&mut r.obj, &path)
                {
                    svc.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
            _ => {}
        }
        if r.group() == "rbac.authorization.k8s.io"
            && matches!(r.kind(), "RoleBinding" | "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = r.obj.get_mut("subjects")
        {
            for s in subjects {
                if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                    && s.get("name").and_then(Value::as_str) == Some("default")
                {
                    s["namespace"] = Value::String(ns.to_string());
                }
            }
        }
    }
}

/// Kinds kustomize never renames (their names are API contracts).
fn keeps_name(r: &Resource) -> bool {
    matches!(
        (r.group(), r.kind()),
        ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | ("", "Namespace")
    )
}

pub fn prefix_suffix(prefix: &str, suffix: &str, ra: &mut [Resource]) {
    prefix_suffix_where(prefix, suffix, ra, &|_| true);
}

/// Prefix/suffix on the resources `selected` accepts (a PrefixSuffixTransformer's fieldSpecs).
pub fn prefix_suffix_where(
    prefix: &str,
    suffix: &str,
    ra: &mut [Resource],
    selected: &dyn Fn(&Resource) -> bool,
) {
    if prefix.is_empty() && suffix.is_empty() {
        return;
    }
    for r in ra.iter_mut().filter(|r| !keeps_name(r) && selected(r)) {
        let new = format!("{prefix}{}{suffix}", r.name());
        r.rename(&new);
        if !prefix.is_empty() {
            r.prefixes.push(prefix.to_string());
        }
        if !suffix.is_empty() {
            r.suffixes.push(suffix.to_string());
        }
    }
}

pub fn apply_pairs(specs: &[FieldSpec], pairs: &[(String, String)], ra: &mut [Resource]) {
    for r in ra.iter_mut() {
        let (group, kind) = (r.group().to_string(), r.kind().to_string());
        for s in specs.iter().filter(|s| s.applies_to(&group, &kind)) {
            s.visit(&mut r.obj, &mut |node| {
                if node.is_null() {
                    *node = Value::Object(Map::new());
                }
                if let Some(map) = node.as_object_mut() {
                    for (k, v) in pairs {
                        map.insert(k.clone(), Value::String(v.clone()));
                    }
                }
            });
        }
    }
}

/// Field specs added by `configurations:` files, per section.
pub type Extra = std::collections::BTreeMap<&'static str, Vec<FieldSpec>>;

fn extra<'e>(e: &'e Extra, section: &str) -> &'e [FieldSpec] {
    e.get(section).map(Vec::as_slice).unwrap_or_default()
}

pub fn labels(
    kfile: &str,
    k: &Kustomization,
    more: &Extra,
    ra: &mut [Resource],
) -> Result<(), RenderError> {
    if !k.common_labels.is_empty() {
        let pairs = string_map(kfile, "commonLabels", &k.common_labels)?;
        let mut specs = label_specs(true, true);
        specs.extend_from_slice(extra(more, "commonLabels"));
        apply_pairs(&specs, &pairs, ra);
    }
    for (i, l) in k.labels.iter().enumerate() {
        let pairs = string_map(kfile, &format!("labels[{i}].pairs"), &l.pairs)?;
        let mut specs = label_specs(l.include_selectors, l.include_templates);
        specs.extend_from_slice(extra(more, "labels"));
        if l.include_selectors {
            specs.extend_from_slice(extra(more, "commonLabels"));
        } else if l.include_templates {
            specs.extend_from_slice(extra(more, "templateLabels"));
        }
        specs.extend(
            l.fields
                .iter()
                .map(|f| fieldspec::spec(f.group.as_deref(), f.kind.as_deref(), &f.path, f.create)),
        );
        apply_pairs(&specs, &pairs, ra);
    }
    Ok(())
}

pub fn annotations(
    kfile: &str,
    k: &Kustomization,
    more: &Extra,
    ra: &mut [Resource],
) -> Result<(), RenderError> {
    if !k.common_annotations.is_empty() {
        let pairs = string_map(kfile, "commonAnnotations", &k.common_annotations)?;
        let mut specs = annotation_specs();
        specs.extend_from_slice(extra(more, "commonAnnotations"));
        apply_pairs(&specs, &pairs, ra);
    }
    Ok(())
}

pub fn replicas(
    kfile: &str,
    specs: &[ReplicaSpec],
    more: &Extra,
    ra: &mut [Resource],
    warnings: &mut Vec<String>,
) {
    for s in specs {
        let mut hit = false;
        for r in ra.iter_mut().filter(|r| r.had_name(&s.name)) {
            if matches!(
                (r.group(), r.kind()),
                ("apps", "Deployment" | "ReplicaSet" | "StatefulSet")
                    | ("", "ReplicationController")
            ) && let Some(spec) = driftless_core::object::ensure_map(&mut r.obj, &["spec"])
            {
                spec.insert("replicas".into(), Value::from(s.count));
                hit = true;
            }
            // Replica fields `configurations:` adds for other kinds.
            let (group, kind) = (r.group().to_string(), r.kind().to_string());
            for fs in extra(more, "replicas")
                .iter()
                .filter(|fs| fs.applies_to(&group, &kind))
            {
                let Some((parent, leaf)) = fs.path.rsplit_once('/') else {
                    continue;
                };
                let holder = FieldSpec {
                    path: parent.to_string(),
                    ..fs.clone()
                };
                holder.visit(&mut r.obj, &mut |node| {
                    if let Some(m) = node.as_object_mut() {
                        m.insert(leaf.to_string(), Value::from(s.count));
                        hit = true;
                    }
                });
            }
        }
        if !hit {
            warnings.push(format!("{kfile}: replicas entry `{}` matches no Deployment, ReplicaSet, StatefulSet or ReplicationController", s.name));
        }
    }
}

/// Splits `registry/name:tag@digest` into (name, tag, digest).
pub fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match rest[slash..].rfind(':') {
        Some(c) => (&rest[..slash + c], Some(&rest[slash + c + 1..]), digest),
        None => (rest, None, digest),
    }
}

fn update_image(image: &str, spec: &ImageSpec) -> Option<String> {
    let (name, tag, digest) = split_image(image);
    if name != spec.name {
        return None;
    }
    let name = spec.new_name.as_deref().unwrap_or(name);
    let (tag, digest) = match (&spec.new_tag, &spec.digest) {
        (Some(t), Some(d)) => (Some(t.as_str()), Some(d.as_str())),
        (Some(t), None) => (Some(t.as_str()), None),
        (None, Some(d)) => (None, Some(d.as_str())),
        (None, None) => (tag, digest),
    };
    let mut out = name.to_string();
    if let Some(t) = tag {
        out.push(':');
        out.push_str(t);
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Some(out)
}

/// Rewrites `image` of every container, init container and ephemeral container, at any depth
/// (kustomize's legacy image filter does the same walk).
pub fn images(specs: &[ImageSpec], more: &Extra, ra: &mut [Resource]) {
    if specs.is_empty() {
        return;
    }
    for r in ra.iter_mut() {
        walk_containers(&mut r.obj, specs);
        // Image fields `configurations:` adds (custom resources keeping an image elsewhere).
        let (group, kind) = (r.group().to_string(), r.kind().to_string());
        for fs in extra(more, "images")
            .iter()
            .filter(|fs| fs.applies_to(&group, &kind))
        {
            let plain = FieldSpec {
                create: false,
                ..fs.clone()
            };
            plain.visit(&mut r.obj, &mut |node| {
                if let Value::String(image) = node
                    && let Some(new) = specs.iter().find_map(|s| update_image(image, s))
                {
                    *image = new;
                }
            });
        }
    }
}

fn walk_containers(node: &mut Value, specs: &[ImageSpec]) {
    match node {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if matches!(
                    k.as_str(),
                    "containers" | "initContainers" | "ephemeralContainers"
                ) && let Value::Array(list) = v
                {
                    for c in list.iter_mut() {
                        if let Some(Value::String(image)) = c.get_mut("image")
                            && let Some(new) = specs.iter().find_map(|s| update_image(image, s))
                        {
                            *image = new;
                        }
                    }
                    continue;
                }
                walk_containers(v, specs);
            }
        }
        Value::Array(list) => list.iter_mut().for_each(|v| walk_containers(v, specs)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_on_the_last_colon_after_the_registry_port() {
        assert_eq!(split_image("nginx"), ("nginx", None, None));
        assert_eq!(split_image("nginx:1.25"), ("nginx", Some("1.25"), None));
        assert_eq!(
            split_image("reg:5000/team/app:v1@sha256:ab"),
            ("reg:5000/team/app", Some("v1"), Some("sha256:ab"))
        );
        assert_eq!(
            split_image("reg:5000/team/app"),
            ("reg:5000/team/app", None, None)
        );
    }

    #[test]
    fn image_updates_follow_kustomize() {
        let spec = |n: Option<&str>, t: Option<&str>, d: Option<&str>| ImageSpec {
            name: "nginx".into(),
            new_name: n.map(String::from),
            new_tag: t.map(String::from),
            digest: d.map(String::from),
        };
        assert_eq!(
            update_image("nginx:1.0", &spec(None, Some("2.0"), None)).unwrap(),
            "nginx:2.0"
        );
        assert_eq!(
            update_image("nginx:1.0", &spec(Some("reg/nginx"), None, None)).unwrap(),
            "reg/nginx:1.0"
        );
        assert_eq!(
            update_image("nginx:1.0", &spec(None, None, Some("sha256:ff"))).unwrap(),
            "nginx@sha256:ff"
        );
        assert_eq!(
            update_image("nginx@sha256:aa", &spec(None, Some("3"), None)).unwrap(),
            "nginx:3"
        );
        assert_eq!(
            update_image("nginxx:1.0", &spec(None, Some("2.0"), None)),
            None
        );
    }
}
