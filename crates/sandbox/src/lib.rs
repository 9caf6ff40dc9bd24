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
//! only, over plain HTTP). Validation: scalar types against the schema (500 typed-patch on apply,
//! 400 otherwise) and workload semantics (422 with causes). Simulated status: rollouts after a delay
//! (`:broken` images fail), Jobs, LoadBalancer IPs, PVC binding, CRD Established. Not yet: TLS
//! (needed before any non-loopback bind), persistence (they answer with a clear error or are absent).

mod apply;
mod defaults;
mod fields;
mod meta;
pub mod registry;
mod server;
mod simulate;
mod status;
pub mod store;
mod validate;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use status::ApiError;
pub use store::Store;

/// A running sandbox API server.
pub struct Sandbox {
    pub addr: SocketAddr,
    pub token: String,
    app: Arc<server::App>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Sandbox {
    /// Serves a fresh cluster on `127.0.0.1:port` (0 picks a free port) on the current tokio
    /// runtime, with a random bearer token.
    pub async fn start(port: u16) -> std::io::Result<Self> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        // Plain HTTP on loopback only: clients that do not send the token over HTTP (kubectl)
        // are let in; any request carrying a token must carry the right one.
        let app = Arc::new(server::App {
            store: Mutex::new(Store::new()),
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
                let mut store = app.store.lock().expect("store");
                for _ in 0..16 {
                    if !store.reconcile() {
                        break;
                    }
                }
            }
        });
        Ok(Sandbox {
            addr,
            token,
            app,
            shutdown: Some(tx),
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
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
