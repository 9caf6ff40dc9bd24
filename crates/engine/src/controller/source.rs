//! Sources: an application's repository at its target revision, rendered. Git repositories
//! are mirrored (fetched at most once per poll interval unless a webhook or a user asks);
//! a local directory without a revision is rendered as on disk, its "revision" the content
//! id of the path. Renders go through the render cache, so an unchanged input costs nothing.
//! Everything here blocks (gix, renderers): the controller calls it on the blocking pool.

use crate::error::{EngineError, EngineResult};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftless_core::DesiredSet;
use driftless_core::app::Application;
use driftless_core::source::{SourceTree, Tree};
use driftless_git::{FetchOptions, Mirror, UrlPolicy};
use driftless_render::cache::RenderCache;
use driftless_render::local::LocalTree;
use driftless_render::{RenderLimits, spec_for};

use super::source_guard::{Marks, SourceGuard};

/// A rendered source.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// What was rendered: a commit SHA, or `local:<content id>` for a directory on disk.
    pub revision: String,
    /// The commit the target revision points at now (equals `revision` unless pinned).
    pub head: String,
    /// The objects for the cluster.
    pub set: DesiredSet,
    /// Engine definitions the source declares (an app-of-apps): Applications, Projects,
    /// Repositories. They configure the engine and are never applied to the cluster.
    pub definitions: Vec<driftless_core::desired::DesiredObject>,
    pub warnings: Vec<String>,
    /// The policy gate's verdict, when the repository declares one (see [`super::gate`]).
    pub policy: Option<super::gate::Verdict>,
    /// Seconds spent fetching (None when no fetch was due) and rendering.
    pub fetch_seconds: Option<f64>,
    pub render_seconds: f64,
}

/// A mirrored repository; one lock per repository, so two apps of it never fetch at once.
struct MirrorState {
    mirror: Mirror,
    fetched_at: Option<Instant>,
    /// A push from here (`with_mirror`): fetch before the next render.
    stale: bool,
    /// When the last fetch started (a webhook's mark made before it is settled by it).
    fetch_started: Option<Instant>,
    /// The tree last read, shared by every app on that commit (its directory listings are
    /// memoized, so a fleet on one repository reads each directory once).
    tree: Option<Arc<driftless_git::GitTree>>,
}

type SharedMirror = Arc<Mutex<MirrorState>>;

pub struct Sources {
    data_dir: PathBuf,
    policy: UrlPolicy,
    poll_interval: Duration,
    cache: RenderCache,
    mirrors: Mutex<HashMap<String, SharedMirror>>,
    /// Credentials and URL policy per repository (`repo add`, Repository definitions).
    pub repositories: super::repositories::Repositories,
    /// Compiled policy gates, per repository and revision.
    gates: super::gate::PolicyGates,
    /// Local sources and the engine's own files and API (see [`SourceGuard`]).
    guard: SourceGuard,
    /// Repositories webhooks marked changed.
    marks: Marks,
}

impl Sources {
    pub fn new(data_dir: &Path, policy: UrlPolicy, poll_interval: Duration) -> Self {
        Sources {
            data_dir: data_dir.to_path_buf(),
            policy,
            poll_interval,
            cache: RenderCache::new(),
            mirrors: Mutex::new(HashMap::new()),
            repositories: super::repositories::Repositories::new(data_dir),
            gates: super::gate::PolicyGates::default(),
            guard: SourceGuard::default(),
            marks: Marks::default(),
        }
    }

    /// Refuses sources in the engine's own directories or at its API (`up` sets this).
    pub fn with_guard(mut self, guard: SourceGuard) -> Self {
        self.guard = guard;
        self
    }

    /// May `url` be a source at all? (Local sources need the operator's consent.)
    pub fn admit(&self, url: &str) -> EngineResult<()> {
        self.guard.check(url, self.policy.allow_local)
    }

    /// The engine's data directory (mirrors, keys, cluster kubeconfigs).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Adds or replaces a repository definition. Open mirrors it covers are dropped (the
    /// next fetch reopens them with the new policy and credentials) and marked for a fetch.
    pub fn set_repository(
        &self,
        repo: driftless_core::repository::Repository,
    ) -> EngineResult<Option<driftless_core::repository::Repository>> {
        let covered = repo.clone();
        let old = self.repositories.set(repo)?;
        self.forget_mirrors(&covered);
        if let Some(o) = &old {
            self.forget_mirrors(o);
        }
        Ok(old)
    }

    pub fn remove_repository(&self, name: &str) -> Option<driftless_core::repository::Repository> {
        let old = self.repositories.remove(name);
        if let Some(o) = &old {
            self.forget_mirrors(o);
        }
        old
    }

    fn forget_mirrors(&self, repo: &driftless_core::repository::Repository) {
        self.mirrors.lock().expect("mirrors lock").retain(|url, _| {
            !super::repositories::Repositories::covers(repo, url)
                && !repo.instead_of.iter().any(|p| url.starts_with(p.as_str()))
        });
    }

    /// Marks a repository as changed (a webhook): the next render of any of its apps
    /// fetches it, once.
    pub fn invalidate(&self, url: &str) {
        self.marks.mark(url, None);
    }

    /// A webhook for `url` naming the pushed commit `sha`: one fetch for any number of such
    /// webhooks, none when the mirror has the commit already. Never waits for a fetch.
    pub fn pushed(&self, url: &str, sha: Option<&str>) {
        self.marks.mark(url, sha);
    }

    /// A path to a directory that is not a bare Git repository: rendered as on disk (a work
    /// tree included, so uncommitted edits show). A bare repository is fetched like any remote.
    fn is_local_dir(url: &str) -> bool {
        let p = Path::new(url);
        let bare =
            p.join("HEAD").is_file() && p.join("objects").is_dir() && p.join("refs").is_dir();
        !url.contains("://") && !url.contains('@') && p.is_dir() && !bare
    }

    /// Renders `app` at its target revision, or at `pin` (a rollback) when given; `fetch`
    /// forces a fetch (a user's refresh).
    pub fn render(
        &self,
        app: &Application,
        fetch: bool,
        pin: Option<&str>,
    ) -> EngineResult<Rendered> {
        let spec = spec_for(&app.source).map_err(|e| failed(app, e.to_string()))?;
        let url = &app.source.repo_url;
        self.admit(url).map_err(|e| failed(app, e.to_string()))?;
        let rev = app.source.target_revision.as_str();
        if Self::is_local_dir(url)
            && (rev.is_empty() || rev == "HEAD")
            && !Path::new(url).join(".git").exists()
        {
            if pin.is_some() {
                return Err(failed(
                    app,
                    "its source is a local directory, whose past revisions are not kept; roll back a Git source instead".into(),
                ));
            }
            let tree = LocalTree::new(url).map_err(|e| failed(app, e.to_string()))?;
            let id = Tree::new(&tree)
                .content_id(&app.source.path)
                .map_err(|e| failed(app, e.to_string()))?;
            return self.render_tree(
                app,
                &tree,
                format!("local:{}", &id[..id.len().min(12)]),
                &spec,
            );
        }
        let mirror = self.mirror(url).map_err(|e| failed(app, e.to_string()))?;
        let mut guard = mirror.lock().expect("mirror lock");
        let due = guard
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.poll_interval);
        let started = Instant::now();
        let mut fetched = None;
        // A webhook marked the repository changed: fetch once, whichever app comes first,
        // unless a fetch since or the commits it names settle it.
        let marked = self.marks.wants_fetch(url, guard.fetch_started, |sha| {
            guard.mirror.resolve(sha).is_ok_and(|c| c.starts_with(sha))
        });
        if fetch || due || guard.stale || marked {
            // Secrets are resolved per fetch (a rotated file is picked up), not per render.
            let access = self
                .repositories
                .access(&self.repositories.rewrite(url), self.policy)
                .map_err(|e| failed(app, e.to_string()))?;
            guard.fetch_started = Some(started);
            guard
                .mirror
                .fetch(&access.credentials, &FetchOptions::default())
                .map_err(|e| {
                    failed(
                        app,
                        format!("fetching {}: {e}", driftless_git::url::redact(url)),
                    )
                })?;
            guard.fetched_at = Some(Instant::now());
            guard.stale = false;
            self.marks.fetched(url, started);
            fetched = Some(started.elapsed().as_secs_f64());
        }
        let head = guard
            .mirror
            .resolve(if rev.is_empty() { "HEAD" } else { rev })
            .map_err(|e| failed(app, e.to_string()))?;
        let commit = match pin {
            Some(p) => guard
                .mirror
                .resolve(p)
                .map_err(|e| failed(app, format!("rollback revision {p}: {e}")))?,
            None => head.clone(),
        };
        let tree = match &guard.tree {
            Some(t) if t.commit() == commit => t.clone(),
            _ => {
                let t = Arc::new(
                    guard
                        .mirror
                        .tree_at(&commit)
                        .map_err(|e| failed(app, e.to_string()))?,
                );
                guard.tree = Some(t.clone());
                t
            }
        };
        drop(guard);
        let mut r = self.render_tree(app, tree.as_ref(), commit, &spec)?;
        r.fetch_seconds = fetched;
        r.head = head;
        Ok(r)
    }

    /// The mirror of `url`, opened on first use with its definition's URL policy and CA (a
    /// changed definition drops the handle, see `set_repository`).
    fn mirror(&self, url: &str) -> EngineResult<SharedMirror> {
        if let Some(m) = self.mirrors.lock().expect("mirrors lock").get(url) {
            return Ok(m.clone());
        }
        self.admit(url)?;
        // Fetched from where an `insteadOf` rule sends it (a mirror), kept under its own URL.
        let fetch_url = self.repositories.rewrite(url);
        let access = self.repositories.access(&fetch_url, self.policy)?;
        let mut mirrors = self.mirrors.lock().expect("mirrors lock");
        if let Some(m) = mirrors.get(url) {
            return Ok(m.clone());
        }
        let mut m = Mirror::open(&self.data_dir.join("repos"), &fetch_url, access.policy)?;
        if let Some(ca) = &access.ca_file {
            m = m.with_ca_file(ca);
        }
        let entry = Arc::new(Mutex::new(MirrorState {
            mirror: m,
            fetched_at: None,
            stale: false,
            fetch_started: None,
            tree: None,
        }));
        mirrors.insert(url.to_string(), entry.clone());
        Ok(entry)
    }

    /// Runs `f` on the mirror of `url` with its credentials, holding the mirror's lock (no
    /// fetch runs beside it); the next render fetches again (`f` may have pushed).
    pub(crate) fn with_mirror<T, E: From<EngineError>>(
        &self,
        url: &str,
        f: impl FnOnce(&Mirror, &driftless_git::Credentials) -> Result<T, E>,
    ) -> Result<T, E> {
        let mirror = self.mirror(url)?;
        let access = self
            .repositories
            .access(&self.repositories.rewrite(url), self.policy)?;
        let mut guard = mirror.lock().expect("mirror lock");
        let r = f(&guard.mirror, &access.credentials);
        guard.stale = true;
        r
    }

    /// Runs `f` on the mirror of `url` as it is (no fetch, nothing pushed): reading a
    /// commit a render already fetched.
    pub(crate) fn read_mirror<T, E: From<EngineError>>(
        &self,
        url: &str,
        f: impl FnOnce(&Mirror) -> Result<T, E>,
    ) -> Result<T, E> {
        let mirror = self.mirror(url)?;
        let guard = mirror.lock().expect("mirror lock");
        f(&guard.mirror)
    }

    fn render_tree(
        &self,
        app: &Application,
        tree: &dyn SourceTree,
        revision: String,
        spec: &driftless_render::RendererSpec,
    ) -> EngineResult<Rendered> {
        let started = Instant::now();
        // One YAML budget for the whole render (every file, every base), not per stream.
        let (result, _) =
            driftless_core::yaml::scoped(driftless_core::yaml::Budget::for_task(), || {
                self.cache.render(
                    &app.name,
                    tree,
                    &app.source.path,
                    spec,
                    &RenderLimits::default(),
                )
            });
        let (rendered, _) = result.map_err(|e| EngineError::Source {
            app: app.name.clone(),
            revision: None,
            message: format!("rendering {} at {revision}: {e}", app.source.path),
        })?;
        let mut set = rendered.set.clone();
        let definitions = set.take_where(driftless_core::definitions::is_definition);
        let policy = self
            .gates
            .check(&app.source.repo_url, &revision, tree, &set);
        Ok(Rendered {
            policy,
            head: revision.clone(),
            revision,
            set,
            definitions,
            warnings: rendered.warnings.clone(),
            fetch_seconds: None,
            render_seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// A failure of `app`'s source (its message is the source's own, the application named once).
fn failed(app: &Application, message: String) -> EngineError {
    EngineError::Source {
        app: app.name.clone(),
        revision: None,
        message,
    }
}
