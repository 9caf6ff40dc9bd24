//! Who wants to hear about an application: subscriptions from annotations on the application
//! and its project (`notifications.argoproj.io/subscribe.<trigger>.<service>: a;b`, or
//! `subscribe.<service>` for the default triggers) and the configuration's default
//! subscriptions with their label selectors.

use std::collections::BTreeMap;

/// Annotation prefixes read: Argo CD's, and Driftless's own spelling of the same.
pub const PREFIXES: [&str; 2] = [
    "notifications.argoproj.io/subscribe.",
    "notifications.driftless.dev/subscribe.",
];

/// One subscription: a trigger (None: the default triggers) delivered to recipients of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub trigger: Option<String>,
    pub service: String,
    pub recipients: Vec<String>,
    /// Where it came from, for error messages (`annotation <key>`, `subscriptions[0]`).
    pub origin: String,
}

/// Reads subscriptions from annotations.
pub fn from_annotations(annotations: &BTreeMap<String, String>, owner: &str) -> Vec<Subscription> {
    let mut out = Vec::new();
    for (key, value) in annotations {
        let Some(rest) = PREFIXES.iter().find_map(|p| key.strip_prefix(p)) else {
            continue;
        };
        // Trigger names have no dots; service names neither: `<trigger>.<service>` or `<service>`.
        let (trigger, service) = match rest.split_once('.') {
            Some((t, s)) => (Some(t.to_owned()), s.to_owned()),
            None => (None, rest.to_owned()),
        };
        let recipients: Vec<String> = value
            .split([';', ','])
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        if service.is_empty() || recipients.is_empty() {
            continue;
        }
        out.push(Subscription {
            trigger,
            service,
            recipients,
            origin: format!("{owner} annotation {key}"),
        });
    }
    out
}

/// A Kubernetes equality-based label selector: `a=b,c!=d,e` (`e`: the label exists, `!e`: not).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector(Vec<Requirement>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

impl Selector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let req = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::Absent(k.trim().into())
            } else if part.contains([' ', '(']) {
                return Err(format!(
                    "selector `{text}`: set-based requirements (`in`, `notin`) are not supported"
                ));
            } else {
                Requirement::Exists(part.into())
            };
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::Absent(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_with_and_without_trigger() {
        let ann: BTreeMap<String, String> = [
            (
                "notifications.argoproj.io/subscribe.on-sync-succeeded.slack",
                "chan1; chan2",
            ),
            (
                "notifications.argoproj.io/subscribe.gmail",
                "ops@example.com",
            ),
            ("argocd.argoproj.io/sync-wave", "1"),
            ("notifications.argoproj.io/subscribe.on-deployed.teams", " "),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let subs = from_annotations(&ann, "app shop");
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[0].trigger, None);
        assert_eq!(subs[0].service, "gmail");
        assert_eq!(subs[1].trigger.as_deref(), Some("on-sync-succeeded"));
        assert_eq!(subs[1].recipients, vec!["chan1", "chan2"]);
    }

    #[test]
    fn selectors() {
        let labels: BTreeMap<String, String> = [("env".to_owned(), "prod".to_owned())]
            .into_iter()
            .collect();
        assert!(Selector::parse("env=prod").unwrap().matches(&labels));
        assert!(!Selector::parse("env!=prod").unwrap().matches(&labels));
        assert!(Selector::parse("env,!team").unwrap().matches(&labels));
        assert!(Selector::parse("").unwrap().matches(&labels));
        assert!(Selector::parse("env in (prod)").is_err());
    }
}
