//! Names of Kubernetes objects: [`Gvk`] (group, version, kind) and [`ResourceKey`]
//! (group, kind, namespace, name), the identity Driftless tracks an object by.
//!
//! The version is deliberately not part of a [`ResourceKey`]: `apps/v1` and `apps/v1beta2`
//! Deployments named `web` are the same object to the API server.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Group, version and kind of an object, parsed from `apiVersion` and `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Gvk {
    /// API group; empty for the core group (`v1`).
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    /// Splits an `apiVersion` (`apps/v1` or `v1`) and pairs it with `kind`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Gvk {
            group,
            version,
            kind: kind.to_string(),
        }
    }

    /// The `apiVersion` string this GVK is written as in a manifest.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl fmt::Display for Gvk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Kind={}", self.api_version(), self.kind)
    }
}

/// Identity of one object in a cluster: group, kind, namespace (empty when cluster-scoped or
/// not yet defaulted) and name.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct ResourceKey {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ResourceKey {
    pub fn new(group: &str, kind: &str, namespace: &str, name: &str) -> Self {
        ResourceKey {
            group: group.to_string(),
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ResourceKey {
    /// kubectl-like: `Deployment.apps default/web`, `Namespace prod`, `ConfigMap default/cfg`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if self.namespace.is_empty() {
            write!(f, " {}", self.name)
        } else {
            write!(f, " {}/{}", self.namespace, self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_round_trips_for_core_and_named_groups() {
        let core = Gvk::from_api_version("v1", "ConfigMap");
        assert_eq!(core.group, "");
        assert_eq!(core.api_version(), "v1");
        let apps = Gvk::from_api_version("apps/v1", "Deployment");
        assert_eq!((apps.group.as_str(), apps.version.as_str()), ("apps", "v1"));
        assert_eq!(apps.api_version(), "apps/v1");
    }

    #[test]
    fn display_reads_like_kubectl() {
        let k = ResourceKey::new("apps", "Deployment", "default", "web");
        assert_eq!(k.to_string(), "Deployment.apps default/web");
        assert_eq!(
            ResourceKey::new("", "Namespace", "", "prod").to_string(),
            "Namespace prod"
        );
    }
}
