//! Resource selection for `patches[].target` and replacements: group/version/kind exact,
//! name and namespace as anchored regular expressions (matched against any name the resource
//! has held), label and annotation selectors in Kubernetes syntax.

use regex::Regex;
use serde_json::{Map, Value};

use super::Resource;
use super::spec::Selector;
use crate::RenderError;

/// A compiled selector.
pub struct Matcher {
    sel: Selector,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

/// One term of a label selector.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
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

/// Parses `a=b,c!=d,e in (x,y),!f,g`.
fn parse_selector(file: &str, field: &str, text: &str) -> Result<Vec<Requirement>, RenderError> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    let bad = || {
        RenderError::invalid(
            file,
            Some(field.into()),
            format!("cannot parse selector `{text}`"),
        )
    };
    let mut out = Vec::new();
    for t in terms.into_iter().map(str::trim).filter(|t| !t.is_empty()) {
        let set = |rest: &str| -> Option<Vec<String>> {
            let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
            Some(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let req = if let Some(k) = t.strip_prefix('!') {
            Requirement::NotExists(k.trim().to_string())
        } else if let Some((k, v)) = t.split_once("!=") {
            Requirement::NotIn(k.trim().into(), vec![v.trim().into()])
        } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            Requirement::In(k.trim().into(), vec![v.trim().into()])
        } else if let Some((k, rest)) = t.split_once(" notin ") {
            Requirement::NotIn(k.trim().into(), set(rest).ok_or_else(bad)?)
        } else if let Some((k, rest)) = t.split_once(" in ") {
            Requirement::In(k.trim().into(), set(rest).ok_or_else(bad)?)
        } else if t.contains(char::is_whitespace) {
            return Err(bad());
        } else {
            Requirement::Exists(t.to_string())
        };
        out.push(req);
    }
    Ok(out)
}

fn satisfies(reqs: &[Requirement], map: Option<&Map<String, Value>>) -> bool {
    let get = |k: &str| map.and_then(|m| m.get(k)).and_then(Value::as_str);
    reqs.iter().all(|r| match r {
        Requirement::Exists(k) => get(k).is_some(),
        Requirement::NotExists(k) => get(k).is_none(),
        Requirement::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
        Requirement::NotIn(k, vs) => get(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
    })
}

impl Matcher {
    pub fn new(file: &str, field: &str, sel: &Selector) -> Result<Self, RenderError> {
        Ok(Matcher {
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
            sel: sel.clone(),
        })
    }

    pub fn matches(&self, r: &Resource) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.sel.group, r.group())
            && eq(&self.sel.version, r.version())
            && eq(&self.sel.kind, r.kind())
            && self
                .name
                .as_ref()
                .is_none_or(|re| r.names.iter().any(|n| re.is_match(n)))
            && self.namespace.as_ref().is_none_or(|re| {
                r.namespaces.iter().any(|n| re.is_match(n)) || re.is_match(r.namespace())
            })
            && satisfies(&self.labels, driftless_core::object::labels(&r.obj))
            && satisfies(
                &self.annotations,
                driftless_core::object::annotations(&r.obj),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
