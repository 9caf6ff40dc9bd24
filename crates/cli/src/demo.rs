//! The demo `driftless up --demo` starts with: a configuration repository (a kustomize base
//! and three environment overlays) and three Applications syncing it into the embedded
//! sandbox cluster, written into the data directory once and kept (edit them and watch).

use std::path::{Path, PathBuf};

use anyhow::Context;

const FILES: &[(&str, &str)] = &[
    (
        "repo/base/kustomization.yaml",
        "resources: [deployment.yaml, service.yaml, configmap.yaml]\nlabels:\n- pairs: {app.kubernetes.io/name: guestbook}\n  includeSelectors: true\n",
    ),
    (
        "repo/base/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: guestbook}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: guestbook\n        image: registry.example.com/guestbook:1.0.0\n        ports: [{containerPort: 8080}]\n        envFrom: [{configMapRef: {name: guestbook}}]\n",
    ),
    (
        "repo/base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: guestbook}\nspec:\n  ports: [{port: 80, targetPort: 8080}]\n",
    ),
    (
        "repo/base/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: guestbook, annotations: {driftless.dev/sync-wave: \"-1\"}}\ndata: {GREETING: hello}\n",
    ),
    (
        "repo/envs/dev/kustomization.yaml",
        "resources: [../../base]\nimages:\n- {name: registry.example.com/guestbook, newTag: 1.1.0}\n",
    ),
    (
        "repo/envs/staging/kustomization.yaml",
        "resources: [../../base]\nreplicas:\n- {name: guestbook, count: 2}\n",
    ),
    (
        "repo/envs/prod/kustomization.yaml",
        "resources: [../../base]\nreplicas:\n- {name: guestbook, count: 3}\n",
    ),
];

const ENVS: &[&str] = &["dev", "staging", "prod"];

/// Writes the demo (unless already there) and returns the directory of its Applications.
pub fn prepare(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let root = data_dir.join("demo");
    for (path, content) in FILES {
        let p = root.join(path);
        if !p.exists() {
            std::fs::create_dir_all(p.parent().expect("demo paths have a parent"))?;
            std::fs::write(&p, content).with_context(|| format!("cannot write {}", p.display()))?;
        }
    }
    let apps = root.join("apps");
    std::fs::create_dir_all(&apps)?;
    let repo = root.join("repo").canonicalize()?;
    for env in ENVS {
        let p = apps.join(format!("guestbook-{env}.yaml"));
        if !p.exists() {
            let app = format!(
                "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: guestbook-{env}}}\nspec:\n  source: {{repoURL: \"{}\", path: envs/{env}}}\n  destination: {{namespace: demo-{env}}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n",
                repo.display()
            );
            std::fs::write(&p, app)?;
        }
    }
    Ok(apps)
}
