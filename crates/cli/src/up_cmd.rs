//! `driftless up`: the long-running engine — store, controller, API — against a cluster
//! (kubeconfig, in-cluster, or the embedded sandbox). `--demo` adds a sandbox cluster and
//! three applications, so a newcomer sees Driftless work with nothing installed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use driftless_engine::controller::{Controller, ControllerConfig, SourceGuard, Sources};
use driftless_git::UrlPolicy;
use driftless_health::Assessor;
use driftless_kube::{ClusterSource, KubeCluster, connect};
use driftless_store::Store;

mod membership;

use crate::app_args::ClusterArgs;
use crate::sandbox_cmd::write_private;

#[derive(Args)]
pub struct UpArgs {
    /// Start with an embedded sandbox cluster and three demo applications.
    #[arg(long)]
    demo: bool,
    /// Use the embedded sandbox cluster (implied by --demo).
    #[arg(long)]
    sandbox: bool,
    /// Data directory: store, mirrors, sandbox state, API token (default: $DRIFTLESS_DATA_DIR,
    /// else ~/.driftless).
    #[arg(long, env = "DRIFTLESS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A directory of definitions: Application, Project and Repository YAML files (Driftless
    /// or Argo CD format, Argo CD repository Secrets included).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The store (default: SQLite in the data directory); `postgres://...` for HA.
    #[arg(long, env = "DRIFTLESS_STORE")]
    store: Option<String>,
    /// API address (port 0 picks a free one; in a pod, 0.0.0.0:8080).
    #[arg(long, env = "DRIFTLESS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Applications reconciled (and synced) at once.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Lua health checks laid out like Argo CD's `resource_customizations/<group>/<Kind>/health.lua`
    /// (`HealthCheck` definitions and an `argocd-cm` ConfigMap in --config are read too).
    #[arg(long, value_name = "DIR")]
    resource_customizations: Option<PathBuf>,
    /// Let applications read local paths, file:// URLs and repositories on loopback hosts
    /// (implied by --demo). Never the data directory or this engine's own API.
    #[arg(long)]
    allow_local_sources: bool,
    /// Define applications, projects and pipelines by custom resources in --namespace
    /// (`kubectl apply`), their status written back; on by default with --in-cluster.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    watch_crds: Option<bool>,
    /// The engine's namespace, whose custom resources are watched (default: the pod's, from
    /// POD_NAMESPACE or the service account, with --in-cluster; else `driftless`).
    #[arg(long, env = "POD_NAMESPACE")]
    namespace: Option<String>,
    /// This replica's id among those sharing a Postgres store (default: the host or pod
    /// name). Two processes with one id never run at once: the second waits as a standby.
    #[arg(long, env = "DRIFTLESS_REPLICA_ID")]
    replica_id: Option<String>,
    /// Seconds a replica's membership lasts unrenewed (renewed every third of it): how long
    /// its applications wait for another replica after it died without leaving.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=300))]
    lease_ttl: u64,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// The namespace whose custom resources are watched, when they are.
fn crd_namespace(args: &UpArgs) -> anyhow::Result<Option<String>> {
    if !args.watch_crds.unwrap_or(args.cluster.in_cluster) {
        return Ok(None);
    }
    Ok(Some(match &args.namespace {
        Some(ns) => ns.clone(),
        None if args.cluster.in_cluster => {
            driftless_kube::incluster::InClusterPaths::from_env().namespace()?
        }
        None => "driftless".to_string(),
    }))
}

fn data_dir(arg: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match arg {
        Some(d) => d.clone(),
        None => PathBuf::from(std::env::var("HOME").context("HOME is not set; pass --data-dir")?)
            .join(".driftless"),
    })
}

/// The API token: kept in the data directory (owner-only), created on first start.
fn api_token(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("api-token");
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    let token = random_token()?;
    write_private(&path, &token)?;
    Ok(token)
}

/// 24 random bytes as hex: an API token.
pub(crate) fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 24];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for an API token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(e) => e
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect(),
        Err(e) => {
            eprintln!(
                "error: cannot read definitions directory {}: {e}",
                dir.display()
            );
            Vec::new()
        }
    };
    files.sort();
    files
}

/// Every definition in `dir` (Applications, Projects, Repositories); a bad document is
/// reported and skipped, never fatal.
fn load_definitions(dir: &Path) -> driftless_core::definitions::Definitions {
    let mut defs = driftless_core::definitions::Definitions::default();
    for f in yaml_files(dir) {
        match std::fs::read_to_string(&f) {
            Ok(t) => defs.add_file(&t, &f.display().to_string()),
            Err(e) => defs.errors.push(format!("{}: {e}", f.display())),
        }
    }
    defs
}

/// The health assessor: built-in checks plus the operator's Lua checks, from `HealthCheck`
/// definitions and an `argocd-cm` ConfigMap in the config directory and from an Argo CD
/// `resource_customizations` directory. A check that does not compile is a warning (its kind
/// reads Unknown with the error); a malformed document stops the start, naming it.
fn health_assessor(
    config: Option<&Path>,
    customizations: Option<&Path>,
) -> anyhow::Result<Assessor> {
    let mut checks = driftless_health::HealthChecks::default();
    if let Some(dir) = config {
        for (doc, origin) in load_definitions(dir).health_checks {
            checks
                .add_document(&doc, &origin)
                .with_context(|| format!("health checks in {origin}"))?;
        }
    }
    if let Some(dir) = customizations {
        let files = driftless_health::config::read_directory(dir)
            .with_context(|| format!("health checks in {}", dir.display()))?;
        checks.add_directory(files.iter().map(|(p, t)| (p.as_str(), t.as_str())));
    }
    for problem in checks.problems() {
        eprintln!("warning: {problem} (that kind's health reads Unknown)");
    }
    let configured = checks.iter().count();
    if configured > 0 {
        eprintln!("health: {configured} Lua check(s) configured");
    }
    Ok(Assessor::with_checks(checks))
}

/// Stops a task when the engine stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Completes when the membership is lost; never without one.
async fn lease_lost(lease: Option<tokio::sync::watch::Receiver<Option<std::time::Instant>>>) {
    match lease {
        Some(mut rx) => {
            let _ = rx.wait_for(Option::is_none).await;
        }
        None => std::future::pending().await,
    }
}

/// How long a leaving replica waits for its operations in flight before it lets go.
const LEAVE_GRACE: Duration = Duration::from_secs(25);

pub fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let dir = data_dir(&args.data_dir)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // One engine per data directory, held until this process ends (however it ends).
    let _lock = driftless_store::DataDirLock::acquire(&dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let store = match &args.store {
            Some(url) => Store::open(url).await?,
            None => Store::sqlite(&dir.join("driftless.db")).await?,
        };
        // A shared Postgres store: this process joins the replicas sharing the work
        // (SQLite is this data directory's, locked above). Clusters made from here on pass
        // the write gate, open while the membership is surely held.
        let member = match store.backend() {
            driftless_store::Backend::Postgres => {
                let id = membership::replica_id(args.replica_id.as_deref())?;
                Some(membership::join(&store, &id, Duration::from_secs(args.lease_ttl)).await?)
            }
            driftless_store::Backend::Sqlite => None,
        };
        let lost = member.as_ref().map(|m| m.deadline.clone());
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (another engine running? choose --listen 127.0.0.1:0)",
                    args.listen
                )
            })?;
        let mut _sandbox = None;
        let client = if args.demo || args.sandbox {
            let sb = driftless_sandbox::Sandbox::start_with(driftless_sandbox::SandboxOptions {
                port: 0,
                data_dir: Some(dir.join("sandbox")),
            })
            .await
            .context("starting the sandbox cluster")?;
            let kc = dir.join("sandbox/kubeconfig");
            std::fs::create_dir_all(dir.join("sandbox"))?;
            write_private(&kc, &sb.kubeconfig())?;
            println!(
                "sandbox cluster: {} (kubectl --kubeconfig {})",
                sb.url(),
                kc.display()
            );
            let source = ClusterSource::Kubeconfig {
                path: kc,
                context: None,
                allow_exec: false,
            };
            let c = connect(&source).await?;
            _sandbox = Some(sb);
            KubeCluster::new(c, "sandbox").with_source(source)
        } else {
            args.cluster.connect().await?
        };
        let cluster = Arc::new(client);
        let sources = Arc::new(
            Sources::new(
                &dir,
                UrlPolicy {
                    allow_local: args.demo || args.allow_local_sources,
                    allow_insecure: false,
                },
                Duration::from_secs(60),
            )
            .with_guard(SourceGuard {
                private: vec![dir.clone()],
                allowed: if args.demo {
                    vec![dir.join("demo")]
                } else {
                    Vec::new()
                },
                api: Some(listener.local_addr()?),
            }),
        );
        let controller = Controller::new(
            store,
            cluster,
            sources,
            health_assessor(
                args.config.as_deref(),
                args.resource_customizations.as_deref(),
            )?,
            ControllerConfig {
                workers: args.workers.max(1),
                ..ControllerConfig::default()
            },
        )
        .await
        .map_err(anyhow::Error::msg)?;
        if let Some(m) = &member {
            controller.share(m.own.clone());
        }
        // Notifications from --config only (never from Git or the demo), before any
        // application is loaded (a new one is `on-created`).
        if let Some(dir) = &args.config {
            crate::notifications_cmd::configure(&controller, &load_definitions(dir).notifications)?;
        }
        // Applications created through the API live in the store; files may replace them.
        for (name, why) in controller.restore_stored_apps().await? {
            eprintln!("error: stored application {name}: {why} (skipped)");
        }
        let mut app_dirs = Vec::new();
        if args.demo {
            app_dirs.push(crate::demo::prepare(&dir)?);
        }
        app_dirs.extend(args.config.clone());
        for e in controller
            .load_stored_repositories()
            .await
            .map_err(anyhow::Error::msg)?
        {
            eprintln!("error: {e} (skipped)");
        }
        for e in controller
            .load_stored_clusters()
            .await
            .map_err(anyhow::Error::msg)?
        {
            eprintln!("error: {e} (its applications report it)");
        }
        for name in controller
            .load_stored_pipelines()
            .await
            .map_err(anyhow::Error::msg)?
        {
            println!("pipeline {name}: loaded from the store");
        }
        for d in &app_dirs {
            let defs = load_definitions(d);
            for e in &defs.errors {
                eprintln!("error: {e} (skipped; the other definitions are loaded)");
            }
            for w in defs.warnings() {
                eprintln!("warning: {w}");
            }
            for r in defs.repositories {
                let name = r.name.clone();
                match controller.set_repository(r, "config", false).await {
                    Ok(()) => println!("repository {name}: loaded from {}", d.display()),
                    Err(e) => eprintln!("error: repository {name}: {e} (skipped)"),
                }
            }
            for c in defs.clusters {
                let name = c.name.clone();
                match controller.set_cluster(c, "config", false).await {
                    Ok(()) => println!("cluster {name}: loaded from {}", d.display()),
                    Err(e) => eprintln!("error: {e} (its applications report it)"),
                }
            }
            for p in defs.pipelines {
                let name = p.name.clone();
                match controller.set_pipeline(p, "config", false).await {
                    Ok(()) => println!("pipeline {name}: loaded from {}", d.display()),
                    Err(e) => eprintln!("error: {e} (skipped)"),
                }
            }
            for p in defs.projects {
                let name = p.name.clone();
                match controller.set_project(p, "config").await {
                    Ok(()) => println!("project {name}: loaded from {}", d.display()),
                    Err(e) => eprintln!("error: project {name}: {e} (skipped)"),
                }
            }
            for parsed in defs.apps {
                let name = parsed.app.name.clone();
                match controller.set_app(parsed.app, "config").await {
                    Ok(()) => println!("application {name}: loaded from {}", d.display()),
                    Err(e) => eprintln!("error: {e} (skipped)"),
                }
            }
        }
        // Users and their tokens: re-read every few seconds, so a token removed from its
        // definition (or a rotated token file) stops working without a restart.
        let (table, problems) = driftless_api::users::load(&app_dirs);
        for p in problems {
            eprintln!("error: {p}");
        }
        for (_, u) in &table {
            println!("user {}: roles {}", u.name, u.roles.join(", "));
        }
        controller.users().replace(table);
        controller
            .users()
            .watch(app_dirs.clone(), Duration::from_secs(2));
        let token = api_token(&dir)?;
        println!(
            "api: http://{} (bearer token in {})",
            listener.local_addr()?,
            dir.join("api-token").display()
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let ctl = controller.clone();
        let engine = tokio::spawn(ctl.run(stopped.clone()));
        let _custom_resources = crd_namespace(&args)?.map(|ns| {
            println!("custom resources: watching applications, projects and pipelines in namespace {ns}");
            AbortOnDrop(tokio::spawn(controller.clone().watch_custom_resources(ns)))
        });
        if let Some(m) = &member {
            let interval = Duration::from_secs(args.lease_ttl).div_f64(10.0);
            tokio::spawn(controller.clone().run_shards(m.own.clone(), interval, stopped));
        }
        // Git webhooks are verified with this secret; without one they are refused.
        let webhook_secret = std::env::var("DRIFTLESS_WEBHOOK_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .map(Arc::new);
        let limits = driftless_api::Limits::default();
        let left = controller.clone();
        let app = driftless_api::router_with(
            driftless_api::ApiState {
                controller,
                token: Arc::new(token),
                webhook_secret,
                users: Arc::new(Vec::new()),
            },
            limits,
        );
        let lost_lease = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let lost_flag = lost_lease.clone();
        driftless_api::serve(listener, app, limits, async move {
            tokio::select! {
                () = membership::stop_signal() => {}
                () = lease_lost(lost) => lost_flag.store(true, std::sync::atomic::Ordering::SeqCst),
            }
        })
        .await?;
        // Leaving: no new work, operations in flight finished, then everything released so
        // the other replicas take over at once rather than after the lease expires.
        if let Some(m) = &member
            && !lost_lease.load(std::sync::atomic::Ordering::SeqCst)
        {
            let owned = m.own.owned();
            let gate = m.gate.clone();
            let stop_writes = move || gate.close("this replica left");
            match left.leave(&m.own, LEAVE_GRACE, stop_writes).await {
                Ok(()) => println!("replica {}: left, {owned} application(s) handed over", m.own.replica()),
                Err(e) => eprintln!("error: leaving: {e} (the others take over when the membership expires)"),
            }
        }
        let _ = stop.send(true);
        let _ = engine.await;
        if lost_lease.load(std::sync::atomic::Ordering::SeqCst) {
            anyhow::bail!(
                "this replica lost its membership (its lease expired and another replica took its applications over) and stopped; restarted, it joins again"
            );
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
