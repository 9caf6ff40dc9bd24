//! Issue 13's defects whose fix lives in core, one regression test each, named after the
//! defect: the trust model's pure checks (1), the stream-wide YAML budget (2), durations (3),
//! names (7) and projects (13).

use driftless_core::app::{Destination, duration, parse_duration};
use driftless_core::clusters::ClusterDefinition;
use driftless_core::project::{self, Project};
use driftless_core::repository::{Repository, SecretValue};
use driftless_core::trust::{self, Context, Origin};
use driftless_core::yaml::{Limits, YamlError, parse_stream};
use driftless_core::{ResourceKey, definitions::Definitions};

fn git(document: &str) -> Origin {
    Origin::Git {
        parent: "root".into(),
        document: document.into(),
    }
}

fn project(yaml_spec: &str) -> Project {
    project::parse(
        &format!("apiVersion: driftless.dev/v1alpha1\nkind: Project\nmetadata: {{name: team-a}}\nspec: {yaml_spec}\n"),
        "ops.yaml",
    )
    .unwrap()
    .remove(0)
}

#[test]
fn defect_01_git_definitions_get_only_what_the_operator_delegated() {
    let delegating = project(
        "{sourceRepos: ['https://git.example.com/team-a/*'], destinations: [{namespace: 'team-a-*'}], childProjects: ['team-a-*'], childKinds: [Repository, Cluster, Project]}",
    );
    let operator_repo = Repository {
        name: "config".into(),
        url: "https://git.example.com/team-a/config.git".into(),
        ..Repository::default()
    };
    let repos = [operator_repo];
    let ctx = Context {
        parent_project: Some(&delegating),
        repositories: &repos,
        ..Context::default()
    };
    let none = Context::default();
    // An exec kubeconfig (and any kubeconfig) from Git is refused, delegated or not.
    let exec = ClusterDefinition {
        name: "evil".into(),
        kubeconfig: Some(SecretValue::Value(
            "users: [{user: {exec: {command: sh}}}]".into(),
        )),
        allow_exec_credentials: true,
        ..ClusterDefinition::default()
    };
    for c in [&ctx, &none] {
        let r = trust::check_cluster(&git("apps/c.yaml#0"), c, &exec).unwrap_err();
        assert!(
            r.document == "apps/c.yaml#0" && (r.field == "spec.kubeconfig" || r.field == "kind"),
            "{r}"
        );
    }
    // {file:} with its own CA for the attacker's host: refused (file first).
    let exfil = Repository {
        name: "exfil".into(),
        url: "https://attacker.example.net/x.git".into(),
        bearer_token: Some(SecretValue::File {
            file: "/var/lib/driftless/api-token".into(),
        }),
        ca: Some("-----BEGIN CERTIFICATE-----".into()),
        ..Repository::default()
    };
    let r = trust::check_repository(&git("apps/r.yaml#1"), &ctx, &exfil).unwrap_err();
    assert_eq!(r.field, "spec.bearerToken", "{r}");
    let inline_ca = Repository {
        bearer_token: Some(SecretValue::Value("t".into())),
        ..exfil.clone()
    };
    let r = trust::check_repository(&git("apps/r.yaml#1"), &ctx, &inline_ca).unwrap_err();
    assert_eq!(r.field, "spec.ca", "{r}");
    // A CA for the host the operator configured is fine; the operator's own is never replaced.
    let ok = Repository {
        name: "more".into(),
        url: "https://git.example.com/team-a/more.git".into(),
        ..inline_ca.clone()
    };
    trust::check_repository(&git("d"), &ctx, &ok).unwrap();
    let shadow = Repository {
        name: "config".into(),
        ..ok.clone()
    };
    assert_eq!(
        trust::check_repository(&git("d"), &ctx, &shadow)
            .unwrap_err()
            .field,
        "metadata.name"
    );
    // Nothing delegated: refused by kind. The operator is trusted with the same definition.
    assert_eq!(
        trust::check_repository(&git("d"), &none, &ok)
            .unwrap_err()
            .field,
        "kind"
    );
    trust::check_repository(&Origin::Operator, &none, &exfil).unwrap();
    // A project from Git cannot widen another team's project, nor exceed its parent's.
    let team_b = Project {
        name: "team-b".into(),
        ..Project::default()
    };
    let projects = [team_b];
    let ctx_p = Context {
        projects: &projects,
        ..ctx.clone()
    };
    let widen = Project {
        name: "team-b".into(),
        source_repos: vec!["*".into()],
        destinations: vec![project::ProjectDestination {
            namespace: "*".into(),
            server: "*".into(),
            name: String::new(),
        }],
        ..Project::default()
    };
    assert_eq!(
        trust::check_project(&git("p"), &ctx_p, &widen)
            .unwrap_err()
            .field,
        "metadata.name"
    );
    let child = Project {
        name: "team-a-dev".into(),
        ..widen.clone()
    };
    let r = trust::check_project(&git("p"), &ctx_p, &child).unwrap_err();
    assert!(r.field.starts_with("spec.sourceRepos"), "{r}");
    let narrow = Project {
        name: "team-a-dev".into(),
        source_repos: vec!["https://git.example.com/team-a/dev.git".into()],
        destinations: vec![project::ProjectDestination {
            namespace: "team-a-dev".into(),
            ..Default::default()
        }],
        ..Project::default()
    };
    trust::check_project(&git("p"), &ctx_p, &narrow).unwrap();
    // Applications: the parent's project or a delegated one only.
    let mut app = driftless_core::app::Application {
        name: "web".into(),
        project: "team-b".into(),
        ..Default::default()
    };
    assert_eq!(
        trust::check_application(&git("a"), &ctx, &app)
            .unwrap_err()
            .field,
        "spec.project"
    );
    app.project = "team-a-dev".into();
    trust::check_application(&git("a"), &ctx, &app).unwrap();
    app.project = String::new(); // `default` allows everything: not delegated here
    assert!(trust::check_application(&git("a"), &ctx, &app).is_err());
}

#[test]
fn defect_02_many_small_anchor_bombs_share_one_budget() {
    // The 47 KB file of the report: ~230 documents, each a bomb of 10^5 scalars (each under
    // the old per-document limit of 250,000 nodes; together 23 million).
    let mut doc = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for (prev, c) in "abcd".chars().zip("bcde".chars()) {
        doc.push_str(&format!(
            "{c}: &{c} [{}]\n",
            vec![format!("*{prev}"); 10].join(",")
        ));
    }
    let text: String = std::iter::repeat_n(format!("---\n{doc}"), 230).collect();
    assert!((40_000..60_000).contains(&text.len()), "{}", text.len());
    let started = std::time::Instant::now();
    let err = parse_stream(&text, &Limits::default()).unwrap_err();
    assert!(matches!(err, YamlError::Budget { .. }), "{err}");
    assert!(err.to_string().contains("budget"), "{err}");
    assert!(started.elapsed().as_secs() < 30);
    // A render or request shares one budget across its streams too.
    let one = format!("---\n{doc}");
    let budget = driftless_core::yaml::Budget {
        nodes: 300_000,
        ..driftless_core::yaml::Budget::for_task()
    };
    let (results, _) = driftless_core::yaml::scoped(budget, || {
        (0..5)
            .map(|_| parse_stream(&one, &Limits::default()).is_ok())
            .collect::<Vec<_>>()
    });
    assert_eq!(results, [true, true, false, false, false]);
}

#[test]
fn defect_03_huge_durations_are_errors_not_panics() {
    for bad in [
        "99999999999999999999h",
        "1e400s",
        "18446744073709551616s",
        "1000000000h",
        "-5s",
        "5",
        "h",
        "1..5s",
        ".s",
        "",
        "1h-5m",
    ] {
        assert!(duration(bad).is_err(), "{bad}");
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
    assert_eq!(duration("1.5h").unwrap().as_secs(), 5400);
    assert_eq!(duration("1h30m15s").unwrap().as_secs(), 5415);
    assert_eq!(duration("0").unwrap().as_secs(), 0);
    assert_eq!(duration("87600h").unwrap().as_secs(), 87_600 * 3600);
    assert!(duration("87601h").unwrap_err().contains("longer than"));
}

#[test]
fn defect_07_names_are_kubernetes_names_for_every_kind() {
    let long = "a".repeat(100_000);
    let docs = |name: &str| {
        let name = serde_json::to_string(name).unwrap();
        [
            format!(
                "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\nspec: {{source: {{repoURL: r, path: x}}, destination: {{}}}}\n"
            ),
            format!(
                "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {{name: {name}}}\nspec: {{}}\n"
            ),
            format!(
                "apiVersion: driftless.dev/v1alpha1\nkind: Repository\nmetadata: {{name: {name}}}\nspec: {{url: 'https://x/y.git'}}\n"
            ),
            format!(
                "apiVersion: driftless.dev/v1alpha1\nkind: Cluster\nmetadata: {{name: {name}}}\nspec: {{server: 'https://k', bearerToken: t}}\n"
            ),
            format!(
                "apiVersion: driftless.dev/v1alpha1\nkind: User\nmetadata: {{name: {name}}}\nspec: {{token: t, roles: [admin]}}\n"
            ),
            format!(
                "apiVersion: driftless.dev/v1alpha1\nkind: Pipeline\nmetadata: {{name: {name}}}\nspec: {{}}\n"
            ),
        ]
    };
    for bad in ["", long.as_str(), "a:b", "Web", "a/b"] {
        for (i, doc) in docs(bad).iter().enumerate() {
            let mut d = Definitions::default();
            d.add_file(doc, "defs.yaml");
            assert_eq!(d.errors.len(), 1, "{i} {bad:.20}: {:?}", d.errors);
            let e = &d.errors[0];
            assert!(
                e.contains("not a valid name (DNS-1123 subdomain)")
                    || e.contains("without")
                    || e.contains("missing"),
                "{i}: {e:.300}"
            );
            assert!(e.len() < 400, "the error does not echo 100,000 characters");
        }
    }
}

#[test]
fn defect_13_project_destinations_cover_the_cluster_and_argo_fields_are_enforced_or_refused() {
    let p = project(
        "{sourceRepos: ['*'], destinations: [{namespace: 'team-a', server: 'https://prod.example.com'}], clusterResourceWhitelist: [{group: '*', kind: '*'}], clusterResourceBlacklist: [{group: '', kind: Namespace}], namespaceResourceWhitelist: [{group: apps, kind: Deployment}]}",
    );
    let dest = |server: &str, name: &str| Destination {
        namespace: "team-a".into(),
        server: server.into(),
        name: name.into(),
        ..Default::default()
    };
    let deploy = [ResourceKey::new("apps", "Deployment", "team-a", "web")];
    assert!(
        p.violations("r", &dest("https://prod.example.com", ""), None, &deploy)
            .is_empty()
    );
    let other = p.violations("r", &dest("https://other.example.com", ""), None, &deploy);
    assert!(
        other
            .iter()
            .any(|v| v.contains("destination cluster https://other.example.com")),
        "{other:?}"
    );
    let by_name = p.violations(
        "r",
        &dest("", "staging"),
        Some("https://staging.example.com"),
        &deploy,
    );
    assert!(!by_name.is_empty());
    assert!(
        p.violations(
            "r",
            &dest("", "prod"),
            Some("https://prod.example.com/"),
            &deploy
        )
        .is_empty()
    );
    let own = p.violations("r", &dest("", ""), None, &deploy);
    assert!(own.iter().any(|v| v.contains("in-cluster")), "{own:?}");
    let kinds = p.violations(
        "r",
        &dest("https://prod.example.com", ""),
        None,
        &[
            ResourceKey::new("", "Namespace", "", "x"),
            ResourceKey::new("", "ConfigMap", "team-a", "c"),
        ],
    );
    assert!(
        kinds[0].contains("clusterResourceBlacklist")
            && kinds[1].contains("namespaceResourceWhitelist"),
        "{kinds:?}"
    );
    for field in [
        "roles",
        "syncWindows",
        "orphanedResources",
        "sourceNamespaces",
        "destinationServiceAccounts",
    ] {
        let e = project::parse(
            &format!("apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {{name: x}}\nspec: {{{field}: []}}\n"),
            "p.yaml",
        )
        .unwrap_err();
        assert!(e.contains(&format!("spec.{field} is not supported")), "{e}");
    }
}
