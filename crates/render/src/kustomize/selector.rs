//! Resource selection for `patches[].target` and replacements: group, version, kind, name
//! and namespace as anchored regular expressions (matched against any name the resource
//! has held), label and annotation selectors in Kubernetes syntax.

use driftless_core::selector::LabelSelector;
use regex::Regex;

use super::Resource;
use super::spec::Selector;
use crate::RenderError;

/// A compiled selector.
pub struct Matcher {
    /// group, version and kind: anchored regular expressions too, as kustomize's
    /// `SelectorRegex` compiles them (`kind: Deployment|.*Set`).
    gvk: [Option<Regex>; 3],
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: LabelSelector,
    annotations: LabelSelector,
}

fn anchored(file: &str, field: &str, pattern: &str) -> Result<Regex, RenderError> {
    // Bounded compiled size: a hostile pattern fails instead of eating memory.
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            RenderError::invalid(
                file,
                Some(field.into()),
                format!("invalid regular expression: {e}"),
            )
        })
}

fn parse_selector(file: &str, field: &str, text: &str) -> Result<LabelSelector, RenderError> {
    LabelSelector::parse(text)
        .map_err(|e| RenderError::invalid(file, Some(field.into()), e.to_string()))
}

impl Matcher {
    pub fn new(file: &str, field: &str, sel: &Selector) -> Result<Self, RenderError> {
        let re = |part: &str, v: &Option<String>| {
            v.as_deref()
                .filter(|p| !p.is_empty())
                .map(|p| anchored(file, &format!("{field}.{part}"), p))
                .transpose()
        };
        Ok(Matcher {
            gvk: [
                re("group", &sel.group)?,
                re("version", &sel.version)?,
                re("kind", &sel.kind)?,
            ],
            name: sel
                .name
                .as_deref()
                .map(|p| anchored(file, &format!("{field}.name"), p))
                .transpose()?,
            namespace: sel
                .namespace
                .as_deref()
                .map(|p| anchored(file, &format!("{field}.namespace"), p))
                .transpose()?,
            labels: sel
                .label_selector
                .as_deref()
                .map(|s| parse_selector(file, &format!("{field}.labelSelector"), s))
                .transpose()?
                .unwrap_or_default(),
            annotations: sel
                .annotation_selector
                .as_deref()
                .map(|s| parse_selector(file, &format!("{field}.annotationSelector"), s))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    pub fn matches(&self, r: &Resource) -> bool {
        let [g, v, k] = &self.gvk;
        let ok = |re: &Option<Regex>, have: &str| re.as_ref().is_none_or(|re| re.is_match(have));
        ok(g, r.group())
            && ok(v, r.version())
            && ok(k, r.kind())
            && self
                .name
                .as_ref()
                .is_none_or(|re| r.names.iter().any(|n| re.is_match(n)))
            && self.namespace.as_ref().is_none_or(|re| {
                r.namespaces.iter().any(|n| re.is_match(n)) || re.is_match(r.namespace())
            })
            && self.labels.matches(driftless_core::object::labels(&r.obj))
            && self
                .annotations
                .matches(driftless_core::object::annotations(&r.obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn res(labels: Value) -> Resource {
        Resource::new(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-api", "labels": labels}}),
            "x".into(),
        )
    }

    fn sel(text: &str) -> Matcher {
        Matcher::new(
            "k.yaml",
            "t",
            &Selector {
                label_selector: Some(text.into()),
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn label_selectors_follow_kubernetes_syntax() {
        let r = res(json!({"app": "web", "tier": "api"}));
        assert!(sel("app=web,tier in (api, db)").matches(&r));
        assert!(sel("app==web,!canary").matches(&r));
        assert!(!sel("tier notin (api)").matches(&r));
        assert!(!sel("app!=web").matches(&r));
        assert!(sel("tier").matches(&r));
        assert!(
            Matcher::new(
                "k.yaml",
                "t",
                &Selector {
                    label_selector: Some("a b".into()),
                    ..Default::default()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn names_are_anchored_regexes() {
        let r = res(json!({}));
        let m = |n: &str| {
            Matcher::new(
                "k",
                "t",
                &Selector {
                    name: Some(n.into()),
                    ..Default::default()
                },
            )
            .unwrap()
            .matches(&r)
        };
        assert!(m("web-.*"));
        assert!(!m("web"));
        assert!(m("web-api|other"));
    }
}
