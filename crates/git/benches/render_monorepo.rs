//! Render benchmark over a generated monorepo: 1,000 apps, each a kustomize overlay of one
//! shared base (10 resources) with a patch, an image override and a configMapGenerator.
//! Rendered from a real Git commit through the mirror, as the engine does.
//!
//! Reports: cold render of every app (empty cache), warm render (every app a cache hit), and
//! a full pass after a commit that touches one app. Run: `cargo bench -p driftless-git --bench render_monorepo`.

use std::time::{Duration, Instant};

use driftless_git::{Credentials, FetchOptions, Mirror, UrlPolicy};
use driftless_render::cache::{CacheOutcome, RenderCache};
use driftless_render::{RenderLimits, RendererSpec};
use driftless_testkit::repo::TestRepo;

const APPS: usize = 1_000;

const BASE: &[(&str, &str)] = &[
    (
        "kustomization.yaml",
        "resources:\n- deployment.yaml\n- service.yaml\n- serviceaccount.yaml\n- role.yaml\n- rolebinding.yaml\n- hpa.yaml\n- pdb.yaml\n- ingress.yaml\n- networkpolicy.yaml\nconfigMapGenerator:\n- name: settings\n  literals: [MODE=base]\n",
    ),
    (
        "deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      serviceAccountName: web\n      containers:\n      - name: web\n        image: registry.example.com/web:1.0.0\n        ports: [{containerPort: 8080}]\n        envFrom: [{configMapRef: {name: settings}}]\n        resources: {requests: {cpu: 100m, memory: 128Mi}}\n",
    ),
    (
        "service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n",
    ),
    (
        "serviceaccount.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web}\n",
    ),
    (
        "role.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: web}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get, list]\n",
    ),
    (
        "rolebinding.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: web}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: web}\nsubjects: [{kind: ServiceAccount, name: web}]\n",
    ),
    (
        "hpa.yaml",
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 2\n  maxReplicas: 10\n",
    ),
    (
        "pdb.yaml",
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels: {app: web}\n",
    ),
    (
        "ingress.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - host: web.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend: {service: {name: web, port: {number: 80}}}\n",
    ),
    (
        "networkpolicy.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web}\nspec:\n  podSelector:\n    matchLabels: {app: web}\n  policyTypes: [Ingress]\n",
    ),
];

fn overlay(i: usize) -> [(String, String); 2] {
    [
        (
            format!("apps/app{i:04}/kustomization.yaml"),
            format!(
                "resources: [../../base]\nnamespace: team{}\nnamePrefix: app{i:04}-\nlabels:\n- pairs: {{app.kubernetes.io/instance: app{i:04}}}\nimages:\n- name: registry.example.com/web\n  newTag: \"1.{i}.0\"\npatches:\n- path: replicas.yaml\nconfigMapGenerator:\n- name: settings\n  behavior: merge\n  literals: [INSTANCE=app{i:04}]\n",
                i % 20
            ),
        ),
        (
            format!("apps/app{i:04}/replicas.yaml"),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: {}\n",
                2 + i % 5
            ),
        ),
    ]
}

fn pass(cache: &RenderCache, mirror: &Mirror) -> (Duration, usize, usize) {
    let tree = mirror.tree_at(&mirror.resolve("main").unwrap()).unwrap();
    let start = Instant::now();
    let results: Vec<(CacheOutcome, usize)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let tree = &tree;
                s.spawn(move || {
                    (0..APPS)
                        .filter(|i| i % 2 == w)
                        .map(|i| {
                            let (out, o) = cache
                                .render(
                                    &format!("app{i:04}"),
                                    tree,
                                    &format!("apps/app{i:04}"),
                                    &RendererSpec::Auto,
                                    &RenderLimits::default(),
                                )
                                .unwrap();
                            (o, out.set.len())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let elapsed = start.elapsed();
    let misses = results
        .iter()
        .filter(|(o, _)| *o == CacheOutcome::Miss)
        .count();
    let objects = results.iter().map(|(_, n)| n).sum();
    (elapsed, misses, objects)
}

fn main() {
    let repo = TestRepo::new("mono");
    let mut files: Vec<(String, String)> = BASE
        .iter()
        .map(|(p, c)| (format!("base/{p}"), c.to_string()))
        .collect();
    for i in 0..APPS {
        files.extend(overlay(i));
    }
    let refs: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_str())))
        .collect();
    repo.commit(&refs, "monorepo");
    let data = tempfile::tempdir().unwrap();
    let mirror = Mirror::open(
        data.path(),
        repo.bare.to_str().unwrap(),
        UrlPolicy {
            allow_local: true,
            allow_insecure: false,
        },
    )
    .unwrap();
    mirror
        .fetch(&Credentials::None, &FetchOptions::default())
        .unwrap();

    let cache = RenderCache::new();
    let (cold, misses, objects) = pass(&cache, &mirror);
    assert_eq!(misses, APPS);
    let mut warm_runs: Vec<Duration> = (0..5)
        .map(|_| pass(&cache, &mirror))
        .map(|(d, m, _)| {
            assert_eq!(m, 0);
            d
        })
        .collect();
    warm_runs.sort();

    let old = mirror.tree_at(&mirror.resolve("main").unwrap()).unwrap();
    let (p, c) = &overlay(7)[1];
    repo.commit(
        &[(p.as_str(), Some(&c.replace("replicas:", "replicas: 9 #")))],
        "touch one app",
    );
    mirror
        .fetch(&Credentials::None, &FetchOptions::default())
        .unwrap();
    // What the engine does on a new commit: diff the trees, re-render the apps whose inputs
    // changed. Timed from the new commit's tree to the re-rendered set.
    let start = Instant::now();
    let new = mirror.tree_at(&mirror.resolve("main").unwrap()).unwrap();
    let changed = new.changed_paths(&old).unwrap();
    let affected = cache.affected_by(&changed);
    for app in &affected {
        let (_, o) = cache
            .render(
                app,
                &new,
                &format!("apps/{app}"),
                &RendererSpec::Auto,
                &RenderLimits::default(),
            )
            .unwrap();
        assert_eq!(o, CacheOutcome::Miss);
    }
    let one = start.elapsed();
    assert_eq!(
        affected,
        vec!["app0007".to_string()],
        "only the touched app re-renders"
    );
    // And a full pass over every app at the new commit (what a periodic resync costs).
    let (full, misses, _) = pass(&cache, &mirror);
    assert_eq!(misses, 0);

    println!("render_monorepo: {APPS} apps, {objects} objects");
    println!(
        "  cold render, all apps      : {:>8.1} ms (target <= 2000 ms)",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "  warm render (all hits)     : {:>8.1} ms median of 5 (target <= 50 ms)",
        warm_runs[2].as_secs_f64() * 1e3
    );
    println!(
        "  one-app commit: diff + re-render affected : {:>8.1} ms (target <= 20 ms)",
        one.as_secs_f64() * 1e3
    );
    println!(
        "  full pass at the new commit (all hits)     : {:>8.1} ms",
        full.as_secs_f64() * 1e3
    );
}
