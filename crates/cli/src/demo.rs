//! The demo `driftless up --demo` starts with: a configuration repository (a Git repository:
//! a kustomize base and three environment overlays), three Applications syncing it into the
//! embedded sandbox cluster, a pipeline promoting the guestbook image dev → staging → prod
//! (prod waits for an approval), and two API users besides the admin token — `viewer`
//! (read-only) and `approver` (role `release`), their tokens in `demo/tokens/`. Written into
//! the data directory once and kept: edit, commit and watch; `driftless image set
//! guestbook/dev registry.example.com/guestbook:1.2.0` starts a promotion.

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
        "resources: [../../base]\nimages:\n- name: registry.example.com/guestbook\n  newTag: \"1.1.0\"  # written by `driftless image set` and promotions\n",
    ),
    (
        "repo/envs/staging/kustomization.yaml",
        "resources: [../../base]\nreplicas:\n- {name: guestbook, count: 2}\nimages:\n- name: registry.example.com/guestbook\n  newTag: \"1.1.0\"  # written by `driftless image set` and promotions\n",
    ),
    (
        "repo/envs/prod/kustomization.yaml",
        "resources: [../../base]\nreplicas:\n- {name: guestbook, count: 3}\nimages:\n- name: registry.example.com/guestbook\n  newTag: \"1.1.0\"  # written by `driftless image set` and promotions\n",
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
                "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {{name: guestbook-{env}, labels: {{app: guestbook, env: {env}}}}}\nspec:\n  source: {{repoURL: \"{}\", path: envs/{env}}}\n  destination: {{namespace: demo-{env}}}\n  syncPolicy:\n    automated: {{prune: true, selfHeal: true}}\n    syncOptions: [CreateNamespace=true]\n",
                repo.display()
            );
            std::fs::write(&p, app)?;
        }
    }
    init_git(&root.join("repo"))?;
    let pipeline = apps.join("pipeline.yaml");
    if !pipeline.exists() {
        std::fs::write(&pipeline, PIPELINE)?;
    }
    let users = apps.join("users.yaml");
    if !users.exists() {
        let tokens = root.join("tokens");
        std::fs::create_dir_all(&tokens)?;
        let mut text = String::new();
        for (name, role) in [("viewer", "readonly"), ("approver", "release")] {
            let path = tokens.join(name);
            crate::sandbox_cmd::write_private(&path, &crate::up_cmd::random_token()?)?;
            text.push_str(&format!(
                "---\napiVersion: driftless.dev/v1alpha1\nkind: User\nmetadata: {{name: {name}}}\nspec:\n  token: {{file: \"{}\"}}\n  roles: [{role}]\n",
                path.display()
            ));
        }
        std::fs::write(&users, text)?;
    }
    Ok(apps)
}

const PIPELINE: &str = "apiVersion: driftless.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: guestbook}\nspec:\n  freight: [{image: registry.example.com/guestbook}]\n  stages:\n  - {name: dev, applications: [guestbook-dev]}\n  - {name: staging, applications: [guestbook-staging], autoPromote: true, soak: 5s}\n  - name: prod\n    applications: [guestbook-prod]\n    autoPromote: true\n    approval: {required: 1, role: release, timeout: 24h}\n    onFailure: revert\n";

/// Makes the demo repository a Git repository (once): promotions and image updates are
/// commits, pushed back into it (`updateInstead`: the checked-out files follow).
fn init_git(repo: &Path) -> anyhow::Result<()> {
    if repo.join(".git").exists() {
        return Ok(());
    }
    let git = |args: &[&str]| -> anyhow::Result<()> {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=Driftless",
                "-c",
                "user.email=driftless@localhost",
            ])
            .args(args)
            .current_dir(repo)
            .output()
            .context("cannot run git (the demo's repository is a Git repository; install git)")?;
        anyhow::ensure!(
            out.status.success(),
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    git(&["init", "-q", "-b", "main"])?;
    git(&["config", "receive.denyCurrentBranch", "updateInstead"])?;
    git(&["add", "-A"])?;
    git(&[
        "commit",
        "-q",
        "-m",
        "The guestbook demo: a base and three environments",
    ])
}
