//! Defaulting, as the v1.36 server does it for the kinds in the recorded transcripts
//! (Deployment, Service, Job, Secret, CRDs and custom resources with schema `default`s) and
//! the pod templates they carry. Only fields the server fills in are touched; what the user
//! set wins.

use serde_json::{Map, Value, json};

fn set_default(obj: &mut Map<String, Value>, key: &str, value: Value) {
    obj.entry(key.to_string()).or_insert(value);
}

/// `imagePullPolicy` defaults to `Always` for `:latest` or untagged images, else `IfNotPresent`.
fn pull_policy(image: &str) -> &'static str {
    let name = image.split('@').next().unwrap_or(image);
    let after_slash = name.rsplit('/').next().unwrap_or(name);
    match after_slash.split_once(':') {
        _ if image.contains('@') => "IfNotPresent",
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn container(c: &mut Value) {
    let Some(c) = c.as_object_mut() else { return };
    set_default(c, "resources", json!({}));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    let policy = pull_policy(c.get("image").and_then(Value::as_str).unwrap_or(""));
    set_default(c, "imagePullPolicy", json!(policy));
    if let Some(Value::Array(ports)) = c.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(p, "protocol", json!("TCP"));
        }
    }
}

/// Defaults of a PodSpec.
pub fn pod_spec(spec: &mut Value) {
    let Some(s) = spec.as_object_mut() else {
        return;
    };
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = s.get_mut(list) {
            cs.iter_mut().for_each(container);
        }
    }
    set_default(s, "restartPolicy", json!("Always"));
    set_default(s, "terminationGracePeriodSeconds", json!(30));
    set_default(s, "dnsPolicy", json!("ClusterFirst"));
    set_default(s, "securityContext", json!({}));
    set_default(s, "schedulerName", json!("default-scheduler"));
}

fn template(spec: &mut Map<String, Value>) {
    if let Some(t) = spec.get_mut("template")
        && let Some(ps) = t.get_mut("spec")
    {
        pod_spec(ps);
    }
}

/// A ClusterIP from 10.96.0.0/12, derived from the object's uid (stable, no allocator state).
fn cluster_ip(uid: &str) -> String {
    let h = uid
        .bytes()
        .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
    let n = 1 + (h % ((1 << 20) - 2));
    format!("10.{}.{}.{}", 96 + (n >> 16), (n >> 8) & 0xff, n & 0xff)
}

/// Applies the server's defaults for `group`/`kind`. `uid` is the object's (new) uid.
pub fn apply(group: &str, kind: &str, obj: &mut Value, uid: &str) {
    let spec_present = obj.get("spec").is_some();
    match (group, kind) {
        ("apps", "Deployment") => {
            let s = obj["spec"].as_object_mut();
            if let Some(s) = s {
                set_default(s, "replicas", json!(1));
                set_default(
                    s,
                    "strategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
                );
                set_default(s, "revisionHistoryLimit", json!(10));
                set_default(s, "progressDeadlineSeconds", json!(600));
                template(s);
            }
            set_status(obj, json!({}));
        }
        ("apps", "StatefulSet") => {
            if let Some(s) = obj["spec"].as_object_mut() {
                set_default(s, "replicas", json!(1));
                set_default(s, "podManagementPolicy", json!("OrderedReady"));
                set_default(
                    s,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                );
                set_default(s, "revisionHistoryLimit", json!(10));
                set_default(
                    s,
                    "persistentVolumeClaimRetentionPolicy",
                    json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
                );
                template(s);
            }
            set_status(obj, json!({"replicas": 0, "availableReplicas": 0}));
        }
        ("apps", "DaemonSet") => {
            if let Some(s) = obj["spec"].as_object_mut() {
                set_default(
                    s,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
                );
                set_default(s, "revisionHistoryLimit", json!(10));
                template(s);
            }
            set_status(
                obj,
                json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}),
            );
        }
        ("apps", "ReplicaSet") => {
            if let Some(s) = obj["spec"].as_object_mut() {
                set_default(s, "replicas", json!(1));
                template(s);
            }
            set_status(obj, json!({"replicas": 0}));
        }
        ("batch", "Job") => job(obj, uid),
        ("batch", "CronJob") => {
            if let Some(s) = obj["spec"].as_object_mut() {
                set_default(s, "concurrencyPolicy", json!("Allow"));
                set_default(s, "suspend", json!(false));
                set_default(s, "successfulJobsHistoryLimit", json!(3));
                set_default(s, "failedJobsHistoryLimit", json!(1));
                if let Some(js) = s
                    .get_mut("jobTemplate")
                    .and_then(|j| j.get_mut("spec"))
                    .and_then(Value::as_object_mut)
                {
                    template(js);
                }
            }
            set_status(obj, json!({}));
        }
        ("", "Pod") if spec_present => {
            pod_spec(&mut obj["spec"]);
        }
        ("", "Service") => service(obj, uid),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj),
        _ => {}
    }
}

fn set_status(obj: &mut Value, status: Value) {
    if let Some(o) = obj.as_object_mut() {
        o.entry("status").or_insert(status);
    }
}

fn job(obj: &mut Value, uid: &str) {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let labels = json!({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name, "controller-uid": uid, "job-name": name});
    let manual = obj["spec"]["manualSelector"].as_bool().unwrap_or(false);
    if let Some(s) = obj["spec"].as_object_mut() {
        set_default(s, "parallelism", json!(1));
        set_default(s, "completions", json!(1));
        set_default(s, "backoffLimit", json!(6));
        set_default(s, "completionMode", json!("NonIndexed"));
        set_default(s, "suspend", json!(false));
        set_default(s, "podReplacementPolicy", json!("TerminatingOrFailed"));
        if !manual {
            set_default(
                s,
                "selector",
                json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
            );
            set_default(s, "manualSelector", json!(false));
            if let Some(tm) = driftless_core::object::ensure_map(
                s.get_mut("template").unwrap_or(&mut Value::Null),
                &["metadata", "labels"],
            ) {
                for (k, v) in labels.as_object().expect("literal") {
                    tm.entry(k.clone()).or_insert(v.clone());
                }
            }
        }
        template(s);
    }
    if !manual && let Some(ml) = driftless_core::object::ensure_map(obj, &["metadata", "labels"]) {
        for (k, v) in labels.as_object().expect("literal") {
            ml.entry(k.clone()).or_insert(v.clone());
        }
    }
    set_status(obj, json!({}));
}

fn service(obj: &mut Value, uid: &str) {
    let ip = cluster_ip(uid);
    if let Some(s) = obj["spec"].as_object_mut() {
        if let Some(Value::Array(ports)) = s.get_mut("ports") {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                set_default(p, "protocol", json!("TCP"));
                if let Some(port) = p.get("port").cloned() {
                    set_default(p, "targetPort", port);
                }
            }
        }
        let kind = s
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        set_default(s, "type", json!(kind));
        if kind != "ExternalName" {
            let headless = s.get("clusterIP").and_then(Value::as_str) == Some("None");
            if !headless {
                set_default(s, "clusterIP", json!(ip));
            }
            let cip = s.get("clusterIP").cloned().unwrap_or(json!(ip));
            set_default(s, "clusterIPs", json!([cip]));
            set_default(s, "ipFamilies", json!(["IPv4"]));
            set_default(s, "ipFamilyPolicy", json!("SingleStack"));
            set_default(s, "internalTrafficPolicy", json!("Cluster"));
        }
        set_default(s, "sessionAffinity", json!("None"));
        if kind == "LoadBalancer" || kind == "NodePort" {
            set_default(s, "externalTrafficPolicy", json!("Cluster"));
        }
    }
    set_status(obj, json!({"loadBalancer": {}}));
}

fn crd(obj: &mut Value) {
    let storage = obj["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["storage"] == true)
        .and_then(|v| v["name"].as_str())
        .map(String::from);
    if let Some(names) = obj["spec"]["names"].as_object_mut() {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        set_default(names, "listKind", json!(format!("{kind}List")));
    }
    if let Some(s) = obj["spec"].as_object_mut() {
        set_default(s, "conversion", json!({"strategy": "None"}));
    }
    set_status(
        obj,
        json!({"conditions": null, "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": storage.into_iter().collect::<Vec<_>>()}),
    );
}

/// Applies `default`s of an OpenAPI v3 schema (a CRD version's `openAPIV3Schema`) to `obj`.
pub fn schema_defaults(schema: &Value, obj: &mut Value) {
    let (Some(props), Some(o)) = (schema["properties"].as_object(), obj.as_object_mut()) else {
        return;
    };
    for (name, sub) in props {
        if !o.contains_key(name)
            && let Some(d) = sub.get("default")
        {
            o.insert(name.clone(), d.clone());
        }
        if let Some(child) = o.get_mut(name) {
            schema_defaults(sub, child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy("busybox"), "Always");
        assert_eq!(pull_policy("reg:5000/app:latest"), "Always");
        assert_eq!(pull_policy("reg:5000/app"), "Always");
        assert_eq!(pull_policy("app@sha256:ab"), "IfNotPresent");
    }

    #[test]
    fn cluster_ips_fall_in_the_service_range() {
        let ip = cluster_ip("f94d107b-3610-4f99-a8aa-6e215aa89c38");
        let parts: Vec<u32> = ip.split('.').map(|p| p.parse().unwrap()).collect();
        assert_eq!(parts[0], 10);
        assert!((96..112).contains(&parts[1]), "{ip}");
    }
}
