//! The other pod-owning controllers and the kubelet: StatefulSets (pods `<name>-<ordinal>`),
//! DaemonSets (one pod per node: the sandbox's one node when pods can run, none otherwise),
//! Jobs (pods until `completions` succeed, or `backoffLimit` is passed), and each pod's
//! status once it has existed for the rollout delay (see `crate::pods`).

use serde_json::{Value, json};

use super::kit::{MANAGER, counts};
use super::workloads::HOLD_ANNOTATION;
use super::{Key, Store, meta_str};
use crate::pods::{self, Outcome};

fn template_hash(obj: &Value) -> String {
    format!(
        "{}-{}",
        meta_str(obj, "name"),
        pods::hash(&serde_json::to_vec(&obj["spec"]["template"]).unwrap_or_default())
    )
}

fn phase_is(p: &Value, phase: &str) -> bool {
    p["status"]["phase"] == phase
}

impl Store {
    /// The StatefulSet controller: pods `<name>-0..replicas`, replaced when their revision is
    /// not the current template's.
    pub(super) fn sync_statefulset(&mut self, k: &Key) {
        let Some(sts) = self.objects.get(k) else {
            return;
        };
        if sts["metadata"].get("deletionTimestamp").is_some() {
            return;
        }
        let (uid, name, ns) = (
            meta_str(&sts, "uid").to_string(),
            meta_str(&sts, "name").to_string(),
            k.2.clone(),
        );
        let want = sts["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
        let rev = template_hash(&sts);
        let pod_t = self.builtin("", "pods");
        for (pk, p) in self.owned(&uid, "", "pods") {
            let ordinal = pk.3.rsplit('-').next().and_then(|o| o.parse::<i64>().ok());
            if ordinal.is_none_or(|o| o >= want)
                || p["metadata"]["labels"]["controller-revision-hash"] != rev.as_str()
            {
                let _ = self.delete(&pod_t, &pk.2, &pk.3, None);
            }
        }
        for i in 0..want {
            let pod_name = format!("{name}-{i}");
            if self.objects.contains(&super::key(&pod_t, &ns, &pod_name)) {
                continue;
            }
            let labels = json!({"controller-revision-hash": rev, "statefulset.kubernetes.io/pod-name": pod_name, "apps.kubernetes.io/pod-index": i.to_string()});
            let mut pod = pods::from_template(&sts, &sts["spec"]["template"], &pod_name, &labels);
            pod["spec"]["hostname"] = json!(pod_name);
            if let Some(svc) = sts["spec"]["serviceName"]
                .as_str()
                .filter(|s| !s.is_empty())
            {
                pod["spec"]["subdomain"] = json!(svc);
            }
            self.controller_create(&pod_t, &ns, pod);
        }
        let owned = self.owned(&uid, "", "pods");
        let n = owned.len() as i64;
        let ready = owned.iter().filter(|(_, p)| pods::is_ready(p)).count() as i64;
        let mut status = json!({"observedGeneration": sts["metadata"]["generation"], "replicas": n, "availableReplicas": ready});
        counts(
            &mut status,
            &[
                ("readyReplicas", ready),
                ("currentReplicas", n),
                ("updatedReplicas", n),
            ],
        );
        status["currentRevision"] = json!(rev);
        status["updateRevision"] = json!(rev);
        status["collisionCount"] = json!(0);
        self.write_status(k, status, &[], MANAGER);
        self.pending.remove(k);
    }

    /// The DaemonSet controller: one pod on the sandbox's node when pods can run.
    pub(super) fn sync_daemonset(&mut self, k: &Key) {
        let Some(ds) = self.objects.get(k) else {
            return;
        };
        if ds["metadata"].get("deletionTimestamp").is_some() {
            return;
        }
        let uid = meta_str(&ds, "uid").to_string();
        let rev = template_hash(&ds);
        let pod_t = self.builtin("", "pods");
        for (pk, p) in self.owned(&uid, "", "pods") {
            if p["metadata"]["labels"]["controller-revision-hash"] != rev.as_str() {
                let _ = self.delete(&pod_t, &pk.2, &pk.3, None);
            }
        }
        let desired = i64::from(self.schedulable);
        let generation = ds["metadata"]["generation"]
            .as_i64()
            .unwrap_or(1)
            .to_string();
        self.scale_pods(
            &ds,
            desired,
            &json!({"controller-revision-hash": rev, "pod-template-generation": generation}),
        );
        let owned = self.owned(&uid, "", "pods");
        let n = owned.len() as i64;
        let ready = owned.iter().filter(|(_, p)| pods::is_ready(p)).count() as i64;
        let mut status = json!({"currentNumberScheduled": n, "desiredNumberScheduled": desired, "numberMisscheduled": 0, "numberReady": ready, "observedGeneration": ds["metadata"]["generation"]});
        counts(
            &mut status,
            &[
                ("updatedNumberScheduled", n),
                ("numberAvailable", ready),
                ("numberUnavailable", desired - ready),
            ],
        );
        self.write_status(k, status, &[], MANAGER);
        self.pending.remove(k);
    }

    /// The Job controller: up to `parallelism` pods at a time until `completions` succeeded;
    /// Failed once more than `backoffLimit` pods failed.
    pub(super) fn sync_job(&mut self, k: &Key) {
        let Some(job) = self.objects.get(k) else {
            return;
        };
        let finished = job["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True");
        if finished || job["metadata"].get("deletionTimestamp").is_some() {
            return;
        }
        let uid = meta_str(&job, "uid").to_string();
        let spec = &job["spec"];
        let completions = spec["completions"].as_i64().unwrap_or(1);
        let parallelism = spec["parallelism"].as_i64().unwrap_or(1);
        let backoff = spec["backoffLimit"].as_i64().unwrap_or(6);
        let owned = self.owned(&uid, "", "pods");
        let succeeded = owned
            .iter()
            .filter(|(_, p)| phase_is(p, "Succeeded"))
            .count() as i64;
        let failed = owned.iter().filter(|(_, p)| phase_is(p, "Failed")).count() as i64;
        let mut active = owned.len() as i64 - succeeded - failed;
        let done = succeeded >= completions;
        let gave_up = failed > backoff;
        if !done && !gave_up && spec["suspend"] != true {
            let room = parallelism.min(completions - succeeded) - active;
            if room > 0 {
                self.scale_pods(&job, owned.len() as i64 + room, &json!({}));
                active += room;
            }
        }
        let now = crate::meta::now();
        let start = job["status"]["startTime"]
            .as_str()
            .unwrap_or(&now)
            .to_string();
        let ready = self
            .owned(&uid, "", "pods")
            .iter()
            .filter(|(_, p)| pods::is_ready(p))
            .count();
        let mut status = json!({"startTime": start});
        let cond = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": reason, "message": message});
        if done {
            status["completionTime"] = json!(now);
            status["conditions"] = json!([
                cond(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods"
                ),
                cond(
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods"
                )
            ]);
            active = 0;
        } else if gave_up {
            status["conditions"] = json!([
                cond(
                    "FailureTarget",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit"
                ),
                cond(
                    "Failed",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit"
                )
            ]);
            active = 0;
        }
        counts(
            &mut status,
            &[
                ("active", active),
                ("succeeded", succeeded),
                ("failed", failed),
            ],
        );
        status["ready"] = json!(if done || gave_up { 0 } else { ready });
        status["terminating"] = json!(0);
        status["uncountedTerminatedPods"] = json!({});
        self.write_status(k, status, &[], MANAGER);
        self.pending.remove(k);
    }

    /// What the pod's containers do: nothing without a node, fail or succeed for a Job,
    /// stay unready while its Deployment's rollout is held, else run and turn Ready. With
    /// the time to look again (a hold ending).
    fn pod_outcome(&self, pod: &Value) -> (Outcome, Option<tokio::time::Instant>) {
        if !self.schedulable {
            return (Outcome::Unschedulable, None);
        }
        let owner = pods::controller_uid(pod)
            .and_then(|u| self.objects.key_of_uid(u))
            .and_then(|k| self.objects.get(&k));
        let Some(owner) = owner else {
            return (Outcome::Ready, None);
        };
        let broken = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| pods::broken_image(c["image"].as_str().unwrap_or_default()));
        match owner["kind"].as_str() {
            Some("Job") if broken => (Outcome::Failed, None),
            Some("Job") => (Outcome::Succeeded, None),
            Some("ReplicaSet") => self.held(&owner),
            _ => (Outcome::Ready, None),
        }
    }

    /// Whether the pods of ReplicaSet `rs` are held unready, and until when.
    fn held(&self, rs: &Value) -> (Outcome, Option<tokio::time::Instant>) {
        let of_deployment = rs["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["kind"] == "Deployment");
        let hold = match rs["metadata"]["annotations"][HOLD_ANNOTATION].as_str() {
            Some(v) => pods::hold_duration(v),
            None => self.rollout_hold,
        };
        let uid = meta_str(rs, "uid");
        let (Some(hold), true) = (hold, of_deployment) else {
            return (Outcome::Ready, None);
        };
        if self.released.contains(uid) {
            return (Outcome::Ready, None);
        }
        let since = self
            .progress
            .get(uid)
            .copied()
            .unwrap_or_else(tokio::time::Instant::now);
        if since.elapsed() >= hold {
            return (Outcome::Ready, None);
        }
        (Outcome::NotReady, since.checked_add(hold))
    }

    /// The scheduler and kubelet for one pod: bound to the node, then its status.
    pub(super) fn sync_pod(&mut self, k: &Key) {
        let Some(pod) = self.objects.get(k) else {
            return;
        };
        if pod["metadata"].get("deletionTimestamp").is_some() {
            return;
        }
        let (outcome, again) = self.pod_outcome(&pod);
        if outcome != Outcome::Unschedulable && pod["spec"]["nodeName"].is_null() {
            // Binding: the scheduler's write of spec.nodeName.
            let mut bound = pod.clone();
            bound["spec"]["nodeName"] = json!(pods::NODE);
            if let Some(t) = self.type_of(k) {
                let rv = self.bump();
                bound["metadata"]["resourceVersion"] = json!(rv.to_string());
                self.put("MODIFIED", &t, k.clone(), &bound);
            }
        }
        let Some(pod) = self.objects.get(k) else {
            return;
        };
        let status = pods::status(&pod, outcome, &crate::meta::now());
        self.write_status(k, status, &[], "kubelet");
        self.pending.remove(k);
        if let Some(at) = again {
            self.pending.insert(k.clone(), at);
        }
    }

    /// Lets held rollouts finish: those of the Deployments matching `namespace` and `name`
    /// (`None` matches any). Returns how many ReplicaSets were released.
    pub fn release_rollouts(&mut self, namespace: Option<&str>, name: Option<&str>) -> usize {
        let deployments: Vec<Key> = self
            .objects
            .of_type("apps", "deployments")
            .map(|(k, _)| k.clone())
            .filter(|k| namespace.is_none_or(|n| n == k.2) && name.is_none_or(|n| n == k.3))
            .collect();
        let mut released = 0;
        for dk in deployments {
            let Some(d) = self.objects.get(&dk) else {
                continue;
            };
            for (rk, rs) in self.owned(meta_str(&d, "uid"), "apps", "replicasets") {
                if self.released.insert(meta_str(&rs, "uid").to_string()) {
                    released += 1;
                }
                for pk in self.objects.dependents_of(meta_str(&rs, "uid")) {
                    self.wake(pk);
                }
                self.wake(rk);
            }
        }
        released
    }
}
