//! The GitOps flow as a diagram: a pure function of the live configuration (applications with
//! their status, repositories, clusters, pipelines) to Mermaid flowchart text, grouped by
//! workflow stage as subgraphs — source control (repositories by role), CI (what triggers
//! syncs), CD (the engine's own parts), platform (clusters → stages → applications) — with
//! promotion gates drawn as verification steps, security checks highlighted, one `classDef`
//! per group and live status colours on the applications. Groups with more applications
//! than a threshold are drawn as one node with counts, so 100 applications stay readable.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use driftless_core::pipeline::{Freight, Pipeline};

mod platform;

/// One application as the diagram needs it.
#[derive(Debug, Clone, Default)]
pub struct FlowApp {
    pub name: String,
    /// Source repository URL (credentials already redacted).
    pub repo: String,
    pub cluster: String,
    pub namespace: String,
    pub automated: bool,
    pub self_heal: bool,
    /// Live status ("Synced"/"OutOfSync"..., "Healthy"/"Degraded"...), if known.
    pub sync: Option<String>,
    pub health: Option<String>,
}

/// One repository definition (its URL redacted) and whether it has a webhook secret.
#[derive(Debug, Clone, Default)]
pub struct FlowRepo {
    pub name: String,
    pub url: String,
    pub webhook: bool,
}

/// Everything the diagram is drawn from.
#[derive(Debug, Clone, Default)]
pub struct FlowInput {
    pub apps: Vec<FlowApp>,
    pub repositories: Vec<FlowRepo>,
    pub clusters: Vec<String>,
    pub pipelines: Vec<Pipeline>,
    /// Projects restricting sources, destinations or kinds (the policy gate's limits).
    pub projects: Vec<String>,
    /// How often every application is re-checked without a trigger.
    pub resync_secs: u64,
}

/// What to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Pipeline(String),
    App(String),
}

/// A diagram node a page can link to (`kind`: application, pipeline, cluster, repository).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub id: String,
    pub kind: &'static str,
    pub name: String,
}

/// The Mermaid text and the nodes that stand for something with a page.
#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    pub mermaid: String,
    pub links: Vec<Link>,
}

/// Webhook providers the API receives (`/webhooks/{provider}/{repository}`).
const PROVIDERS: &str = "GitHub · GitLab · Bitbucket · Gitea · generic";

/// A label safe inside Mermaid's double quotes (entity codes, as Mermaid documents); a
/// newline becomes a line break.
fn label(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
        .replace('\r', " ")
        .replace('\n', "<br/>")
}

/// Live status class of an application: the worse of health and sync.
fn status_class(a: &FlowApp) -> &'static str {
    match (a.health.as_deref(), a.sync.as_deref()) {
        (Some("Degraded" | "Missing"), _) => "degraded",
        (Some("Progressing" | "Suspended"), _) => "progressing",
        (_, Some("OutOfSync")) => "outofsync",
        (Some("Healthy"), Some("Synced")) => "healthy",
        _ => "unknown",
    }
}

/// The applications, pipelines in scope.
fn in_scope<'a>(input: &'a FlowInput, scope: &Scope) -> (Vec<&'a FlowApp>, Vec<&'a Pipeline>) {
    match scope {
        Scope::All => (
            input.apps.iter().collect(),
            input.pipelines.iter().collect(),
        ),
        Scope::Pipeline(p) => {
            let ps: Vec<&Pipeline> = input.pipelines.iter().filter(|x| &x.name == p).collect();
            let names: BTreeSet<&String> = ps
                .iter()
                .flat_map(|p| p.stages.iter().flat_map(|s| &s.applications))
                .collect();
            let apps = input.apps.iter().filter(|a| names.contains(&a.name));
            (apps.collect(), ps)
        }
        Scope::App(name) => {
            let apps: Vec<&FlowApp> = input.apps.iter().filter(|a| &a.name == name).collect();
            let ps = input.pipelines.iter().filter(|p| {
                p.stages
                    .iter()
                    .any(|s| s.applications.iter().any(|a| a == name))
            });
            (apps, ps.collect())
        }
    }
}

/// Writes Mermaid lines and keeps the ids (Mermaid ids: letters, digits, underscores).
struct Out {
    text: String,
    /// Edges go after every subgraph: an edge written inside one pulls its nodes into it.
    edges: Vec<String>,
    classes: BTreeMap<&'static str, Vec<String>>,
    links: Vec<Link>,
}

impl Out {
    fn line(&mut self, depth: usize, s: &str) {
        self.text.push_str(&"  ".repeat(depth));
        self.text.push_str(s);
        self.text.push('\n');
    }
    fn edge(&mut self, s: String) {
        self.edges.push(s);
    }
    fn node(
        &mut self,
        depth: usize,
        id: &str,
        shape: (&str, &str),
        text: &str,
        class: &'static str,
    ) {
        self.line(
            depth,
            &format!("{id}{}\"{}\"{}", shape.0, label(text), shape.1),
        );
        self.classes.entry(class).or_default().push(id.to_string());
    }
}

const BOX: (&str, &str) = ("[", "]");
const DB: (&str, &str) = ("[(", ")]");
const HEX: (&str, &str) = ("{{", "}}");
const PILL: (&str, &str) = ("([", "])");

/// The diagram of `scope`; a group holding more than `max_apps` applications is one node.
pub fn flow(input: &FlowInput, scope: &Scope, max_apps: usize) -> Flow {
    let (apps, pipelines) = in_scope(input, scope);
    let mut o = Out {
        text: String::from("flowchart LR\n"),
        edges: Vec::new(),
        classes: BTreeMap::new(),
        links: Vec::new(),
    };
    // Repositories by role: apps render from them; promotions write back to the repos of
    // their target stages' apps (and CI's image-set to the first stage's).
    let mut repos: BTreeMap<&str, (usize, bool)> = BTreeMap::new();
    for a in &apps {
        repos.entry(a.repo.as_str()).or_default().0 += 1;
    }
    let app_repo: BTreeMap<&str, &str> = apps
        .iter()
        .map(|a| (a.name.as_str(), a.repo.as_str()))
        .collect();
    for p in &pipelines {
        for s in &p.stages {
            for a in &s.applications {
                if let Some(r) = app_repo.get(a.as_str()) {
                    repos.entry(r).or_default().1 = true;
                }
            }
        }
    }
    let repo_ids: BTreeMap<&str, String> = repos
        .keys()
        .enumerate()
        .map(|(i, r)| (*r, format!("repo_{i}")))
        .collect();
    source_control(&mut o, input, &repos, &repo_ids);
    ci(&mut o, input, &pipelines, &repos, &repo_ids);
    engine(&mut o, !input.projects.is_empty());
    let stage_ids = platform::platform(&mut o, input, &apps, &pipelines, max_apps, &repo_ids);
    platform::promotions(&mut o, &pipelines, &stage_ids, &app_repo, &repo_ids);
    for e in std::mem::take(&mut o.edges) {
        o.line(1, &e);
    }
    styles(&mut o);
    Flow {
        mermaid: o.text,
        links: o.links,
    }
}

fn source_control(
    o: &mut Out,
    input: &FlowInput,
    repos: &BTreeMap<&str, (usize, bool)>,
    ids: &BTreeMap<&str, String>,
) {
    o.line(1, "subgraph scm[\"Source control\"]");
    o.line(2, "direction TB");
    for (url, (apps, writeback)) in repos {
        let name = input
            .repositories
            .iter()
            .find(|r| url.starts_with(r.url.trim_end_matches('/')))
            .map(|r| format!("{}: ", r.name))
            .unwrap_or_default();
        let role = if *writeback {
            "deployment manifests · write-back target"
        } else {
            "deployment manifests"
        };
        let text = format!("{name}{url}\n{role} · {apps} app(s) render from it");
        o.node(2, &ids[url], DB, &text, "scm");
        o.links.push(Link {
            id: ids[url].clone(),
            kind: "repository",
            name: url.to_string(),
        });
    }
    o.line(1, "end");
}

fn ci(
    o: &mut Out,
    input: &FlowInput,
    pipelines: &[&Pipeline],
    repos: &BTreeMap<&str, (usize, bool)>,
    ids: &BTreeMap<&str, String>,
) {
    o.line(1, "subgraph ci[\"CI: what triggers a sync\"]");
    o.line(2, "direction TB");
    let resync = format!(
        "polling: every repository fetched, every app re-checked every {}s",
        input.resync_secs
    );
    o.node(2, "ci_poll", BOX, &resync, "ci");
    let images: Vec<String> = pipelines
        .iter()
        .flat_map(|p| {
            p.freight.iter().filter_map(|f| match f {
                Freight::Image(i) => Some(i.clone()),
                _ => None,
            })
        })
        .collect();
    if !images.is_empty() {
        let text = format!(
            "image-set from CI: POST /api/v1/images\n{}",
            images.join(", ")
        );
        o.node(2, "ci_image", PILL, &text, "ci");
    }
    let mut hooks = Vec::new();
    for (i, r) in input.repositories.iter().filter(|r| r.webhook).enumerate() {
        let text = format!("webhook {PROVIDERS}\n/webhooks/…/{} · HMAC checked", r.name);
        o.node(2, &format!("ci_hook_{i}"), HEX, &text, "security");
        hooks.push((
            format!("ci_hook_{i}"),
            r.url.trim_end_matches('/').to_string(),
        ));
    }
    o.line(1, "end");
    for url in repos.keys() {
        let hook = hooks.iter().find(|(_, u)| url.starts_with(u.as_str()));
        match hook {
            Some((h, _)) => o.edge(format!("{} -->|push| {h} --> cd_ctrl", ids[url])),
            None => o.edge(format!("{} -.->|poll| ci_poll", ids[url])),
        }
    }
    o.edge("ci_poll -.-> cd_ctrl".to_string());
}

fn engine(o: &mut Out, projects: bool) {
    o.line(1, "subgraph cd[\"CD: Driftless engine\"]");
    o.line(2, "direction TB");
    o.node(2, "cd_ctrl", BOX, "controller · work queue", "cd");
    o.node(2, "cd_cache", BOX, "render cache (by content)", "cd");
    o.node(
        2,
        "cd_rec",
        BOX,
        "reconciler: render → compare → plan → apply",
        "cd",
    );
    o.node(
        2,
        "cd_drift",
        BOX,
        "drift detector (watch-fed live cache)",
        "cd",
    );
    o.node(
        2,
        "cd_secret",
        BOX,
        "secret handling: SOPS decrypt, values masked",
        "security",
    );
    let gate = if projects {
        "policy gate: project limits (sources, destinations, kinds) · trust of Git definitions"
    } else {
        "policy gate: trust of Git definitions · prune guard"
    };
    o.node(2, "cd_policy", HEX, gate, "security");
    o.node(
        2,
        "cd_store",
        DB,
        "state store: history, operations, events, audit",
        "cd",
    );
    o.line(1, "end");
    o.edge("cd_ctrl --> cd_rec".to_string());
    o.edge("cd_rec <--> cd_cache".to_string());
    o.edge("cd_rec --> cd_secret".to_string());
    o.edge("cd_rec --> cd_policy".to_string());
    o.edge("cd_rec --> cd_store".to_string());
    o.edge("cd_drift -->|drift| cd_ctrl".to_string());
}

fn styles(o: &mut Out) {
    let defs = [
        ("scm", "fill:#e8f0fe,stroke:#1a73e8,color:#0b1f44"),
        ("ci", "fill:#fff4e5,stroke:#e37400,color:#3d2000"),
        ("cd", "fill:#e6f4ea,stroke:#188038,color:#0d2e18"),
        ("platform", "fill:#f3e8fd,stroke:#8430ce,color:#2b0a45"),
        (
            "verify",
            "fill:#fffbe6,stroke:#b08800,stroke-width:2px,color:#3b2e00",
        ),
        (
            "security",
            "fill:#fce8e6,stroke:#c5221f,stroke-width:3px,color:#4a0d0c",
        ),
        ("healthy", "fill:#dff5e3,stroke:#1e8e3e,color:#0d2e18"),
        ("outofsync", "fill:#fef7e0,stroke:#f29900,color:#3b2e00"),
        ("progressing", "fill:#e8f0fe,stroke:#4285f4,color:#0b1f44"),
        ("degraded", "fill:#fce8e6,stroke:#d93025,color:#4a0d0c"),
        ("unknown", "fill:#f1f3f4,stroke:#80868b,color:#202124"),
    ];
    for (name, style) in defs {
        o.line(1, &format!("classDef {name} {style}"));
    }
    let groups = [
        ("scm", "scm"),
        ("ci", "ci"),
        ("cd", "cd"),
        ("platform", "platform"),
    ];
    for (sg, class) in groups {
        o.line(1, &format!("class {sg} {class}"));
    }
    let classes = std::mem::take(&mut o.classes);
    for (class, ids) in classes {
        o.line(1, &format!("class {} {class}", ids.join(",")));
    }
}

#[cfg(test)]
mod tests;
