//! Pod logs: `GET /api/v1/namespaces/{ns}/pods/{name}/log` (container, tailLines,
//! timestamps, previous, follow), read line by line as the server sends them — with
//! `follow` the stream stays open until the container stops or the reader drops it.

use futures_util::{AsyncBufReadExt, Stream, TryStreamExt};
use kube::api::{LogParams, Request};

use driftless_core::ResourceKey;
use driftless_core::cluster::ClusterError;

use crate::KubeCluster;

/// Which lines of which container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Required by the server when the pod has more than one container.
    pub container: Option<String>,
    pub follow: bool,
    pub tail_lines: Option<i64>,
    pub timestamps: bool,
    /// The previous (terminated) instance of the container.
    pub previous: bool,
}

impl KubeCluster {
    /// The pod's log lines (without their newline), streamed.
    pub async fn pod_logs(
        &self,
        namespace: &str,
        pod: &str,
        opts: &LogOptions,
    ) -> Result<impl Stream<Item = Result<String, ClusterError>> + Send + use<>, ClusterError> {
        let key = ResourceKey::new("", "Pod", namespace, pod);
        let what = format!("logs of {key} on cluster {}", self.name());
        let lp = LogParams {
            container: opts.container.clone(),
            follow: opts.follow,
            tail_lines: opts.tail_lines,
            timestamps: opts.timestamps,
            previous: opts.previous,
            ..LogParams::default()
        };
        let req = Request::new(format!("/api/v1/namespaces/{namespace}/pods"))
            .logs(pod, &lp)
            .map_err(|e| ClusterError::Other {
                what: what.clone(),
                message: e.to_string(),
            })?;
        let body = self
            .client()
            .request_stream(req)
            .await
            .map_err(|e| match e {
                kube::Error::Api(s) => ClusterError::Rejected {
                    key: Box::new(key.clone()),
                    code: s.code,
                    message: s.message,
                },
                other => ClusterError::Transient {
                    what: what.clone(),
                    message: other.to_string(),
                },
            })?;
        Ok(body.lines().map_err(move |e| ClusterError::Transient {
            what: what.clone(),
            message: e.to_string(),
        }))
    }
}
