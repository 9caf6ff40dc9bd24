//! The platform part of the flow diagram: every cluster with the stages (and, outside any
//! stage, namespaces) it hosts and their applications — aggregated beyond a threshold — and
//! the promotion edges between stages through their gates.

use std::collections::{BTreeMap, BTreeSet};

use driftless_core::pipeline::{Freight, Pipeline};

use super::{BOX, FlowApp, FlowInput, HEX, Link, Out, label, status_class};

/// A cluster's applications by group: (pipeline, stage) or, outside any stage, namespace.
type Groups<'a> = BTreeMap<(Option<(String, String)>, String), Vec<&'a FlowApp>>;

/// Clusters → stages → applications; returns the Mermaid ids of each (pipeline, stage): one
/// per cluster hosting it (a DR mirror hosts prod too).
pub(super) fn platform(
    o: &mut Out,
    input: &FlowInput,
    apps: &[&FlowApp],
    pipelines: &[&Pipeline],
    max_apps: usize,
    repo_ids: &BTreeMap<&str, String>,
) -> BTreeMap<(String, String), Vec<String>> {
    let stage_of: BTreeMap<&str, (String, String)> = pipelines
        .iter()
        .flat_map(|p| {
            p.stages.iter().flat_map(move |s| {
                s.applications
                    .iter()
                    .map(move |a| (a.as_str(), (p.name.clone(), s.name.clone())))
            })
        })
        .collect();
    // cluster → group (a stage, or the namespace for apps in no stage) → apps.
    let mut clusters: BTreeMap<&str, Groups> = BTreeMap::new();
    for c in &input.clusters {
        if apps.iter().any(|a| &a.cluster == c) || apps.len() == input.apps.len() {
            clusters.entry(c.as_str()).or_default();
        }
    }
    for a in apps {
        let stage = stage_of.get(a.name.as_str()).cloned();
        let ns = if stage.is_some() {
            String::new()
        } else {
            a.namespace.clone()
        };
        clusters
            .entry(a.cluster.as_str())
            .or_default()
            .entry((stage, ns))
            .or_default()
            .push(a);
    }
    let mut stage_ids = BTreeMap::new();
    let mut app_nodes: Vec<(String, &str)> = Vec::new();
    o.line(
        1,
        "subgraph platform[\"Platform: clusters and the stages they host\"]",
    );
    for (ci, (cluster, groups)) in clusters.iter().enumerate() {
        let cid = format!("cl_{ci}");
        o.line(
            2,
            &format!("subgraph {cid}[\"cluster {}\"]", label(cluster)),
        );
        o.links.push(Link {
            id: cid.clone(),
            kind: "cluster",
            name: cluster.to_string(),
        });
        if groups.is_empty() {
            o.node(3, &format!("{cid}_idle"), BOX, "no applications", "unknown");
        }
        for (gi, ((stage, ns), members)) in groups.iter().enumerate() {
            let gid = format!("{cid}_g{gi}");
            let title = match stage {
                Some((p, s)) => format!("stage {s} · pipeline {p}"),
                None if ns.is_empty() => "cluster-scoped".to_string(),
                None => format!("namespace {ns}"),
            };
            o.line(3, &format!("subgraph {gid}[\"{}\"]", label(&title)));
            if let Some(key) = stage {
                stage_ids
                    .entry(key.clone())
                    .or_insert_with(Vec::new)
                    .push(gid.clone());
                o.links.push(Link {
                    id: gid.clone(),
                    kind: "pipeline",
                    name: key.0.clone(),
                });
            }
            draw_group(o, &gid, members, max_apps, &mut app_nodes);
            o.line(3, "end");
        }
        o.line(2, "end");
        o.edge(format!("cd_policy -->|apply| {cid}"));
        o.edge(format!("{cid} -.->|watch| cd_drift"));
    }
    o.line(1, "end");
    for (id, repo) in app_nodes {
        if let Some(r) = repo_ids.get(repo) {
            o.edge(format!("{r} -.->|renders| {id}"));
        }
    }
    stage_ids
}

/// Promotion edges between stages, each through its gate (a verification step).
pub(super) fn promotions(
    o: &mut Out,
    pipelines: &[&Pipeline],
    stage_ids: &BTreeMap<(String, String), Vec<String>>,
    app_repo: &BTreeMap<&str, &str>,
    repo_ids: &BTreeMap<&str, String>,
) {
    let mut gate_n = 0;
    for p in pipelines {
        let what: Vec<String> = p.freight.iter().map(Freight::label).collect();
        for (si, s) in p.stages.iter().enumerate() {
            let Some(to) = stage_ids.get(&(p.name.clone(), s.name.clone())) else {
                continue;
            };
            let target_repos: BTreeSet<&String> = s
                .applications
                .iter()
                .filter_map(|a| app_repo.get(a.as_str()))
                .filter_map(|r| repo_ids.get(r))
                .collect();
            let Some(src) = p.source_of(&s.name) else {
                if si == 0 && p.freight.iter().any(|f| matches!(f, Freight::Image(_))) {
                    for r in &target_repos {
                        o.edge(format!("ci_image -->|write-back commit| {r}"));
                    }
                }
                continue;
            };
            let Some(from) = stage_ids
                .get(&(p.name.clone(), src.name.clone()))
                .and_then(|f| f.first())
            else {
                continue;
            };
            let mut gates = vec!["health".to_string()];
            if let Some(soak) = &s.soak {
                gates.push(format!("soak {soak}"));
            }
            if !s.windows.is_empty() {
                let w: Vec<String> = s
                    .windows
                    .iter()
                    .map(|w| format!("{} {}–{}", w.days.join(","), w.from, w.to))
                    .collect();
                gates.push(format!("window {}", w.join("; ")));
            }
            if let Some(a) = &s.approval {
                gates.push(format!(
                    "approval ×{}{}",
                    a.required,
                    a.role
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ));
            }
            if s.verification.is_some() {
                gates.push("verification".into());
            }
            let mode = if s.auto_promote {
                "auto-promote"
            } else {
                "promote on request"
            };
            let gid = format!("gate_{gate_n}");
            gate_n += 1;
            let text = format!(
                "{} → {}: {mode}\ngates: {}\nmoves: {}",
                src.name,
                s.name,
                gates.join(" · "),
                what.join(", ")
            );
            o.node(1, &gid, HEX, &text, "verify");
            o.edge(format!("{from} ==> {gid}"));
            for t in to {
                o.edge(format!("{gid} ==>|promote| {t}"));
            }
            for r in &target_repos {
                o.edge(format!("{gid} -.->|write-back commit| {r}"));
            }
        }
    }
}

/// One group's applications: each its own node, or one node with counts beyond `max_apps`.
/// Pushes (node id, repository) for the `renders` edges.
fn draw_group<'a>(
    o: &mut Out,
    gid: &str,
    members: &[&'a FlowApp],
    max_apps: usize,
    app_nodes: &mut Vec<(String, &'a str)>,
) {
    if members.len() > max_apps {
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for a in members {
            *counts.entry(status_class(a)).or_default() += 1;
        }
        let worst = ["degraded", "progressing", "outofsync", "unknown", "healthy"]
            .into_iter()
            .find(|c| counts.contains_key(c))
            .unwrap_or("unknown");
        let summary: Vec<String> = counts.iter().map(|(c, n)| format!("{n} {c}")).collect();
        let text = format!("{} applications\n{}", members.len(), summary.join(" · "));
        o.node(4, &format!("{gid}_all"), BOX, &text, worst);
        for repo in members
            .iter()
            .map(|a| a.repo.as_str())
            .collect::<BTreeSet<_>>()
        {
            app_nodes.push((format!("{gid}_all"), repo));
        }
    } else {
        for (ai, a) in members.iter().enumerate() {
            let id = format!("{gid}_a{ai}");
            let auto = match (a.automated, a.self_heal) {
                (true, true) => "auto-sync · self-heal",
                (true, false) => "auto-sync",
                _ => "manual sync",
            };
            let status = [a.sync.as_deref(), a.health.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
            let text = format!("{}\n{} · {auto}\n{status}", a.name, a.namespace);
            o.node(4, &id, BOX, &text, status_class(a));
            o.links.push(Link {
                id: id.clone(),
                kind: "application",
                name: a.name.clone(),
            });
            app_nodes.push((id, a.repo.as_str()));
        }
    }
}
