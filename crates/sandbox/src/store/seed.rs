//! A fresh cluster: the namespaces and ConfigMaps every v1.36 cluster starts with, and what
//! a new namespace (its CA ConfigMap, its default ServiceAccount) or CRD (its types) brings.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};

use super::objects::Objects;
use super::{HISTORY, SANDBOX_CA, Store, meta_str};
use crate::meta;
use crate::registry::Registry;
use crate::registry::ResourceType;

impl Store {
    /// A fresh cluster with the namespaces every cluster has.
    pub fn new() -> Self {
        let (latest, _) = tokio::sync::watch::channel(0);
        let mut s = Store {
            rollout_delay: std::time::Duration::from_millis(300),
            schedulable: true,
            rollout_hold: None,
            progress: std::collections::HashMap::new(),
            released: std::collections::HashSet::new(),
            pending: BTreeMap::new(),
            terminating: std::collections::HashMap::new(),
            registry: Registry::builtin(),
            objects: Objects::default(),
            rv: 100,
            history: VecDeque::new(),
            history_limit: HISTORY,
            compacted: 0,
            journal: None,
            latest,
        };
        let ns = s
            .registry
            .find("", "v1", "namespaces")
            .expect("namespaces are built in")
            .clone();
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            s.create(
                &ns,
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
                false,
            )
            .expect("fresh store");
        }
        // What the API server itself publishes in kube-system (a list of all ConfigMaps
        // counts them: transcript 19).
        let cm = s
            .registry
            .find("", "v1", "configmaps")
            .expect("configmaps are built in")
            .clone();
        for (name, data) in [
            (
                "extension-apiserver-authentication",
                json!({"client-ca-file": SANDBOX_CA, "requestheader-allowed-names": "[\"front-proxy-client\"]", "requestheader-client-ca-file": SANDBOX_CA, "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]", "requestheader-group-headers": "[\"X-Remote-Group\"]", "requestheader-username-headers": "[\"X-Remote-User\"]"}),
            ),
            (
                "kube-apiserver-legacy-service-account-token-tracking",
                json!({"since": meta::now()[..10].to_string()}),
            ),
        ] {
            s.create_as(
                &cm,
                "kube-system",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}),
                false,
                "kube-apiserver",
            )
            .expect("fresh store");
        }
        // Nothing is compacted yet: as on a fresh real cluster (transcript 21), a watch from
        // resourceVersion 1 replays everything since the cluster began.
        s
    }
    /// What the cluster's controllers do right after some creations.
    pub(super) fn after_create(&mut self, t: &ResourceType, obj: &Value) {
        match (t.group.as_str(), t.kind.as_str()) {
            ("", "Namespace") => {
                let ns = meta_str(obj, "name").to_string();
                let cm = self
                    .registry
                    .find("", "v1", "configmaps")
                    .expect("built in")
                    .clone();
                let sa = self
                    .registry
                    .find("", "v1", "serviceaccounts")
                    .expect("built in")
                    .clone();
                let root_ca = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}}, "data": {"ca.crt": SANDBOX_CA}});
                let _ = self.create_as(&cm, &ns, root_ca, false, "kube-controller-manager");
                let _ = self.create(&sa, &ns, json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}), false);
            }
            ("apiextensions.k8s.io", "CustomResourceDefinition") => self.registry.add_crd(obj),
            _ => {}
        }
    }
}
