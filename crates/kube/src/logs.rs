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

#[cfg(test)]
mod tests {
    //! Against a stand-in for the API server's `pods/{name}/log` (the sandbox grows its own
    //! endpoint separately): the request a real server receives, lines as chunks arrive, a
    //! followed stream that waits for more, and the server's 404 Status.

    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;

    use futures_util::StreamExt;

    use super::*;

    /// Accepts one request, sends its request line to `seen`, then runs `answer`.
    fn stand_in(
        answer: impl FnOnce(&mut TcpStream) + Send + 'static,
    ) -> (KubeCluster, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (seen, requests) = mpsc::channel();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            seen.send(line).unwrap();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            answer(&mut s);
        });
        let config = kube::Config::new(url.parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        (KubeCluster::new(client, "stand-in"), requests)
    }

    fn chunk(s: &mut TcpStream, data: &str) {
        write!(s, "{:x}\r\n{data}\r\n", data.len()).unwrap();
        s.flush().unwrap();
    }

    #[tokio::test]
    async fn followed_lines_arrive_as_the_server_writes_them() {
        let (more_tx, more) = mpsc::channel::<()>();
        let (cluster, requests) = stand_in(move |s| {
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            .unwrap();
            chunk(s, "first line\nsecond ");
            chunk(s, "line\n");
            // Following: the next line is written only once the reader had the first two.
            more.recv().unwrap();
            chunk(s, "third line\n");
            write!(s, "0\r\n\r\n").unwrap();
        });
        let opts = LogOptions {
            container: Some("web".into()),
            follow: true,
            tail_lines: Some(2),
            ..LogOptions::default()
        };
        let mut lines = Box::pin(cluster.pod_logs("shop", "web-1", &opts).await.unwrap());
        assert_eq!(lines.next().await.unwrap().unwrap(), "first line");
        assert_eq!(lines.next().await.unwrap().unwrap(), "second line");
        more_tx.send(()).unwrap();
        assert_eq!(lines.next().await.unwrap().unwrap(), "third line");
        assert!(
            lines.next().await.is_none(),
            "the stream ends with the container"
        );
        let request = requests.recv().unwrap();
        assert!(
            request.starts_with("GET /api/v1/namespaces/shop/pods/web-1/log?"),
            "{request}"
        );
        for p in ["container=web", "follow=true", "tailLines=2"] {
            assert!(request.contains(p), "{p} not in {request}");
        }
        assert!(!request.contains("previous"), "{request}");
    }

    #[tokio::test]
    async fn a_missing_pod_is_the_servers_not_found() {
        let (cluster, _requests) = stand_in(|s| {
            let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"gone\" not found","reason":"NotFound","details":{"name":"gone","kind":"pods"},"code":404}"#;
            write!(
                s,
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        });
        let err = match cluster
            .pod_logs("shop", "gone", &LogOptions::default())
            .await
        {
            Err(e) => e,
            Ok(_) => panic!("a 404 read as logs"),
        };
        match err {
            ClusterError::Rejected { code, message, key } => {
                assert_eq!((code, message.as_str()), (404, "pods \"gone\" not found"));
                assert_eq!(key.name, "gone");
            }
            other => panic!("{other:?}"),
        }
    }
}
