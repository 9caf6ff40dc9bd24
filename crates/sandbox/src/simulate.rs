//! Status simulation: what the controllers of a real cluster would report, without running
//! anything. Workloads roll out to their declared replicas once they have existed for the
//! rollout delay; a container image tagged `:broken` makes the rollout fail (Deployments report
//! `ProgressDeadlineExceeded`, Jobs `Failed`). Jobs complete, LoadBalancer Services get an
//! ingress IP, PVCs bind, CRDs become Established. Pure: the caller stores the result.

use serde_json::{Value, json};

/// What the simulated controllers know beyond the object itself.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Pods can run (false: a cluster without nodes, like the recorded one).
    pub schedulable: bool,
    /// For a Deployment: the name of the ReplicaSet of its current pod template.
    pub replica_set: Option<String>,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            schedulable: true,
            replica_set: None,
        }
    }
}

/// A pod-template-hash in the controller's alphabet (FNV-32a of the template, written with
/// the consonants and digits the real controller uses, so names look like `web-596556dd5f`).
pub fn pod_template_hash(template_json: &[u8]) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u32 = 0x811c_9dc5;
    for b in template_json {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|d| ALPHANUMS[usize::from(d) % ALPHANUMS.len()] as char)
        .collect()
}

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

/// Whether any container of the object's pod template asks for a failing image.
fn broken(template: &Value) -> bool {
    template["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["image"].as_str().is_some_and(|i| i.ends_with(":broken")))
}

fn condition(kind: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": kind, "status": status, "lastUpdateTime": now, "lastTransitionTime": now, "reason": reason, "message": message})
}

/// Whether objects of this kind get a simulated status at all.
pub fn simulates(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        (
            "apps",
            "Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet"
        ) | ("batch", "Job")
            | ("", "Service" | "PersistentVolumeClaim")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
    )
}

/// The status `obj` should have now, if it differs from the current one.
pub fn status(group: &str, kind: &str, obj: &Value, now: &str, cluster: &Cluster) -> Option<Value> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let generation = obj["metadata"]["generation"].clone();
    let runs = |template: &Value| cluster.schedulable && !broken(template);
    let want = match (group, kind) {
        ("apps", "Deployment") => {
            let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let rs = cluster
                .replica_set
                .clone()
                .unwrap_or_else(|| name.to_string());
            if !cluster.schedulable {
                // No node to run on: the rollout stays in progress (transcript 18).
                json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas, "unavailableReplicas": replicas, "terminatingReplicas": 0,
                    "conditions": [
                        condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now),
                        condition("Progressing", "True", "ReplicaSetUpdated", &format!("ReplicaSet \"{rs}\" is progressing."), now)]})
            } else if broken(&obj["spec"]["template"]) {
                json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas, "unavailableReplicas": replicas, "terminatingReplicas": 0,
                    "conditions": [
                        condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now),
                        condition("Progressing", "False", "ProgressDeadlineExceeded", &format!("ReplicaSet \"{rs}\" has timed out progressing."), now)]})
            } else {
                json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "terminatingReplicas": 0,
                    "conditions": [
                        condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now),
                        condition("Progressing", "True", "NewReplicaSetAvailable", &format!("ReplicaSet \"{rs}\" has successfully progressed."), now)]})
            }
        }
        ("apps", "StatefulSet" | "ReplicaSet") => {
            let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = if runs(&obj["spec"]["template"]) {
                replicas
            } else {
                0
            };
            json!({"observedGeneration": generation, "replicas": replicas, "readyReplicas": ready, "availableReplicas": ready, "currentReplicas": replicas, "updatedReplicas": replicas})
        }
        ("apps", "DaemonSet") => {
            // A sandbox has one (virtual) node.
            let ready = i64::from(runs(&obj["spec"]["template"]));
            json!({"observedGeneration": generation, "currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": 1})
        }
        ("batch", "Job") => {
            if obj["status"]["completionTime"].is_string()
                || obj["status"]["failed"].as_i64().is_some()
            {
                return None;
            }
            let completions = obj["spec"]["completions"].as_i64().unwrap_or(1);
            if !cluster.schedulable {
                // Its pod stays Pending.
                json!({"startTime": now, "active": 1, "ready": 0, "terminating": 0})
            } else if broken(&obj["spec"]["template"]) {
                json!({"startTime": now, "failed": 1, "conditions": [
                    {"type": "FailureTarget", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"},
                    {"type": "Failed", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]})
            } else {
                json!({"startTime": now, "completionTime": now, "succeeded": completions, "ready": 0, "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"},
                    {"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}]})
            }
        }
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

    fn deploy(image: &str) -> Value {
        json!({"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}}, "status": {}})
    }

    #[test]
    fn deployments_become_available_or_exceed_their_deadline() {
        let ok = status(
            "apps",
            "Deployment",
            &deploy("nginx:1.27"),
            "t",
            &Cluster::default(),
        )
        .unwrap();
        assert_eq!(
            (
                ok["availableReplicas"].as_i64(),
                ok["observedGeneration"].as_i64()
            ),
            (Some(3), Some(2))
        );
        assert_eq!(ok["conditions"][0]["status"], "True");
        let bad = status(
            "apps",
            "Deployment",
            &deploy("nginx:broken"),
            "t",
            &Cluster::default(),
        )
        .unwrap();
        assert_eq!(bad["conditions"][1]["reason"], "ProgressDeadlineExceeded");
        // Once reported, the same status is not reported again.
        let mut settled = deploy("nginx:1.27");
        settled["status"] = ok;
        assert!(status("apps", "Deployment", &settled, "later", &Cluster::default()).is_none());
    }
}
