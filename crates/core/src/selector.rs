//! Kubernetes label selectors in their string form (`app=web,tier in (a,b),!canary`), shared by
//! kustomize targets and the sandbox's list and watch filters.

use serde_json::{Map, Value};

/// One term of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<Requirement>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse selector `{0}`")]
pub struct SelectorError(pub String);

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (x,y),f notin (z),!g,h`.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let bad = || SelectorError(text.to_string());
        let mut terms = Vec::new();
        let (mut depth, mut start) = (0i32, 0);
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
        let set = |rest: &str| -> Option<Vec<String>> {
            let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
            Some(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let mut out = Vec::new();
        for t in terms.into_iter().map(str::trim).filter(|t| !t.is_empty()) {
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
        Ok(LabelSelector(out))
    }

    /// Whether a label (or annotation) map satisfies every requirement.
    pub fn matches(&self, map: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| map.and_then(|m| m.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
            Requirement::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_follow_kubernetes_syntax() {
        let labels = json!({"app": "web", "tier": "api"});
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(labels.as_object());
        assert!(m("app=web,tier in (api, db)"));
        assert!(m("app==web,!canary"));
        assert!(!m("tier notin (api)"));
        assert!(!m("app!=web"));
        assert!(m("tier"));
        assert!(m(""));
        assert!(LabelSelector::parse("a b").is_err());
    }
}
