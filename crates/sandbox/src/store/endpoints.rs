//! The EndpointSlice controller: a Service with a selector gets one EndpointSlice
//! (`<service>-<suffix>`, labelled `kubernetes.io/service-name`, owned by the Service) listing
//! the matching pods that have an IP, each with its readiness, and the Service's ports
//! resolved to the pods' target ports.

use serde_json::{Map, Value, json};

use super::{Key, Store, meta_str};
use crate::pods;

const SERVICE_NAME: &str = "kubernetes.io/service-name";
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";

fn matches(selector: &Map<String, Value>, pod: &Value) -> bool {
    selector
        .iter()
        .all(|(k, v)| pod["metadata"]["labels"][k] == *v)
}

/// A Service port as the slice lists it: a named target port is looked up in the pods'
/// containers (the first pod that declares it).
fn slice_port(p: &Value, pods: &[Value]) -> Value {
    let target = match &p["targetPort"] {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => pods.iter().find_map(|pod| {
            pod["spec"]["containers"]
                .as_array()?
                .iter()
                .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                .find(|cp| cp["name"] == name.as_str())?["containerPort"]
                .as_i64()
        }),
        _ => None,
    }
    .or_else(|| p["port"].as_i64());
    let mut out = json!({"name": p["name"].as_str().unwrap_or_default(), "port": target, "protocol": p["protocol"].as_str().unwrap_or("TCP")});
    if let Some(a) = p.get("appProtocol") {
        out["appProtocol"] = a.clone();
    }
    out
}

impl Store {
    /// The EndpointSlice of the Service at `k`, created or brought up to date.
    pub(super) fn sync_endpoints(&mut self, k: &Key) {
        let Some(svc) = self.objects.get(k) else {
            return;
        };
        let uid = meta_str(&svc, "uid").to_string();
        let slice_t = self.builtin("discovery.k8s.io", "endpointslices");
        let existing = self.owned(&uid, "discovery.k8s.io", "endpointslices");
        let selector = svc["spec"]["selector"]
            .as_object()
            .filter(|s| !s.is_empty())
            .cloned();
        let (Some(selector), false) = (
            selector,
            svc["spec"]["type"] == "ExternalName"
                || svc["metadata"].get("deletionTimestamp").is_some(),
        ) else {
            return;
        };
        let ns = k.2.clone();
        let mut matching: Vec<Value> = self
            .objects
            .keys_in("", "pods", &ns)
            .into_iter()
            .filter_map(|pk| self.objects.get(&pk))
            .filter(|p| matches(&selector, p) && p["metadata"].get("deletionTimestamp").is_none())
            .collect();
        matching.sort_by(|a, b| meta_str(a, "name").cmp(meta_str(b, "name")));
        let endpoints: Vec<Value> = matching
            .iter()
            .filter(|p| p["status"]["podIP"].is_string())
            .map(|p| {
                let ready = pods::is_ready(p);
                json!({"addresses": [p["status"]["podIP"]], "conditions": {"ready": ready, "serving": ready, "terminating": false},
                    "nodeName": p["spec"]["nodeName"], "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}})
            })
            .collect();
        let ports: Vec<Value> = svc["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| slice_port(p, &matching))
            .collect();
        let mut labels: Map<String, Value> = svc["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        labels.insert(SERVICE_NAME.into(), json!(meta_str(&svc, "name")));
        labels.insert(MANAGED_BY.into(), json!("endpointslice-controller.k8s.io"));
        match existing.first() {
            None => {
                let name = format!("{}-{}", meta_str(&svc, "name"), pods::suffix());
                let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": name, "generateName": format!("{}-", meta_str(&svc, "name")), "namespace": ns, "labels": labels,
                        "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": crate::meta::now()},
                        "ownerReferences": [pods::controller_ref(&svc)]},
                    "addressType": "IPv4", "endpoints": endpoints, "ports": ports});
                self.controller_create(&slice_t, &ns, slice);
            }
            Some((_, old)) => {
                if old["endpoints"] == json!(endpoints)
                    && old["ports"] == json!(ports)
                    && old["metadata"]["labels"] == json!(labels)
                {
                    return;
                }
                let mut new = old.clone();
                new["endpoints"] = json!(endpoints);
                new["ports"] = json!(ports);
                new["metadata"]["labels"] = json!(labels);
                new["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] =
                    json!(crate::meta::now());
                self.controller_update(&slice_t, old, new);
            }
        }
    }
}
