//! The Deployment and ReplicaSet controllers, as kube-controller-manager runs them: a
//! Deployment owns one ReplicaSet per pod template (`<name>-<pod-template-hash>`, the hash
//! also a label and part of the selector), numbered by the `deployment.kubernetes.io/revision`
//! annotation, carrying the Deployment's annotations; old ReplicaSets are scaled to 0 once
//! the new one is available and pruned beyond `revisionHistoryLimit`. ReplicaSets own their
//! pods. A rollout can be held Progressing (`Store::rollout_hold`, or the annotation
//! [`HOLD_ANNOTATION`]) until its time is up or it is released.

use serde_json::{Map, Value, json};

use super::kit::{MANAGER, counts};
use super::{Key, Store, meta_str};
use crate::pods;

/// Holds each rollout of a Deployment Progressing: `"90s"`, `"5m"`, `"forever"`.
pub const HOLD_ANNOTATION: &str = "sandbox.driftless.dev/hold-rollout";
const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";
/// Annotations the Deployment controller does not copy to its ReplicaSets.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

fn revision(obj: &Value) -> u64 {
    obj["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// `25%` of `of`, rounded up (surge) or down (unavailable), or an absolute number.
fn scaled(v: &Value, of: i64, up: bool) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => {
            let p: i64 = s.trim_end_matches('%').parse().unwrap_or(25);
            if up {
                (of * p + 99) / 100
            } else {
                of * p / 100
            }
        }
        _ => 0,
    }
}

/// The new ReplicaSet's annotations: the Deployment's (minus those never copied), plus the
/// revision and the replica bounds the controller records.
fn replica_set_annotations(d: &Value, rev: u64) -> Map<String, Value> {
    let mut a: Map<String, Value> = d["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let n = replicas(d);
    let surge = scaled(&d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], n, true);
    a.insert(
        "deployment.kubernetes.io/desired-replicas".into(),
        json!(n.to_string()),
    );
    a.insert(
        "deployment.kubernetes.io/max-replicas".into(),
        json!((n + surge).to_string()),
    );
    a.insert(REVISION.into(), json!(rev.to_string()));
    a
}

fn available(rs: &Value) -> i64 {
    rs["status"]["availableReplicas"].as_i64().unwrap_or(0)
}

fn condition(kind: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": kind, "status": status, "lastUpdateTime": now, "lastTransitionTime": now, "reason": reason, "message": message})
}

impl Store {
    /// The Deployment controller's pass over one Deployment.
    pub(super) fn sync_deployment(&mut self, k: &Key) {
        let Some(d) = self.objects.get(k) else { return };
        if d["metadata"].get("deletionTimestamp").is_some() {
            return;
        }
        let new_key = self.ensure_new_replica_set(&d);
        if let Some(nk) = &new_key {
            self.sync_replicaset(nk);
        }
        let uid = meta_str(&d, "uid").to_string();
        let new_rs = new_key.as_ref().and_then(|nk| self.objects.get(nk));
        let complete = new_rs.as_ref().is_some_and(|r| {
            available(r) >= replicas(&d) && r["status"]["replicas"].as_i64() == Some(replicas(&d))
        });
        let recreate = d["spec"]["strategy"]["type"] == "Recreate";
        let rs_t = self.builtin("apps", "replicasets");
        let mut old: Vec<(Key, Value)> = self
            .owned(&uid, "apps", "replicasets")
            .into_iter()
            .filter(|(rk, _)| Some(rk) != new_key.as_ref())
            .collect();
        if (complete || recreate) && d["spec"]["paused"] != true {
            for (ok, o) in &old {
                if replicas(o) != 0 {
                    let mut scaled = o.clone();
                    scaled["spec"]["replicas"] = json!(0);
                    self.controller_update(&rs_t, o, scaled);
                    self.sync_replicaset(ok);
                }
            }
        }
        // Keep revisionHistoryLimit old (scaled-down) ReplicaSets, the newest ones.
        old.sort_by_key(|(_, o)| revision(o));
        let limit = d["spec"]["revisionHistoryLimit"]
            .as_i64()
            .unwrap_or(10)
            .max(0) as usize;
        let idle: Vec<&(Key, Value)> = old
            .iter()
            .filter(|(ok, _)| self.objects.get(ok).is_some_and(|o| replicas(&o) == 0))
            .collect();
        for (ok, _) in idle.iter().take(idle.len().saturating_sub(limit)) {
            let _ = self.delete(&rs_t, &ok.2, &ok.3, Some("Background"));
        }
        self.deployment_status(k, &d, new_key.as_ref());
    }

    /// The ReplicaSet of the Deployment's current template: found by its hash, created with
    /// the next revision when missing, brought up to date (revision after a rollback,
    /// annotations, replicas) when found. `None` while the Deployment is paused.
    fn ensure_new_replica_set(&mut self, d: &Value) -> Option<Key> {
        let uid = meta_str(d, "uid");
        let ns = meta_str(d, "namespace").to_string();
        let rss = self.owned(uid, "apps", "replicasets");
        let hash = pods::hash(&serde_json::to_vec(&d["spec"]["template"]).unwrap_or_default());
        let max_rev = rss.iter().map(|(_, r)| revision(r)).max().unwrap_or(0);
        let found = rss
            .iter()
            .find(|(_, r)| r["metadata"]["labels"][HASH_LABEL] == hash.as_str());
        let paused = d["spec"]["paused"] == true;
        let rs_t = self.builtin("apps", "replicasets");
        match found {
            None if paused => None,
            None => {
                let mut template = d["spec"]["template"].clone();
                template["metadata"]["labels"][HASH_LABEL] = json!(hash);
                let mut selector = d["spec"]["selector"].clone();
                selector["matchLabels"][HASH_LABEL] = json!(hash);
                let mut labels = d["spec"]["template"]["metadata"]["labels"].clone();
                labels[HASH_LABEL] = json!(hash);
                let name = format!("{}-{hash}", meta_str(d, "name"));
                let mut spec =
                    json!({"replicas": replicas(d), "selector": selector, "template": template});
                if let Some(m) = d["spec"]["minReadySeconds"].as_i64() {
                    spec["minReadySeconds"] = json!(m);
                }
                let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": name, "namespace": ns, "labels": labels,
                        "annotations": replica_set_annotations(d, max_rev + 1),
                        "ownerReferences": [pods::controller_ref(d)]},
                    "spec": spec});
                let made = self.controller_create(&rs_t, &ns, rs)?;
                self.progress.insert(
                    meta_str(&made, "uid").to_string(),
                    tokio::time::Instant::now(),
                );
                Some(super::key(&rs_t, &ns, &name))
            }
            Some((rk, r)) => {
                let rev = if revision(r) < max_rev {
                    max_rev + 1
                } else {
                    revision(r)
                };
                let mut want = r.clone();
                let annotations = replica_set_annotations(d, rev);
                let hold_changed = want["metadata"]["annotations"][HOLD_ANNOTATION]
                    != annotations
                        .get(HOLD_ANNOTATION)
                        .cloned()
                        .unwrap_or(Value::Null);
                want["metadata"]["annotations"] = Value::Object(annotations);
                if !paused {
                    want["spec"]["replicas"] = json!(replicas(d));
                }
                if rev != revision(r) {
                    // Rolled back to this template: the rollout starts again.
                    self.progress
                        .insert(meta_str(r, "uid").to_string(), tokio::time::Instant::now());
                }
                if want != *r {
                    self.controller_update(&rs_t, r, want);
                }
                if hold_changed {
                    // A hold set or lifted: the pods' readiness follows.
                    for pk in self.objects.dependents_of(meta_str(r, "uid")) {
                        self.wake(pk);
                    }
                }
                Some(rk.clone())
            }
        }
    }

    /// Writes the Deployment's status from its ReplicaSets, and its revision annotation.
    fn deployment_status(&mut self, k: &Key, d: &Value, new_key: Option<&Key>) {
        let uid = meta_str(d, "uid");
        let rss: Vec<Value> = self
            .owned(uid, "apps", "replicasets")
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        let new_rs = new_key.and_then(|nk| self.objects.get(nk));
        let want = replicas(d);
        let sum = |f: &str| {
            rss.iter()
                .map(|r| r["status"][f].as_i64().unwrap_or(0))
                .sum::<i64>()
        };
        let (total, ready, avail) = (
            sum("replicas"),
            sum("readyReplicas"),
            sum("availableReplicas"),
        );
        let updated = new_rs
            .as_ref()
            .map_or(0, |r| r["status"]["replicas"].as_i64().unwrap_or(0));
        let now = crate::meta::now();
        let max_unavailable = if d["spec"]["strategy"]["type"] == "Recreate" {
            0
        } else {
            scaled(
                &d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
                want,
                false,
            )
        };
        let available = if avail >= want - max_unavailable {
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                &now,
            )
        } else {
            condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                &now,
            )
        };
        let rs_name = new_rs
            .as_ref()
            .map_or("", |r| meta_str(r, "name"))
            .to_string();
        let rs_uid = new_rs
            .as_ref()
            .map_or("", |r| meta_str(r, "uid"))
            .to_string();
        let complete = updated == want && avail >= want && total == want;
        let broken = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| pods::broken_image(c["image"].as_str().unwrap_or_default()));
        let deadline = std::time::Duration::from_secs(
            d["spec"]["progressDeadlineSeconds"].as_u64().unwrap_or(600),
        );
        let since = self
            .progress
            .get(&rs_uid)
            .copied()
            .unwrap_or_else(tokio::time::Instant::now);
        let timed_out = since.elapsed() >= deadline;
        let progressing = if d["spec"]["paused"] == true {
            condition(
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
                &now,
            )
        } else if complete {
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                &now,
            )
        } else if broken || timed_out {
            // A `:broken` image is known never to pull: its deadline is not waited for.
            condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
                &now,
            )
        } else {
            condition(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{rs_name}\" is progressing."),
                &now,
            )
        };
        let mut status = json!({"observedGeneration": d["metadata"]["generation"]});
        counts(
            &mut status,
            &[
                ("replicas", total),
                ("updatedReplicas", updated),
                ("readyReplicas", ready),
                ("availableReplicas", avail),
                ("unavailableReplicas", (want - avail).max(0)),
            ],
        );
        status["terminatingReplicas"] = json!(0);
        status["conditions"] = json!([available, progressing]);
        let rev = new_rs.as_ref().map(revision).filter(|r| *r > 0);
        let annotations: Vec<(&str, String)> =
            rev.map(|r| (REVISION, r.to_string())).into_iter().collect();
        self.write_status(k, status, &annotations, MANAGER);
        self.pending.remove(k);
        if !complete
            && !broken
            && !timed_out
            && let Some(at) = since.checked_add(deadline)
        {
            // Look again when the deadline passes.
            self.pending.insert(k.clone(), at);
        }
    }

    /// The ReplicaSet controller's pass: as many pods as `spec.replicas`, and the status.
    pub(super) fn sync_replicaset(&mut self, k: &Key) {
        let Some(rs) = self.objects.get(k) else {
            return;
        };
        if rs["metadata"].get("deletionTimestamp").is_some() {
            return;
        }
        let uid = meta_str(&rs, "uid").to_string();
        self.progress
            .entry(uid.clone())
            .or_insert_with(tokio::time::Instant::now);
        let hash = rs["metadata"]["labels"][HASH_LABEL].clone();
        let extra = if hash.is_string() {
            json!({HASH_LABEL: hash})
        } else {
            json!({})
        };
        self.scale_pods(&rs, replicas(&rs), &extra);
        let owned = self.owned(&uid, "", "pods");
        let ready = owned.iter().filter(|(_, p)| pods::is_ready(p)).count() as i64;
        let n = owned.len() as i64;
        let mut status = json!({"replicas": n});
        counts(
            &mut status,
            &[
                ("fullyLabeledReplicas", n),
                ("readyReplicas", ready),
                ("availableReplicas", ready),
            ],
        );
        status["observedGeneration"] = rs["metadata"]["generation"].clone();
        status["terminatingReplicas"] = json!(0);
        self.write_status(k, status, &[], MANAGER);
        self.pending.remove(k);
    }

    /// Creates or deletes pods of `owner` (named `<owner>-<suffix>`) until it has `want`;
    /// unready pods go first, as the ReplicaSet controller prefers.
    pub(super) fn scale_pods(&mut self, owner: &Value, want: i64, labels: &Value) {
        let uid = meta_str(owner, "uid");
        let ns = meta_str(owner, "namespace").to_string();
        let mut have = self.owned(uid, "", "pods");
        let pod_t = self.builtin("", "pods");
        let mut n = have.len() as i64;
        while n < want {
            let name = format!("{}-{}", meta_str(owner, "name"), pods::suffix());
            let pod = pods::from_template(owner, &owner["spec"]["template"], &name, labels);
            if self.controller_create(&pod_t, &ns, pod).is_none() {
                break;
            }
            n += 1;
        }
        if n > want {
            have.sort_by_key(|(_, p)| pods::is_ready(p));
            for (pk, _) in have.iter().take((n - want) as usize) {
                let _ = self.delete(&pod_t, &pk.2, &pk.3, None);
            }
        }
    }
}
