//! Status that needs nothing but the object itself (workloads get theirs from their pods, see
//! `store::workloads`): LoadBalancer Services get an ingress IP, PVCs bind, CRDs become
//! Established. Pure: the caller stores the result.

use serde_json::{Value, json};

/// Whether the real cluster's status writer for this kind is kube-controller-manager (its
/// `managedFields` entry is then recorded, as in transcripts 18 and 22).
pub fn written_by_controller_manager(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        (
            "apps",
            "Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet"
        ) | ("batch", "Job")
            | ("", "PersistentVolumeClaim")
    )
}

/// Whether objects of this kind get a simulated status at all.
pub fn simulates(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("", "Service" | "PersistentVolumeClaim")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
    )
}

/// The status `obj` should have now, if it differs from the current one.
pub fn status(group: &str, kind: &str, obj: &Value, now: &str) -> Option<Value> {
    let want = match (group, kind) {
        ("", "Service") if obj["spec"]["type"] == "LoadBalancer" => {
            let h = obj["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .bytes()
                .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
            json!({"loadBalancer": {"ingress": [{"ip": format!("172.18.255.{}", 1 + h % 254), "ipMode": "VIP"}]}})
        }
        ("", "PersistentVolumeClaim") => {
            let storage = obj["spec"]["resources"]["requests"]["storage"].clone();
            json!({"phase": "Bound", "accessModes": obj["spec"]["accessModes"], "capacity": {"storage": storage}})
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            json!({"conditions": [
                {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}],
                "acceptedNames": obj["spec"]["names"], "storedVersions": obj["status"]["storedVersions"]})
        }
        _ => return None,
    };
    // Timestamps aside, is anything new? (Avoids rewriting the object every tick.)
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(cs) = v["conditions"].as_array_mut() {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                for t in ["lastUpdateTime", "lastTransitionTime", "lastProbeTime"] {
                    c.remove(t);
                }
            }
        }
        v
    };
    (strip(&obj["status"]) != strip(&want)).then_some(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_balancers_get_an_ip_and_pvcs_bind_once() {
        let svc =
            json!({"metadata": {"uid": "u1"}, "spec": {"type": "LoadBalancer"}, "status": {}});
        let s = status("", "Service", &svc, "t").unwrap();
        assert!(
            s["loadBalancer"]["ingress"][0]["ip"]
                .as_str()
                .unwrap()
                .starts_with("172.18.255.")
        );
        let mut pvc = json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        let bound = status("", "PersistentVolumeClaim", &pvc, "t").unwrap();
        assert_eq!(bound["phase"], "Bound");
        pvc["status"] = bound;
        assert!(status("", "PersistentVolumeClaim", &pvc, "later").is_none());
    }
}
