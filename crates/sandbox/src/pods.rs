//! Pods as a real cluster's controllers and kubelet make them, without running anything
//! (pure; the store's controllers store the results): a pod from a workload's template, the
//! status the kubelet would report (Pending without a node, image pull back-off for a
//! `:broken` image, Running and Ready, Succeeded for a Job's pod), and deterministic log lines.

use serde_json::{Value, json};

/// The one node of a schedulable sandbox.
pub const NODE: &str = "sandbox-node";
const HOST_IP: &str = "172.18.0.2";

/// The alphabet of generated name suffixes and hashes (Kubernetes' `rand.SafeEncodeString`:
/// no vowels, no look-alike digits).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A random 5-character suffix, as the API server appends to a `generateName`.
pub fn suffix() -> String {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[..5]
        .iter()
        .map(|b| ALPHANUMS[usize::from(*b) % ALPHANUMS.len()] as char)
        .collect()
}

/// A hash in the controllers' form: FNV-32a of `data`, its decimal digits written in the
/// safe alphabet (what `ComputeHash` + `SafeEncodeString` do; the real one hashes Go
/// structs, so values differ, lengths and alphabet do not).
pub fn hash(data: &[u8]) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|d| ALPHANUMS[usize::from(d) % ALPHANUMS.len()] as char)
        .collect()
}

/// An owner reference naming the controller of a dependent.
pub fn controller_ref(owner: &Value) -> Value {
    json!({"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true})
}

/// The uid of the object's controller (the owner reference with `controller: true`).
pub fn controller_uid(obj: &Value) -> Option<&str> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)?["uid"]
        .as_str()
}

/// A pod of `owner` from its pod template, with extra labels.
pub fn from_template(owner: &Value, template: &Value, name: &str, labels: &Value) -> Value {
    let mut meta = json!({"name": name, "generateName": format!("{}-", owner["metadata"]["name"].as_str().unwrap_or_default()),
        "labels": template["metadata"]["labels"], "ownerReferences": [controller_ref(owner)]});
    if !meta["labels"].is_object() {
        meta["labels"] = json!({});
    }
    for (k, v) in labels.as_object().into_iter().flatten() {
        meta["labels"][k] = v.clone();
    }
    if let Some(a) = template["metadata"]["annotations"].as_object() {
        meta["annotations"] = json!(a);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"],
        "status": {"phase": "Pending", "qosClass": qos_class(&template["spec"])}})
}

/// BestEffort without any requests or limits, Guaranteed when every container's requests
/// equal its limits, Burstable otherwise.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let res = |c: &Value, k: &str| {
        c["resources"][k]
            .as_object()
            .filter(|m| !m.is_empty())
            .cloned()
    };
    if containers
        .iter()
        .all(|c| res(c, "requests").is_none() && res(c, "limits").is_none())
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let limits = res(c, "limits");
        limits.is_some() && res(c, "requests").is_none_or(|r| Some(r) == limits)
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Whether a container asks for the image the sandbox cannot pull.
pub fn broken_image(image: &str) -> bool {
    image.ends_with(":broken")
}

/// A pod's IP from its uid (stable, from the pod network 10.244.0.0/16).
fn pod_ip(uid: &str) -> String {
    let h = uid
        .bytes()
        .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
    let n = 2 + h % 65_000;
    format!("10.244.{}.{}", n >> 8, n & 0xff)
}

/// What the kubelet is told to report for a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No node: the scheduler cannot place it.
    Unschedulable,
    /// Started, containers running but not ready (a held rollout).
    NotReady,
    /// Running and ready.
    Ready,
    /// Ran to completion (a Job's pod).
    Succeeded,
    /// Ran and failed (a Job's pod with a `:broken` image).
    Failed,
}

fn cond(kind: &str, ok: bool, now: &str, reason: Option<&str>) -> Value {
    let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    c
}

/// The status the kubelet (and scheduler) report for `pod` with `outcome`, at `now`.
pub fn status(pod: &Value, outcome: Outcome, now: &str) -> Value {
    let qos = pod["status"]["qosClass"].clone();
    if outcome == Outcome::Unschedulable {
        let mut c = cond("PodScheduled", false, now, Some("Unschedulable"));
        c["message"] = json!("no nodes available to schedule pods");
        return json!({"phase": "Pending", "conditions": [c], "qosClass": qos});
    }
    let start = pod["status"]["startTime"]
        .as_str()
        .unwrap_or(now)
        .to_string();
    let containers: Vec<&Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let pulling = containers
        .iter()
        .any(|c| broken_image(c["image"].as_str().unwrap_or_default()));
    let (phase, ready, reason) = match outcome {
        _ if pulling && outcome != Outcome::Failed => {
            ("Pending", false, Some("ContainersNotReady"))
        }
        Outcome::Ready => ("Running", true, None),
        Outcome::Succeeded => ("Succeeded", false, Some("PodCompleted")),
        Outcome::Failed => ("Failed", false, Some("PodFailed")),
        _ => ("Running", false, Some("ContainersNotReady")),
    };
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            let image = c["image"].as_str().unwrap_or_default();
            let state = if broken_image(image) && outcome != Outcome::Failed {
                json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}})
            } else {
                match outcome {
                    Outcome::Succeeded => json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": start, "finishedAt": now}}),
                    Outcome::Failed => json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": start, "finishedAt": now}}),
                    _ => json!({"running": {"startedAt": start}}),
                }
            };
            let running = state.get("running").is_some();
            json!({"name": c["name"], "state": state, "ready": ready, "restartCount": 0, "image": image,
                "imageID": "", "started": running})
        })
        .collect();
    let ip = pod_ip(pod["metadata"]["uid"].as_str().unwrap_or_default());
    let initialized = !pulling || outcome == Outcome::Failed;
    json!({"phase": phase, "conditions": [
            cond("PodReadyToStartContainers", initialized, now, None),
            cond("Initialized", true, now, None),
            cond("Ready", ready, now, reason),
            cond("ContainersReady", ready, now, reason),
            cond("PodScheduled", true, now, None)],
        "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}], "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": start, "containerStatuses": statuses, "qosClass": qos})
}

/// Whether the pod reports Ready.
pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// How long an annotation holds a rollout: `"90s"`, `"5m"`, `"1h"`, or `"true"`/`"forever"`
/// (until released); `None` for anything else (`"false"`, `"released"`, `"0s"`).
pub fn hold_duration(value: &str) -> Option<std::time::Duration> {
    let v = value.trim();
    if v == "true" || v == "forever" {
        return Some(std::time::Duration::MAX);
    }
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        _ => return None,
    };
    (secs > 0).then(|| std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_suffixes_use_the_safe_alphabet() {
        let h = hash(b"{\"spec\":{}}");
        assert!(
            h.len() <= 10 && h.bytes().all(|b| ALPHANUMS.contains(&b)),
            "{h}"
        );
        assert_eq!(h, hash(b"{\"spec\":{}}"));
        let s = suffix();
        assert!(
            s.len() == 5 && s.bytes().all(|b| ALPHANUMS.contains(&b)),
            "{s}"
        );
    }

    #[test]
    fn holds_parse_durations_and_forever() {
        assert_eq!(
            hold_duration("90s"),
            Some(std::time::Duration::from_secs(90))
        );
        assert_eq!(
            hold_duration("5m"),
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(hold_duration("forever"), Some(std::time::Duration::MAX));
        assert_eq!(hold_duration("released"), None);
        assert_eq!(hold_duration("0s"), None);
        assert_eq!(hold_duration("99999999999999999999h"), None);
    }

    #[test]
    fn pods_report_what_the_kubelet_would() {
        let owner = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-abc", "uid": "u1"}});
        let template = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}});
        let mut pod = from_template(
            &owner,
            &template,
            "web-abc-xyz12",
            &json!({"pod-template-hash": "abc"}),
        );
        assert_eq!(
            pod["metadata"]["labels"],
            json!({"app": "web", "pod-template-hash": "abc"})
        );
        assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
        pod["metadata"]["uid"] = json!("p1");
        let running = status(&pod, Outcome::Ready, "t");
        assert_eq!(
            (
                running["phase"].as_str(),
                running["containerStatuses"][0]["ready"].as_bool()
            ),
            (Some("Running"), Some(true))
        );
        pod["status"] = running;
        assert!(is_ready(&pod));
        let pending = status(&pod, Outcome::Unschedulable, "t");
        assert_eq!(pending["conditions"][0]["reason"], "Unschedulable");
        pod["spec"]["containers"][0]["image"] = json!("nginx:broken");
        let pulling = status(&pod, Outcome::Ready, "t");
        assert_eq!(pulling["phase"], "Pending");
        assert_eq!(
            pulling["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ImagePullBackOff"
        );
    }
}
