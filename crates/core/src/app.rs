//! Application definitions: Driftless's own (`driftless.dev/v1alpha1`) and Argo CD's
//! (`argoproj.io/v1alpha1`), which share one shape, so an Argo CD `Application` works
//! unchanged. Fields Driftless does not know are reported as warnings naming their path,
//! never silently dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::yaml::{Limits, parse_stream};

type Extra = BTreeMap<String, Value>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub source: AppSource,
    #[serde(default)]
    pub destination: Destination,
    #[serde(default)]
    pub sync_policy: SyncPolicy,
    /// Kept as JSON: the diff crate owns the rule type.
    #[serde(default)]
    pub ignore_differences: Vec<Value>,
    /// Driftless extension: what to do about drift (`heal`, `alert`, `ignore`) and the
    /// impact grade at or below which drift is left alone (`none`, `low`, `medium`, `high`).
    #[serde(default)]
    pub drift: Option<DriftPolicy>,
    /// Deployed revisions kept in the history (Argo CD's `revisionHistoryLimit`; the engine's
    /// default, 10, when unset).
    #[serde(default)]
    pub revision_history_limit: Option<u32>,
    /// The app-of-apps application whose source declares this one (set by the engine;
    /// it prunes the children its source no longer declares).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// `metadata.labels`: what users filter and select applications by (the UI's filters).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `metadata.annotations` (string values): notification subscriptions
    /// (`notifications.argoproj.io/subscribe.<trigger>.<service>`) live here.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Where the definition came from (file and document).
    #[serde(skip)]
    pub origin: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSource {
    #[serde(rename = "repoURL", default)]
    pub repo_url: String,
    #[serde(default)]
    pub target_revision: String,
    #[serde(default)]
    pub path: String,
    pub directory: Option<DirectorySource>,
    pub kustomize: Option<Value>,
    pub plugin: Option<PluginSource>,
    pub helm: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectorySource {
    #[serde(default)]
    pub recurse: bool,
    #[serde(default)]
    pub include: String,
    #[serde(default)]
    pub exclude: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSource {
    #[serde(default)]
    pub name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    #[serde(default)]
    pub namespace: String,
    /// Argo CD's API server URL (`https://kubernetes.default.svc` = in-cluster).
    #[serde(default)]
    pub server: String,
    /// A cluster name (Argo CD's `name`, Driftless's kubeconfig context or `sandbox`).
    #[serde(default)]
    pub name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    pub automated: Option<Automated>,
    /// Driftless extension: when an automated sync of a new revision fails (including
    /// health), go back to the last revision that synced and became healthy.
    #[serde(default)]
    pub rollback_on_failure: bool,
    #[serde(default)]
    pub sync_options: Vec<String>,
    pub retry: Option<Retry>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Automated {
    #[serde(default)]
    pub prune: bool,
    #[serde(default)]
    pub self_heal: bool,
    #[serde(default)]
    pub allow_empty: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftPolicy {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub tolerance: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    #[serde(default)]
    pub limit: i64,
    pub backoff: Option<Backoff>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// Go duration (`5s`, `2m`).
    #[serde(default)]
    pub duration: String,
    #[serde(default)]
    pub factor: Option<i64>,
    #[serde(default)]
    pub max_duration: String,
}

impl Application {
    /// Checks the name and every duration and number of the definition, naming the field;
    /// only this application is refused.
    pub fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        crate::names::validate("application", name)?;
        if let Some(retry) = &self.sync_policy.retry
            && let Some(b) = &retry.backoff
        {
            let field = |f: &str, v: &str| -> Result<Option<std::time::Duration>, String> {
                if v.is_empty() {
                    return Ok(None);
                }
                match duration(v) {
                    Ok(d) if d.is_zero() => Err(format!(
                        "application {name}: spec.syncPolicy.retry.backoff.{f}: must be more than 0"
                    )),
                    Ok(d) => Ok(Some(d)),
                    Err(e) => Err(format!(
                        "application {name}: spec.syncPolicy.retry.backoff.{f}: {e}"
                    )),
                }
            };
            let first = field("duration", &b.duration)?;
            let max = field("maxDuration", &b.max_duration)?;
            if let (Some(first), Some(max)) = (first, max)
                && max < first
            {
                return Err(format!(
                    "application {name}: spec.syncPolicy.retry.backoff.maxDuration is shorter than its duration"
                ));
            }
            if let Some(f) = b.factor
                && !(1..=1000).contains(&f)
            {
                return Err(format!(
                    "application {name}: spec.syncPolicy.retry.backoff.factor {f} must be between 1 and 1000"
                ));
            }
        }
        if let Some(r) = &self.sync_policy.retry
            && r.limit > 1000
        {
            return Err(format!(
                "application {name}: spec.syncPolicy.retry.limit {} is over 1000 (a negative limit retries forever, as in Argo CD)",
                r.limit
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct AppError {
    pub origin: String,
    pub message: String,
}

/// A parsed definition and what in it was not understood.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub app: Application,
    pub warnings: Vec<String>,
}

/// Spec fields known to Argo CD that Driftless accepts and does not use (yet), reported
/// once as ignored rather than as unknown.
const ARGO_SPEC_IGNORED: &[&str] = &["info", "sources"];

/// The string values of a metadata map (Kubernetes allows nothing else; others are dropped
/// rather than refusing an application over an annotation Driftless does not read).
pub fn string_map(v: &Value) -> Value {
    Value::Object(
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v.is_string())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// Parses every Application document of a YAML stream.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Parsed>, AppError> {
    let docs = parse_stream(text, &Limits::default()).map_err(|e| AppError {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    docs.into_iter()
        .map(|d| from_doc(&d.value, &format!("{origin}#{}", d.index)))
        .collect()
}

/// One Application document (Driftless's or Argo CD's).
pub fn from_doc(doc: &Value, origin: &str) -> Result<Parsed, AppError> {
    let err = |message: String| AppError {
        origin: origin.to_string(),
        message,
    };
    let api = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind != "Application" || !matches!(api, "driftless.dev/v1alpha1" | "argoproj.io/v1alpha1") {
        return Err(err(format!(
            "expected kind Application of driftless.dev/v1alpha1 or argoproj.io/v1alpha1, found {kind:?} of {api:?}"
        )));
    }
    let name = crate::object::name(doc).ok_or_else(|| err("metadata.name is missing".into()))?;
    crate::names::validate("application", name).map_err(err)?;
    let spec = doc
        .get("spec")
        .and_then(Value::as_object)
        .ok_or_else(|| err(format!("application {name}: spec is missing")))?;
    let mut warnings = Vec::new();
    let mut fields = spec.clone();
    for f in ARGO_SPEC_IGNORED {
        if fields.remove(*f).is_some() {
            warnings.push(format!(
                "{origin}: application {name}: spec.{f} is not supported yet and is ignored"
            ));
        }
    }
    let known = [
        "project",
        "source",
        "destination",
        "syncPolicy",
        "ignoreDifferences",
        "drift",
        "revisionHistoryLimit",
    ];
    for k in fields.keys().filter(|k| !known.contains(&k.as_str())) {
        warnings.push(format!(
            "{origin}: application {name}: unknown field spec.{k}"
        ));
    }
    fields.retain(|k, _| known.contains(&k.as_str()));
    fields.insert("name".into(), Value::String(name.to_string()));
    if let Some(labels) = doc.pointer("/metadata/labels") {
        let ok = labels
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string));
        if !ok {
            return Err(err(format!(
                "application {name}: metadata.labels must map names to strings"
            )));
        }
        fields.insert("labels".into(), labels.clone());
    }
    if let Some(annotations) = doc.pointer("/metadata/annotations") {
        fields.insert("annotations".into(), string_map(annotations));
    }
    let app: Application = serde_json::from_value(Value::Object(fields))
        .map_err(|e| err(format!("application {name}: {e}")))?;
    if app.source.repo_url.is_empty() {
        return Err(err(format!(
            "application {name}: spec.source.repoURL is missing"
        )));
    }
    app.validate().map_err(err)?;
    let mut report = |path: &str, extra: &Extra| {
        for k in extra.keys() {
            warnings.push(format!(
                "{origin}: application {name}: unknown field spec.{path}.{k}"
            ));
        }
    };
    report("source", &app.source.extra);
    report("destination", &app.destination.extra);
    report("syncPolicy", &app.sync_policy.extra);
    if let Some(a) = &app.sync_policy.automated {
        report("syncPolicy.automated", &a.extra);
    }
    if let Some(d) = &app.source.directory {
        report("source.directory", &d.extra);
    }
    if app.source.helm.is_some() {
        warnings.push(format!("{origin}: application {name}: spec.source.helm is rendered with the helm plugin; its parameters are not passed yet"));
    }
    Ok(Parsed {
        app: Application {
            origin: origin.to_string(),
            ..app
        },
        warnings,
    })
}

pub use crate::duration::{MAX_DURATION, duration, parse_duration};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_metadata() {
        let p = parse("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a, labels: {team: payments, tier: \"1\"}}\nspec: {source: {repoURL: r, path: x}, destination: {}}\n", "a.yaml").unwrap();
        assert_eq!(
            p[0].app.labels.get("team").map(String::as_str),
            Some("payments")
        );
        assert_eq!(p[0].app.labels.get("tier").map(String::as_str), Some("1"));
        let e = parse("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a, labels: {n: 1}}\nspec: {source: {repoURL: r, path: x}, destination: {}}\n", "a.yaml").unwrap_err();
        assert!(e.to_string().contains("metadata.labels"), "{e}");
    }

    const ARGO: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: argocd}
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: HEAD
    path: guestbook
  destination: {server: "https://kubernetes.default.svc", namespace: guestbook}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]
    retry: {limit: 5, backoff: {duration: 5s, factor: 2, maxDuration: 3m}}
  ignoreDifferences:
  - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}
  revisionHistoryLimit: 3
  sourceHydrator: {}
"#;

    #[test]
    fn an_argo_cd_application_maps_field_by_field_and_unknowns_are_reported() {
        let parsed = parse(ARGO, "apps.yaml").unwrap();
        let p = &parsed[0];
        assert_eq!(p.app.name, "guestbook");
        assert_eq!(p.app.source.path, "guestbook");
        assert_eq!(p.app.destination.namespace, "guestbook");
        assert!(p.app.sync_policy.automated.as_ref().unwrap().self_heal);
        assert_eq!(p.app.sync_policy.sync_options, vec!["CreateNamespace=true"]);
        assert_eq!(p.app.ignore_differences.len(), 1);
        assert_eq!(p.app.revision_history_limit, Some(3));
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("unknown field spec.sourceHydrator"))
        );
    }

    #[test]
    fn errors_name_the_file_document_and_field() {
        let err = parse("apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {name: a}\nspec: {source: {path: x}, destination: {}}\n", "a.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.yaml#0: application a: spec.source.repoURL is missing"
        );
        let err = parse("apiVersion: v1\nkind: ConfigMap\n", "b.yaml").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("b.yaml#0: expected kind Application")
        );
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(
            parse_duration("5s"),
            Some(std::time::Duration::from_secs(5))
        );
        assert_eq!(
            parse_duration("1h30m"),
            Some(std::time::Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("250ms"),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(parse_duration("5"), None);
    }
}
