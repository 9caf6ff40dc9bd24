//! Building a kube-rs client: from a kubeconfig file (a chosen context or its current one),
//! or from the in-cluster service account.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::KubeError;

/// Where the cluster's address and credentials come from.
#[derive(Debug, Clone)]
pub enum ClusterSource {
    /// A kubeconfig file; `context` None uses its current-context.
    Kubeconfig {
        path: PathBuf,
        context: Option<String>,
        /// Let `exec` credential plugins run (they execute arbitrary commands).
        allow_exec: bool,
    },
    /// The service account of the pod Driftless runs in (see [`crate::incluster`]).
    InCluster,
    /// A service account laid out as in a pod, at explicit paths (tests; a sidecar's token).
    ServiceAccount(crate::incluster::InClusterPaths),
}

/// A pod's service account: read again at every connect (a 401 rebuild too), so a rotated
/// token file is picked up.
fn in_cluster(
    paths: &crate::incluster::InClusterPaths,
) -> Result<(kube::Config, String), KubeError> {
    let config = crate::incluster::config(paths)?;
    Ok((
        config,
        format!("the in-cluster API server {}", paths.url()?),
    ))
}

/// A client for `source`. Refuses kubeconfigs whose chosen user needs an exec plugin unless
/// `allow_exec` is set; nothing is run or contacted before that check.
pub async fn connect(source: &ClusterSource) -> Result<kube::Client, KubeError> {
    let (config, cluster) = match source {
        ClusterSource::Kubeconfig {
            path,
            context,
            allow_exec,
        } => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| KubeError::Kubeconfig {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let chosen = context
                .clone()
                .or_else(|| kubeconfig.current_context.clone())
                .unwrap_or_default();
            let Some(ctx) = kubeconfig
                .contexts
                .iter()
                .find(|c| c.name == chosen)
                .and_then(|c| c.context.clone())
            else {
                return Err(KubeError::UnknownContext {
                    path: path.clone(),
                    context: chosen,
                    known: kubeconfig
                        .contexts
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let user = ctx.user.clone().unwrap_or_default();
            let exec = kubeconfig
                .auth_infos
                .iter()
                .find(|a| a.name == user)
                .and_then(|a| a.auth_info.as_ref())
                .and_then(|a| a.exec.as_ref());
            if let Some(exec) = exec
                && !allow_exec
            {
                return Err(KubeError::ExecRefused {
                    path: path.clone(),
                    context: chosen,
                    user,
                    command: exec.command.clone().unwrap_or_default(),
                });
            }
            let options = KubeConfigOptions {
                context: Some(chosen.clone()),
                ..KubeConfigOptions::default()
            };
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| KubeError::Kubeconfig {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            (config, format!("{} (context {chosen})", path.display()))
        }
        ClusterSource::InCluster => in_cluster(&crate::incluster::InClusterPaths::from_env())?,
        ClusterSource::ServiceAccount(paths) => in_cluster(paths)?,
    };
    kube::Client::try_from(config).map_err(|e| KubeError::Client {
        cluster,
        message: e.to_string(),
    })
}
