//! The Driftless sandbox: an embedded stand-in for a Kubernetes API server, for laptops, demos
//! and tests, modelled on facts recorded from a real v1.36 server (`assets/v1.36`: discovery
//! documents and OpenAPI v2/v3, served as recorded; `shared/k8s/v1.36/transcripts` for the
//! shapes of answers and errors).
//!
//! Built so far: discovery (legacy and aggregated), OpenAPI, `/version`; GET, LIST (label and
//! field selectors, `limit`/`continue`), CREATE (incl. `dryRun=All`, `generateName`), UPDATE
//! with resourceVersion conflicts, PATCH (JSON merge, JSON patch, strategic merge for built-in
//! types, and server-side apply with managedFields, conflicts, force, dry run and pruning of
//! fields an applier stops declaring), DELETE with finalizers,
//! foreground/background/orphan propagation and namespace termination; WATCH with replay from a
//! resourceVersion, bookmarks, `timeoutSeconds` and `410 Gone`; CRDs adding their types; a
//! bearer token (checked whenever sent; anonymous requests accepted because it binds loopback
//! only, over plain HTTP). Validation: scalar types against the schema (500 typed-patch on
//! apply, 400 otherwise), Secret `data` as Go's base64 decodes it, and workload semantics (422
//! with causes). Kubernetes protobuf request bodies (kubectl's) are decoded to JSON. The
//! controllers of a controller manager: Deployments → ReplicaSets → Pods, StatefulSets,
//! DaemonSets, Jobs, EndpointSlices, garbage collection; pods get a kubelet's status and logs;
//! rollouts can be held Progressing. LoadBalancer IPs, PVC binding, CRD Established.
//! Optional durable persistence (`SandboxOptions::data_dir`: journal synced before each
//! answer, snapshots). Not yet: TLS (needed before any non-loopback bind).

mod apply;
mod defaults;
mod durable;
mod fields;
mod gobase64;
mod journal;
mod logs;
mod meta;
mod pods;
mod protobuf;
pub mod registry;
mod server;
mod simulate;
mod status;
pub mod store;
mod validate;
mod watch;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use status::ApiError;
pub use store::{HOLD_ANNOTATION, Store};

/// A rollout hold as `--hold-rollouts` and the [`HOLD_ANNOTATION`] take it: `90s`, `5m`,
/// `1h`, or `forever`/`true` (`Duration::MAX`, until released); `None` for anything else.
pub fn parse_hold(value: &str) -> Option<Duration> {
    pods::hold_duration(value)
}

/// Controller passes per 50 ms tick (see the controller loop in `Sandbox::start_with`).
const PASSES_PER_TICK: usize = 8;

/// A running sandbox API server.
pub struct Sandbox {
    pub addr: SocketAddr,
    pub token: String,
    app: Arc<server::App>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    data_dir: Option<std::path::PathBuf>,
}

/// How to start a sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Keep the cluster in this directory and resume from it; in memory only when `None`.
    /// Durable: every write is journaled and synced to disk before it is answered, so an
    /// acknowledged write survives a crash (see `journal`).
    pub data_dir: Option<std::path::PathBuf>,
}

impl Sandbox {
    /// Serves a fresh in-memory cluster on `127.0.0.1:port` (0 picks a free port).
    pub async fn start(port: u16) -> std::io::Result<Self> {
        Self::start_with(SandboxOptions {
            port,
            ..Default::default()
        })
        .await
    }

    /// Serves a cluster on the current tokio runtime, with a random bearer token, resuming
    /// from `data_dir` when it holds a saved state.
    pub async fn start_with(opts: SandboxOptions) -> std::io::Result<Self> {
        let port = opts.port;
        let (store, journal) = match &opts.data_dir {
            Some(dir) => {
                let (store, j) = durable::open(dir)?;
                (store, Some(j))
            }
            None => (Store::new(), None),
        };
        let token = uuid::Uuid::new_v4().simple().to_string();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        // Plain HTTP on loopback only: clients that do not send the token over HTTP (kubectl)
        // are let in; any request carrying a token must carry the right one.
        let app = Arc::new(server::App {
            store: Mutex::new(store),
            journal: journal.clone(),
            token: Some(token.clone()),
            allow_anonymous: addr.ip().is_loopback(),
        });
        let router = axum::Router::new().fallback({
            let app = app.clone();
            move |method, uri, headers, body| {
                server::handle(app.clone(), method, uri, headers, body)
            }
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            // No Nagle: watch events are small writes that must leave at once, not wait for
            // the client's delayed ACK (a 40 ms stall otherwise).
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        // The cluster's controllers: garbage collection, foreground deletion, namespace
        // termination. A short period keeps Terminating observable, as on a real server.
        let weak = Arc::downgrade(&app);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tick.tick().await;
                let Some(app) = weak.upgrade() else { return };
                // One pass per lock hold, so requests interleave with a long catch-up; and
                // few passes per tick (at most 64 objects looked at each, ~10,000/s), so a
                // burst of API writes keeps the CPU. The real controller-manager is far slower
                // still (client QPS 20 by default): rollouts after a burst just finish later.
                for _ in 0..PASSES_PER_TICK {
                    if !app.store.lock().expect("store").reconcile() {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
        });
        if let (Some(dir), Some(j)) = (opts.data_dir.clone(), journal) {
            durable::spawn_maintenance(Arc::downgrade(&app), dir, j);
        }
        Ok(Sandbox {
            addr,
            token,
            app,
            shutdown: Some(tx),
            data_dir: opts.data_dir,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig that kubectl and kube-rs use unchanged.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: driftless-sandbox\n  cluster:\n    server: {}\ncontexts:\n- name: driftless-sandbox\n  context:\n    cluster: driftless-sandbox\n    user: driftless\n    namespace: default\ncurrent-context: driftless-sandbox\nusers:\n- name: driftless\n  user:\n    token: {}\n",
            self.url(),
            self.token
        )
    }

    /// Direct access to the store (tests, status simulation).
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.app.store.lock().expect("store"))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // A clean stop folds the journal into the snapshot (a crash replays it instead).
        if let (Some(dir), Some(j)) = (&self.data_dir, &self.app.journal)
            && let Err(e) = durable::compact(&self.app, dir, j)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot save the sandbox state");
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
