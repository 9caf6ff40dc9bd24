//! Projects: what the applications of a team may use — source repositories, destinations
//! (clusters and namespaces), and which kinds they may create. Driftless's `Project` and Argo
//! CD's `AppProject` share one shape (Argo's field names), with Argo's rules: `*` wildcards;
//! a project that lists no cluster-scoped kinds allows none; a non-empty
//! `namespaceResourceWhitelist` allows only the kinds it lists; blacklists win; the built-in
//! `default` project allows everything. A destination entry that names neither `server` nor
//! `name` allows only the engine's own cluster.
//!
//! Argo CD fields Driftless does not enforce (`roles`, `syncWindows`, `signatureKeys`,
//! `orphanedResources`, `sourceNamespaces`, ...) refuse the whole project with the field
//! named: enforcing part of a project would be more permissive than Argo CD.
//!
//! Two Driftless fields say what an app-of-apps in this project may declare (read only from
//! projects the operator defined, never from Git): `childProjects` (the projects its child
//! Applications may use besides this one) and `childKinds` (`Repository`, `Cluster`,
//! `Project`: the other definitions it may declare). See docs/SECURITY.md.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::Destination;
use crate::clusters::{IN_CLUSTER_NAME, IN_CLUSTER_SERVER};
use crate::wildcard::matches;
use crate::yaml::{Limits, parse_stream};
use crate::{ResourceKey, object};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupKind {
    #[serde(default)]
    pub group: String,
    pub kind: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectDestination {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub source_repos: Vec<String>,
    #[serde(default)]
    pub destinations: Vec<ProjectDestination>,
    #[serde(default)]
    pub cluster_resource_whitelist: Vec<GroupKind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_blacklist: Vec<GroupKind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_resource_whitelist: Vec<GroupKind>,
    #[serde(default)]
    pub namespace_resource_blacklist: Vec<GroupKind>,
    /// Projects (`*` wildcards) the children of an app-of-apps in this project may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub child_projects: Vec<String>,
    /// Definition kinds an app-of-apps in this project may declare besides Applications.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub child_kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The app-of-apps whose source declared this project (None: the operator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// `metadata.annotations`: project-wide notification subscriptions.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Spec fields read by [`from_doc`]; any other refuses the project.
const KNOWN_FIELDS: &[&str] = &[
    "sourceRepos",
    "destinations",
    "clusterResourceWhitelist",
    "clusterResourceBlacklist",
    "namespaceResourceWhitelist",
    "namespaceResourceBlacklist",
    "childProjects",
    "childKinds",
    "description",
];

/// The definition kinds `childKinds` may name.
pub const CHILD_KINDS: &[&str] = &["Repository", "Cluster", "Project"];

impl Project {
    /// Argo CD's `default` project: everything allowed.
    pub fn default_project() -> Project {
        Project {
            name: "default".into(),
            source_repos: vec!["*".into()],
            destinations: vec![ProjectDestination {
                namespace: "*".into(),
                server: "*".into(),
                name: String::new(),
            }],
            cluster_resource_whitelist: vec![GroupKind {
                group: "*".into(),
                kind: "*".into(),
            }],
            ..Project::default()
        }
    }

    /// What in an application's source, destination and objects the project does not allow;
    /// empty when all is allowed. `server` is the API server URL the destination resolved to
    /// (when the application names its cluster by name), if known.
    pub fn violations(
        &self,
        repo_url: &str,
        destination: &Destination,
        server: Option<&str>,
        objects: &[ResourceKey],
    ) -> Vec<String> {
        let p = &self.name;
        let mut out = Vec::new();
        if !self.source_repos.iter().any(|r| matches(r, repo_url)) {
            out.push(format!(
                "project {p} does not allow the source repository {repo_url}"
            ));
        }
        let cluster = ClusterRef::of(destination, server);
        if !self.destinations.iter().any(|d| cluster.allowed_by(d)) {
            out.push(format!(
                "project {p} does not allow the destination cluster {}",
                cluster.shown()
            ));
        }
        let ns_allowed = |ns: &str| {
            self.destinations.iter().any(|d| {
                cluster.allowed_by(d)
                    && matches(
                        if d.namespace.is_empty() {
                            "*"
                        } else {
                            &d.namespace
                        },
                        ns,
                    )
            })
        };
        let ns = destination.namespace.as_str();
        if !ns.is_empty() && !ns_allowed(ns) {
            out.push(format!(
                "project {p} does not allow the destination namespace {ns}"
            ));
        }
        let listed = |list: &[GroupKind], k: &ResourceKey| {
            list.iter()
                .any(|gk| matches(&gk.group, &k.group) && matches(&gk.kind, &k.kind))
        };
        for k in objects {
            if k.namespace.is_empty() {
                if !listed(&self.cluster_resource_whitelist, k) {
                    out.push(format!("project {p} does not allow the cluster-scoped {k}"));
                } else if listed(&self.cluster_resource_blacklist, k) {
                    out.push(format!(
                        "project {p} does not allow {k} (clusterResourceBlacklist)"
                    ));
                }
            } else {
                if listed(&self.namespace_resource_blacklist, k) {
                    out.push(format!(
                        "project {p} does not allow {k} (namespaceResourceBlacklist)"
                    ));
                } else if !self.namespace_resource_whitelist.is_empty()
                    && !listed(&self.namespace_resource_whitelist, k)
                {
                    out.push(format!(
                        "project {p} does not allow {k} (not in namespaceResourceWhitelist)"
                    ));
                }
                if !ns_allowed(&k.namespace) {
                    out.push(format!(
                        "project {p} does not allow {k}: namespace {} is not a destination",
                        k.namespace
                    ));
                }
            }
        }
        out
    }
}

/// The cluster an application deploys to, as a project destination matches it.
struct ClusterRef<'a> {
    server: Option<&'a str>,
    name: Option<&'a str>,
    own: bool,
}

impl<'a> ClusterRef<'a> {
    fn of(d: &'a Destination, resolved: Option<&'a str>) -> Self {
        let server = Some(d.server.trim_end_matches('/'))
            .filter(|s| !s.is_empty())
            .or(resolved.map(|s| s.trim_end_matches('/')));
        let name = Some(d.name.as_str()).filter(|n| !n.is_empty());
        let own = (d.server.is_empty() && d.name.is_empty())
            || server == Some(IN_CLUSTER_SERVER)
            || name == Some(IN_CLUSTER_NAME);
        ClusterRef {
            server: server.or(own.then_some(IN_CLUSTER_SERVER)),
            name: name.or(own.then_some(IN_CLUSTER_NAME)),
            own,
        }
    }

    fn allowed_by(&self, d: &ProjectDestination) -> bool {
        if d.server.is_empty() && d.name.is_empty() {
            return self.own;
        }
        let server = !d.server.is_empty()
            && self
                .server
                .is_some_and(|s| matches(d.server.trim_end_matches('/'), s));
        let name = !d.name.is_empty() && self.name.is_some_and(|n| matches(&d.name, n));
        server || name
    }

    fn shown(&self) -> String {
        match (self.name, self.server) {
            (Some(n), Some(s)) => format!("{n} ({s})"),
            (Some(n), None) => n.to_string(),
            (None, Some(s)) => s.to_string(),
            (None, None) => "(none)".into(),
        }
    }
}

/// Is this document a project (`Project` or Argo CD's `AppProject`)?
pub fn is_definition(v: &Value) -> bool {
    matches!(
        (object::api_version(v), object::kind(v)),
        (Some("driftless.dev/v1alpha1"), Some("Project"))
            | (Some("argoproj.io/v1alpha1"), Some("AppProject"))
    )
}

/// One project document.
pub fn from_doc(v: &Value, origin: &str) -> Result<Project, String> {
    let name = object::name(v).ok_or_else(|| format!("{origin}: project without metadata.name"))?;
    crate::names::validate("project", name).map_err(|e| format!("{origin}: {e}"))?;
    let spec = v.get("spec").cloned().unwrap_or(Value::Null);
    if let Some(fields) = spec.as_object()
        && let Some(k) = fields.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str()))
    {
        return Err(format!(
            "{origin}: project {name}: spec.{k} is not supported by Driftless; the project is refused rather than enforced without it (remove the field, or see docs/SECURITY.md)"
        ));
    }
    let mut p: Project =
        serde_json::from_value(spec).map_err(|e| format!("{origin}: project {name}: {e}"))?;
    if let Some(k) = p
        .child_kinds
        .iter()
        .find(|k| !CHILD_KINDS.contains(&k.as_str()))
    {
        return Err(format!(
            "{origin}: project {name}: spec.childKinds: {k:?} is not one of {}",
            CHILD_KINDS.join(", ")
        ));
    }
    p.name = name.to_string();
    p.parent = None;
    if let Some(a) = v.pointer("/metadata/annotations") {
        p.annotations = serde_json::from_value(crate::app::string_map(a)).unwrap_or_default();
    }
    Ok(p)
}

/// Parses the `Project` / `AppProject` documents of a YAML stream, skipping other kinds.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Project>, String> {
    let docs = parse_stream(text, &Limits::default()).map_err(|e| format!("{origin}: {e}"))?;
    docs.iter()
        .filter(|d| is_definition(&d.value))
        .map(|d| from_doc(&d.value, &format!("{origin}#{}", d.index)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAM: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: team-a, namespace: argocd}
spec:
  sourceRepos: ["https://git.example.com/team-a/*"]
  destinations: [{namespace: "team-a-*", server: "*"}]
  clusterResourceWhitelist: [{group: "", kind: Namespace}]
  namespaceResourceBlacklist: [{group: "", kind: ResourceQuota}]
"#;

    #[test]
    fn argo_projects_restrict_sources_destinations_and_kinds() {
        let p = parse(TEAM, "p.yaml").unwrap().remove(0);
        assert_eq!(p.name, "team-a");
        let dest = |ns: &str| Destination {
            namespace: ns.into(),
            ..Destination::default()
        };
        let ok = p.violations(
            "https://git.example.com/team-a/app.git",
            &dest("team-a-dev"),
            None,
            &[
                ResourceKey::new("", "Namespace", "", "team-a-dev"),
                ResourceKey::new("apps", "Deployment", "team-a-dev", "web"),
            ],
        );
        assert!(ok.is_empty(), "{ok:?}");
        let bad = p.violations(
            "https://git.example.com/team-b/app.git",
            &dest("prod"),
            None,
            &[
                ResourceKey::new("rbac.authorization.k8s.io", "ClusterRole", "", "admin"),
                ResourceKey::new("", "ResourceQuota", "team-a-dev", "q"),
            ],
        );
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert!(
            bad[2].contains("cluster-scoped ClusterRole.rbac.authorization.k8s.io admin"),
            "{bad:?}"
        );
        assert!(
            Project::default_project()
                .violations(
                    "x",
                    &dest("y"),
                    None,
                    &[ResourceKey::new("", "Namespace", "", "n")]
                )
                .is_empty()
        );
    }
}
