//! Who may define what: the trust model of the engine's definitions.
//!
//! A definition carries its [`Origin`]. The operator's (the `--config` directory, the API
//! called by an admin) are trusted. Those an app-of-apps' source declares come from Git,
//! which anyone with commit rights to that repository controls, so they get only what the
//! operator delegated to the parent application's project:
//!
//! - Applications only in the parent's project or a project its `childProjects` lists;
//! - Repositories, Clusters and Projects only when its `childKinds` names the kind, and even
//!   then never a `{file:}`/`{env:}` reference (files and variables of the engine's host),
//!   never a kubeconfig (it can run commands and name files), never `insecure`, never a CA
//!   for a host the operator did not configure, never a definition the operator made (or
//!   another parent declared) replaced;
//! - a Project only when its name is delegated, its grants stay within the parent's project,
//!   and it delegates nothing further;
//! - Users and Pipelines never.
//!
//! Every check is a pure function of (origin, definition, what the operator configured).

use crate::app::Application;
use crate::clusters::ClusterDefinition;
use crate::project::{GroupKind, Project};
use crate::repository::{Repository, SecretValue};
use crate::wildcard::matches;

/// Where a definition came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The operator: config files, the admin API. Trusted.
    Operator,
    /// The rendered source of the app-of-apps `parent`, document `document` (`file#index`).
    Git { parent: String, document: String },
}

/// What the checks need to know about the operator's configuration.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// The parent application's project, as the operator defined it (None: the parent's
    /// project is itself from Git or unknown, which delegates nothing).
    pub parent_project: Option<&'a Project>,
    pub repositories: &'a [Repository],
    pub clusters: &'a [ClusterDefinition],
    pub projects: &'a [Project],
}

/// A definition refused, naming the document and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub document: String,
    pub kind: &'static str,
    pub name: String,
    /// The field at fault (`spec.kubeconfig`, `spec.project`, `kind`).
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} {} from Git refused: {}: {}",
            self.document, self.kind, self.name, self.field, self.reason
        )
    }
}

struct Check<'a> {
    parent: &'a str,
    document: &'a str,
    kind: &'static str,
    name: &'a str,
}

impl Check<'_> {
    fn refuse(&self, field: &str, reason: impl Into<String>) -> Refusal {
        Refusal {
            document: self.document.to_string(),
            kind: self.kind,
            name: self.name.to_string(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    /// The kind must be delegated to the parent's project.
    fn kind_allowed(&self, ctx: &Context) -> Result<(), Refusal> {
        let Some(p) = ctx.parent_project else {
            return Err(self.refuse(
                "kind",
                format!(
                    "application {}'s project is not one the operator defined, so it may declare no {}",
                    self.parent, self.kind
                ),
            ));
        };
        if p.child_kinds.iter().any(|k| k == self.kind) {
            Ok(())
        } else {
            Err(self.refuse(
                "kind",
                format!(
                    "project {} does not allow its applications to declare a {} (spec.childKinds)",
                    p.name, self.kind
                ),
            ))
        }
    }

    /// References to the engine's own files and variables are the operator's alone.
    fn no_reference(&self, field: &str, v: Option<&SecretValue>) -> Result<(), Refusal> {
        match v {
            Some(SecretValue::Env { .. }) => Err(self.refuse(
                field,
                "an {env:} reference reads the engine's environment; only operator definitions may use one",
            )),
            Some(SecretValue::File { .. }) => Err(self.refuse(
                field,
                "a {file:} reference reads the engine's files; only operator definitions may use one",
            )),
            _ => Ok(()),
        }
    }
}

fn owner(parent: Option<&str>, origin: &str) -> String {
    match parent {
        Some(p) => format!("declared by application {p}"),
        None => format!("by the operator, {origin}"),
    }
}

fn origin_parts(origin: &Origin) -> Option<(&str, &str)> {
    match origin {
        Origin::Operator => None,
        Origin::Git { parent, document } => Some((parent, document)),
    }
}

/// May this application be declared from `origin`?
pub fn check_application(origin: &Origin, ctx: &Context, app: &Application) -> Result<(), Refusal> {
    let Some((parent, document)) = origin_parts(origin) else {
        return Ok(());
    };
    let c = Check {
        parent,
        document,
        kind: "Application",
        name: &app.name,
    };
    let project = if app.project.is_empty() {
        "default"
    } else {
        &app.project
    };
    let own = ctx
        .parent_project
        .map(|p| p.name.as_str())
        .unwrap_or("default");
    if project == own {
        return Ok(());
    }
    let delegated = ctx
        .parent_project
        .is_some_and(|p| p.child_projects.iter().any(|pat| matches(pat, project)));
    if delegated {
        Ok(())
    } else {
        Err(c.refuse(
            "spec.project",
            format!(
                "project {project} is neither the parent application's project ({own}) nor one it lists in spec.childProjects"
            ),
        ))
    }
}

/// May this repository be declared from `origin`?
pub fn check_repository(origin: &Origin, ctx: &Context, r: &Repository) -> Result<(), Refusal> {
    let Some((parent, document)) = origin_parts(origin) else {
        return Ok(());
    };
    let c = Check {
        parent,
        document,
        kind: "Repository",
        name: &r.name,
    };
    c.kind_allowed(ctx)?;
    for (field, v) in [
        ("spec.password", &r.password),
        ("spec.bearerToken", &r.bearer_token),
        ("spec.sshPrivateKey", &r.ssh_private_key),
        ("spec.webhookSecret", &r.webhook_secret),
    ] {
        c.no_reference(field, v.as_ref())?;
    }
    if r.insecure {
        return Err(c.refuse(
            "spec.insecure",
            "only operator definitions may allow plain HTTP",
        ));
    }
    if let Some(own) = ctx.repositories.iter().find(|o| o.name == r.name)
        && own.parent.as_deref() != Some(parent)
    {
        return Err(c.refuse(
            "metadata.name",
            format!(
                "repository {} is already defined ({}) and is not replaced",
                own.name,
                owner(own.parent.as_deref(), &own.origin)
            ),
        ));
    }
    if r.ca.is_some() {
        let host = host_of_url(&r.url);
        let configured = ctx
            .repositories
            .iter()
            .any(|o| o.parent.is_none() && host.is_some() && host_of_url(&o.url) == host);
        if !configured {
            return Err(c.refuse(
                "spec.ca",
                format!(
                    "a CA may be given only for a host the operator configured a repository for; {} is not one",
                    host.unwrap_or("(no host)")
                ),
            ));
        }
    }
    Ok(())
}

/// May this cluster be declared from `origin`?
pub fn check_cluster(
    origin: &Origin,
    ctx: &Context,
    def: &ClusterDefinition,
) -> Result<(), Refusal> {
    let Some((parent, document)) = origin_parts(origin) else {
        return Ok(());
    };
    let c = Check {
        parent,
        document,
        kind: "Cluster",
        name: &def.name,
    };
    c.kind_allowed(ctx)?;
    if def.kubeconfig.is_some() {
        return Err(c.refuse(
            "spec.kubeconfig",
            "a kubeconfig can run commands (exec) and read the engine's files; a cluster from Git gives spec.server and spec.bearerToken",
        ));
    }
    if def.allow_exec_credentials {
        return Err(c.refuse(
            "spec.allowExecCredentials",
            "exec credentials run commands on the engine's host",
        ));
    }
    c.no_reference("spec.bearerToken", def.bearer_token.as_ref())?;
    if def.insecure {
        return Err(c.refuse(
            "spec.insecure",
            "only operator definitions may skip TLS verification",
        ));
    }
    if !def.server.starts_with("https://") {
        return Err(c.refuse(
            "spec.server",
            "a cluster from Git must be reached over https://",
        ));
    }
    if let Some(own) = ctx.clusters.iter().find(|o| o.name == def.name)
        && own.parent.as_deref() != Some(parent)
    {
        return Err(c.refuse(
            "metadata.name",
            format!(
                "cluster {} is already defined ({}) and is not replaced",
                own.name,
                owner(own.parent.as_deref(), &own.origin)
            ),
        ));
    }
    if def.ca_data.is_some() {
        let host = host_of_url(&def.server);
        let configured = ctx
            .clusters
            .iter()
            .any(|o| o.parent.is_none() && host.is_some() && host_of_url(&o.server) == host);
        if !configured {
            return Err(c.refuse(
                "spec.caData",
                format!(
                    "a CA may be given only for a server the operator configured; {} is not one",
                    host.unwrap_or("(no host)")
                ),
            ));
        }
    }
    Ok(())
}

/// May this project be declared from `origin`?
pub fn check_project(origin: &Origin, ctx: &Context, p: &Project) -> Result<(), Refusal> {
    let Some((parent, document)) = origin_parts(origin) else {
        return Ok(());
    };
    let c = Check {
        parent,
        document,
        kind: "Project",
        name: &p.name,
    };
    c.kind_allowed(ctx)?;
    let own = ctx.parent_project.expect("kind_allowed checked it");
    if !own.child_projects.iter().any(|pat| matches(pat, &p.name)) || p.name == own.name {
        return Err(c.refuse(
            "metadata.name",
            format!(
                "project {} does not list {} in spec.childProjects",
                own.name, p.name
            ),
        ));
    }
    if let Some(existing) = ctx.projects.iter().find(|e| e.name == p.name)
        && existing.parent.as_deref() != Some(parent)
    {
        return Err(c.refuse(
            "metadata.name",
            format!(
                "project {} is already defined ({}) and is not replaced",
                p.name,
                existing
                    .parent
                    .as_ref()
                    .map_or("by the operator".to_string(), |o| format!(
                        "declared by application {o}"
                    ))
            ),
        ));
    }
    if !p.child_projects.is_empty() || !p.child_kinds.is_empty() {
        return Err(c.refuse(
            "spec.childKinds",
            "a project from Git delegates nothing further (childProjects, childKinds)",
        ));
    }
    within(&c, "spec.sourceRepos", &p.source_repos, &own.source_repos)?;
    for (i, d) in p.destinations.iter().enumerate() {
        let inside = own.destinations.iter().any(|o| {
            let ns = |x: &str| {
                if x.is_empty() {
                    "*".to_string()
                } else {
                    x.to_string()
                }
            };
            let cluster_ok = (o.server.is_empty()
                && o.name.is_empty()
                && d.server.is_empty()
                && d.name.is_empty())
                || (!d.server.is_empty() && !o.server.is_empty() && matches(&o.server, &d.server))
                || (!d.name.is_empty() && !o.name.is_empty() && matches(&o.name, &d.name));
            cluster_ok && matches(&ns(&o.namespace), &ns(&d.namespace))
        });
        if !inside {
            return Err(c.refuse(
                &format!("spec.destinations[{i}]"),
                format!("wider than project {}'s destinations", own.name),
            ));
        }
    }
    kinds_within(
        &c,
        "spec.clusterResourceWhitelist",
        &p.cluster_resource_whitelist,
        &own.cluster_resource_whitelist,
    )?;
    // The parent's restrictions carry over: a child may only add to them.
    for gk in &own.cluster_resource_blacklist {
        if !p.cluster_resource_blacklist.contains(gk) {
            return Err(c.refuse(
                "spec.clusterResourceBlacklist",
                format!(
                    "drops {}/{} that project {} forbids",
                    gk.group, gk.kind, own.name
                ),
            ));
        }
    }
    for gk in &own.namespace_resource_blacklist {
        if !p.namespace_resource_blacklist.contains(gk) {
            return Err(c.refuse(
                "spec.namespaceResourceBlacklist",
                format!(
                    "drops {}/{} that project {} forbids",
                    gk.group, gk.kind, own.name
                ),
            ));
        }
    }
    if !own.namespace_resource_whitelist.is_empty() {
        if p.namespace_resource_whitelist.is_empty() {
            return Err(c.refuse(
                "spec.namespaceResourceWhitelist",
                format!("must stay within project {}'s whitelist", own.name),
            ));
        }
        kinds_within(
            &c,
            "spec.namespaceResourceWhitelist",
            &p.namespace_resource_whitelist,
            &own.namespace_resource_whitelist,
        )?;
    }
    Ok(())
}

/// Every pattern of `child` matches only what some pattern of `parent` matches. A `*`-only
/// glob `q` matching the pattern `p` read literally proves it: each `*` of `p` is then
/// absorbed by a `*` of `q`, which absorbs whatever `p`'s `*` stands for.
fn within(c: &Check, field: &str, child: &[String], parent: &[String]) -> Result<(), Refusal> {
    for (i, pat) in child.iter().enumerate() {
        if !parent.iter().any(|q| matches(q, pat)) {
            return Err(c.refuse(
                &format!("{field}[{i}]"),
                format!("{pat:?} is wider than the parent project allows"),
            ));
        }
    }
    Ok(())
}

fn kinds_within(
    c: &Check,
    field: &str,
    child: &[GroupKind],
    parent: &[GroupKind],
) -> Result<(), Refusal> {
    for (i, gk) in child.iter().enumerate() {
        if !parent
            .iter()
            .any(|q| matches(&q.group, &gk.group) && matches(&q.kind, &gk.kind))
        {
            return Err(c.refuse(
                &format!("{field}[{i}]"),
                format!(
                    "{}/{} is wider than the parent project allows",
                    gk.group, gk.kind
                ),
            ));
        }
    }
    Ok(())
}

/// The host (and port) of a URL, lowercased; `user@host:path` SSH URLs too.
pub fn host_of_url(url: &str) -> Option<&str> {
    let rest = match url.split_once("://") {
        Some((_, r)) => r,
        None => url.split_once(':').map(|(h, _)| h)?,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then_some(host)
}

/// Users and Pipelines from Git are never applied: API users and promotion pipelines are the
/// operator's configuration.
pub fn refuse_kind(origin: &Origin, kind: &'static str, name: &str) -> Option<Refusal> {
    let (parent, document) = origin_parts(origin)?;
    let c = Check {
        parent,
        document,
        kind,
        name,
    };
    Some(c.refuse(
        "kind",
        format!("{kind} definitions are operator configuration and are never taken from Git"),
    ))
}
