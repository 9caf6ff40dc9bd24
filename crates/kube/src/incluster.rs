//! Running inside a pod: the API server's address from `KUBERNETES_SERVICE_HOST`/`_PORT`, the
//! service account's projected token and the cluster CA from the files the kubelet mounts,
//! and the engine's own namespace from the downward API (`POD_NAMESPACE`) or, without it, the
//! service account's `namespace` file.
//!
//! kube-rs's `Config::incluster` reads fixed paths; this builds the same configuration from
//! [`InClusterPaths`], so the layout can be pointed elsewhere (`DRIFTLESS_SERVICEACCOUNT_DIR`,
//! for tests and for pods that mount the token at another path). The token is given to kube-rs
//! as a *file*: it re-reads it at least once a minute, and a cluster built `with_source` re-reads
//! it at once on a 401 — so a rotated projected token (the kubelet rewrites it hourly) is
//! picked up without a restart. The CA file is re-read by kube-rs's verifier the same way.

use std::path::{Path, PathBuf};

use crate::KubeError;

/// Where a pod's service account is mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The environment variable that points at another service-account directory.
pub const SERVICE_ACCOUNT_DIR_ENV: &str = "DRIFTLESS_SERVICEACCOUNT_DIR";

/// What an in-cluster client is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InClusterPaths {
    /// Holds `token`, `ca.crt` and `namespace`.
    pub service_account_dir: PathBuf,
    /// `KUBERNETES_SERVICE_HOST` (an IP or a name).
    pub host: String,
    /// `KUBERNETES_SERVICE_PORT`.
    pub port: String,
    /// `POD_NAMESPACE` (the downward API), when set.
    pub pod_namespace: Option<String>,
}

impl InClusterPaths {
    /// From this process's environment, as a pod has it.
    pub fn from_env() -> InClusterPaths {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        InClusterPaths {
            service_account_dir: var(SERVICE_ACCOUNT_DIR_ENV)
                .map_or_else(|| PathBuf::from(SERVICE_ACCOUNT_DIR), PathBuf::from),
            host: var("KUBERNETES_SERVICE_HOST").unwrap_or_default(),
            port: var("KUBERNETES_SERVICE_PORT").unwrap_or_default(),
            pod_namespace: var("POD_NAMESPACE"),
        }
    }

    pub fn token_file(&self) -> PathBuf {
        self.service_account_dir.join("token")
    }

    pub fn ca_file(&self) -> PathBuf {
        self.service_account_dir.join("ca.crt")
    }

    /// The API server's URL: always HTTPS, IPv6 addresses bracketed, `:443` left out.
    pub fn url(&self) -> Result<String, KubeError> {
        if self.host.trim().is_empty() || self.port.trim().is_empty() {
            return Err(KubeError::InCluster(
                "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set (they are in every pod; outside one, use --kubeconfig)".into(),
            ));
        }
        let port: u16 = self.port.trim().parse().map_err(|_| {
            KubeError::InCluster(format!(
                "KUBERNETES_SERVICE_PORT is not a port number: {:?}",
                self.port
            ))
        })?;
        let host = self.host.trim();
        let host = match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => host.to_string(),
        };
        Ok(if port == 443 {
            format!("https://{host}")
        } else {
            format!("https://{host}:{port}")
        })
    }

    /// The engine's own namespace: `POD_NAMESPACE`, else the service account's `namespace`
    /// file; it must be a DNS label.
    pub fn namespace(&self) -> Result<String, KubeError> {
        let ns = match &self.pod_namespace {
            Some(ns) => ns.trim().to_string(),
            None => {
                let path = self.service_account_dir.join("namespace");
                std::fs::read_to_string(&path)
                    .map_err(|e| {
                        KubeError::InCluster(format!(
                            "POD_NAMESPACE is not set and {} cannot be read: {e}",
                            path.display()
                        ))
                    })?
                    .trim()
                    .to_string()
            }
        };
        let label = !ns.is_empty()
            && ns.len() <= 63
            && ns
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !ns.starts_with('-')
            && !ns.ends_with('-');
        if !label {
            return Err(KubeError::InCluster(format!(
                "the pod's namespace {ns:?} is not a valid namespace name"
            )));
        }
        Ok(ns)
    }
}

/// The kube-rs configuration of a pod's service account (files read now, so a missing token
/// or CA is reported at start, naming the file).
pub fn config(paths: &InClusterPaths) -> Result<kube::Config, KubeError> {
    let url = paths.url()?;
    let cluster_url = url
        .parse()
        .map_err(|e| KubeError::InCluster(format!("API server URL {url}: {e}")))?;
    let token = paths.token_file();
    let text = read(&token, "service-account token")?;
    if text.trim().is_empty() {
        return Err(KubeError::InCluster(format!(
            "the service-account token {} is empty",
            token.display()
        )));
    }
    let ca = paths.ca_file();
    let roots = certificates(&read(&ca, "cluster CA bundle")?, &ca)?;
    let mut config = kube::Config::new(cluster_url);
    config.default_namespace = paths.namespace()?;
    config.root_cert = Some(roots);
    config.root_cert_file = Some(ca);
    config.auth_info.token_file = Some(token.display().to_string());
    Ok(config)
}

fn read(path: &Path, what: &str) -> Result<String, KubeError> {
    std::fs::read_to_string(path).map_err(|e| {
        KubeError::InCluster(format!("cannot read the {what} {}: {e}", path.display()))
    })
}

/// The DER certificates of a PEM bundle; at least one.
fn certificates(pem_text: &str, path: &Path) -> Result<Vec<Vec<u8>>, KubeError> {
    let blocks = pem::parse_many(pem_text).map_err(|e| {
        KubeError::InCluster(format!("the cluster CA bundle {}: {e}", path.display()))
    })?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if certs.is_empty() {
        return Err(KubeError::InCluster(format!(
            "the cluster CA bundle {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(host: &str, port: &str, ns: Option<&str>) -> InClusterPaths {
        InClusterPaths {
            service_account_dir: PathBuf::from("/nonexistent"),
            host: host.into(),
            port: port.into(),
            pod_namespace: ns.map(String::from),
        }
    }

    #[test]
    fn url_is_https_with_brackets_and_default_port_left_out() {
        assert_eq!(
            paths("10.0.0.1", "443", None).url().unwrap(),
            "https://10.0.0.1"
        );
        assert_eq!(
            paths("fd00::1", "6443", None).url().unwrap(),
            "https://[fd00::1]:6443"
        );
        assert_eq!(
            paths("kubernetes.default.svc", "8443", None).url().unwrap(),
            "https://kubernetes.default.svc:8443"
        );
        let e = paths("10.0.0.1", "https", None).url().unwrap_err();
        assert!(e.to_string().contains("KUBERNETES_SERVICE_PORT"), "{e}");
        let e = paths("", "443", None).url().unwrap_err();
        assert!(e.to_string().contains("KUBERNETES_SERVICE_HOST"), "{e}");
    }

    #[test]
    fn namespace_from_downward_api_is_validated() {
        assert_eq!(
            paths("h", "1", Some("driftless")).namespace().unwrap(),
            "driftless"
        );
        let e = paths("h", "1", Some("../etc")).namespace().unwrap_err();
        assert!(e.to_string().contains("not a valid namespace"), "{e}");
        let e = paths("h", "1", None).namespace().unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent/namespace"),
            "names the file: {e}"
        );
    }

    #[test]
    fn a_bundle_without_certificates_is_refused_naming_the_file() {
        let e = certificates("not pem", Path::new("/sa/ca.crt")).unwrap_err();
        assert!(e.to_string().contains("/sa/ca.crt"), "{e}");
    }
}
