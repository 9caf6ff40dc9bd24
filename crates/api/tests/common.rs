//! What the API tests start from: a controller with a fresh SQLite store in a data directory,
//! local sources allowed and Git polled hourly (only refreshes and webhooks fetch), on a
//! cluster client.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use driftless_engine::controller::{Controller, ControllerConfig, Sources};

pub async fn controller(
    dir: &Path,
    client: driftless_kube::Client,
    cluster_name: &str,
    cfg: ControllerConfig,
) -> Arc<Controller> {
    let store = driftless_store::Store::sqlite(&dir.join("d.db"))
        .await
        .unwrap();
    let sources = Arc::new(Sources::new(
        dir,
        driftless_git::UrlPolicy {
            allow_local: true,
            allow_insecure: false,
        },
        Duration::from_secs(3600),
    ));
    Controller::new(
        store,
        Arc::new(driftless_kube::KubeCluster::new(client, cluster_name)),
        sources,
        driftless_health::Assessor::default(),
        cfg,
    )
    .await
    .unwrap()
}
