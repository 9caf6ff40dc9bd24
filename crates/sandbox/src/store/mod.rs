//! The sandbox's state: every object, the resource version counter, and the event history
//! watches replay from. Operations mirror the API server's verbs and answer with the same
//! objects and errors; the HTTP layer only translates.

use std::collections::{BTreeMap, VecDeque};

use axum::body::Bytes;
use serde_json::{Value, json};

use crate::apply;
use crate::meta;
use crate::registry::{Registry, ResourceType};
use crate::status::ApiError;
use crate::validate;

mod admission;
use admission::{convert_on_write, defaults_on_create};
mod controllers;
mod endpoints;
mod kit;
mod objects;
mod podsets;
mod workloads;
use objects::Objects;
pub use workloads::HOLD_ANNOTATION;
mod persist;
pub use persist::State;
mod read;
mod subresource;

/// Events kept for watches to resume from by default; older resourceVersions get `410 Gone`.
const HISTORY: usize = 10_000;

/// What the sandbox publishes where a cluster publishes its CA bundle (it has no CA of its
/// own to hand out; clients trust it through their kubeconfig).
const SANDBOX_CA: &str =
    "-----BEGIN CERTIFICATE-----\n(driftless sandbox)\n-----END CERTIFICATE-----\n";

/// One change, as a watch reports it.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub rv: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
    /// The `apiVersion` the object was written as (the one in `object`).
    pub api_version: String,
    /// The object's JSON, shared with the store and every watcher: serialized once.
    pub object: Bytes,
}

/// group, plural, namespace, name.
type Key = (String, String, String, String);

pub struct Store {
    pub registry: Registry,
    /// How long a workload exists before its simulated rollout completes.
    pub rollout_delay: std::time::Duration,
    /// Whether pods can run. False models a cluster without nodes (the recorded one):
    /// rollouts stay Progressing with every replica unavailable; Jobs never finish.
    pub schedulable: bool,
    /// Every Deployment rollout stays Progressing this long (see `SandboxOptions`).
    pub rollout_hold: Option<std::time::Duration>,
    /// Per ReplicaSet uid: when its rollout started (for holds and progress deadlines; on
    /// tokio's clock, so a paused test clock moves it).
    progress: std::collections::HashMap<String, tokio::time::Instant>,
    /// ReplicaSets whose held rollout was released (`Store::release_rollouts`).
    released: std::collections::HashSet<String>,
    /// Objects their controller should look at, and from when.
    pending: BTreeMap<Key, tokio::time::Instant>,
    /// Namespaces being deleted, and since when: a real namespace stays Terminating while
    /// its controller empties it, so the sandbox keeps it for at least the rollout delay.
    terminating: std::collections::HashMap<String, std::time::Instant>,
    objects: Objects,
    rv: u64,
    history: VecDeque<std::sync::Arc<WatchEvent>>,
    /// How many events `history` keeps (like etcd's compaction window).
    pub history_limit: usize,
    /// Events with rv <= this were dropped from `history`.
    compacted: u64,
    /// With `--data`: where every change is appended before it is acknowledged.
    pub journal: Option<std::sync::Arc<crate::journal::Journal>>,
    /// The newest resourceVersion: watches wake on it and read `history` themselves, so a
    /// burst of writes holds no second copy of its events in a channel.
    pub latest: tokio::sync::watch::Sender<u64>,
}

/// How a server-side apply request was made.
#[derive(Debug, Default, Clone)]
pub struct ApplyOptions {
    /// The `fieldManager` parameter (required).
    pub manager: String,
    /// `force=true`: take over conflicting fields.
    pub force: bool,
    /// `dryRun=All`: answer without storing.
    pub dry_run: bool,
}

/// Who owns the fields of a newly created object.
enum Ownership<'a> {
    /// An Update operation by this manager ("" records no ownership).
    Update(&'a str),
    /// A server-side apply that computed these managed fields.
    Applied(&'a [apply::Managed]),
}

/// List filters.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

fn key(t: &ResourceType, ns: &str, name: &str) -> Key {
    (
        t.group.clone(),
        t.plural.clone(),
        if t.namespaced {
            ns.to_string()
        } else {
            String::new()
        },
        name.to_string(),
    )
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

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

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Stores `obj` (as served) under `k` and tells watches.
    fn put(&mut self, kind: &'static str, t: &ResourceType, k: Key, obj: &Value) {
        let journal_key = self.journal.is_some().then(|| k.clone());
        let bytes = self.objects.insert(k, obj);
        if let (Some(j), Some(k)) = (&self.journal, journal_key) {
            j.append(self.rv, [&k.0, &k.1, &k.2, &k.3], Some(&bytes));
        }
        self.record_bytes(kind, &t.group, &t.plural, obj, bytes);
    }

    /// Tells watches that `obj` (no longer stored) was deleted.
    fn record_deleted(&mut self, group: &str, plural: &str, obj: &Value) {
        if let Some(j) = &self.journal {
            let ns = meta_str(obj, "namespace");
            j.append(self.rv, [group, plural, ns, meta_str(obj, "name")], None);
        }
        let bytes = Bytes::from(serde_json::to_vec(obj).expect("JSON serializes"));
        self.record_bytes("DELETED", group, plural, obj, bytes);
    }

    /// Appends to the watch history (bounded) and wakes live watches.
    fn record_bytes(
        &mut self,
        kind: &'static str,
        group: &str,
        plural: &str,
        obj: &Value,
        object: Bytes,
    ) {
        let key = (
            group.to_string(),
            plural.to_string(),
            meta_str(obj, "namespace").to_string(),
            meta_str(obj, "name").to_string(),
        );
        if kind == "DELETED" {
            self.pending.remove(&key);
        } else {
            let due = tokio::time::Instant::now() + controllers::delay(self, group, plural);
            self.pending.insert(key.clone(), due);
        }
        self.wake_watchers(group, plural, obj);
        let (group, plural, namespace, name) = key;
        self.history.push_back(std::sync::Arc::new(WatchEvent {
            rv: self.rv,
            kind,
            group,
            plural,
            namespace,
            name,
            api_version: obj["apiVersion"].as_str().unwrap_or_default().to_string(),
            object,
        }));
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        self.latest.send_replace(self.rv);
    }

    fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// The object as served for `t`'s version.
    fn served(t: &ResourceType, mut obj: Value) -> Value {
        obj["apiVersion"] = json!(t.api_version());
        obj["kind"] = json!(t.kind);
        obj
    }

    fn namespace_state(&self, ns: &str) -> Option<Value> {
        self.objects.get(&(
            String::new(),
            "namespaces".into(),
            String::new(),
            ns.to_string(),
        ))
    }

    /// The stored object and its key, or the server's NotFound.
    fn existing(&self, t: &ResourceType, ns: &str, name: &str) -> Result<(Key, Value), ApiError> {
        let k = key(t, ns, name);
        let obj = self
            .objects
            .get(&k)
            .ok_or_else(|| ApiError::not_found(t, name))?;
        Ok((k, obj))
    }

    /// POST: creates an object (201). `dry_run` validates and returns without storing.
    pub fn create(
        &mut self,
        t: &ResourceType,
        ns: &str,
        obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        self.create_as(t, ns, obj, dry_run, "")
    }

    /// POST on behalf of field manager `manager` (recorded as an Update; "" records nothing).
    pub fn create_as(
        &mut self,
        t: &ResourceType,
        ns: &str,
        obj: Value,
        dry_run: bool,
        manager: &str,
    ) -> Result<Value, ApiError> {
        self.create_with_uid(t, ns, obj, dry_run, Ownership::Update(manager), meta::uid())
    }

    /// Creation with the uid chosen by the caller (server-side apply defaults before creating,
    /// and a Job's defaults contain its uid).
    fn create_with_uid(
        &mut self,
        t: &ResourceType,
        ns: &str,
        mut obj: Value,
        dry_run: bool,
        ownership: Ownership,
        uid: String,
    ) -> Result<Value, ApiError> {
        Self::check_type(t, &obj)?;
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        let mut name = meta_str(&obj, "name").to_string();
        if name.is_empty() {
            let prefix = meta_str(&obj, "generateName").to_string();
            if prefix.is_empty() {
                return Err(ApiError::BadRequest(
                    "name or generateName is required".into(),
                ));
            }
            name = format!("{prefix}{}", crate::pods::suffix());
            obj["metadata"]["name"] = json!(name);
        }
        self.admit_namespace(t, ns, &mut obj, &name)?;
        let k = key(t, ns, &name);
        if self.objects.contains(&k) {
            return Err(ApiError::already_exists(t, &name));
        }
        Self::check_types(t, &obj)?;
        if t.crd.is_some() && t.subresources.iter().any(|s| s == "status") {
            // Status is written through its subresource only: ignored on create.
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
        defaults_on_create(t, &mut obj);
        self.default(t, &mut obj, &uid);
        Self::check_valid(t, &obj)?;
        {
            let m = obj["metadata"].as_object_mut().expect("metadata is a map");
            m.insert("uid".into(), json!(uid));
            m.insert("creationTimestamp".into(), json!(meta::now()));
            for f in [
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
                "selfLink",
            ] {
                m.remove(f);
            }
            if obj.get("spec").is_some()
                && !matches!(
                    (t.group.as_str(), t.kind.as_str()),
                    (
                        "",
                        "Namespace" | "Service" | "PersistentVolumeClaim" | "PersistentVolume"
                    )
                )
            {
                obj["metadata"]["generation"] = json!(1);
            }
        }
        match ownership {
            Ownership::Update("") => {}
            Ownership::Update(manager) => {
                let def = apply::definition(&obj, t.crd.is_some());
                let managed = apply::record_update(None, &obj, manager, def);
                apply::set_managed(&mut obj, &managed);
            }
            Ownership::Applied(managed) => apply::set_managed(&mut obj, managed),
        }
        if dry_run {
            return Ok(Self::served(t, obj));
        }
        let rv = self.bump();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let obj = Self::served(t, obj);
        self.put("ADDED", t, k, &obj);
        self.after_create(t, &obj);
        Ok(obj)
    }

    /// What the cluster's controllers do right after some creations.
    fn after_create(&mut self, t: &ResourceType, obj: &Value) {
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

    /// PUT: replaces an object, with optimistic concurrency on `metadata.resourceVersion`.
    pub fn update(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        mut obj: Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        Self::check_type(t, &obj)?;
        let (k, old) = self.existing(t, ns, name)?;
        if meta_str(&obj, "name") != name {
            return Err(ApiError::BadRequest(
                "the name of the object does not match the name on the URL".into(),
            ));
        }
        let sent_rv = meta_str(&obj, "resourceVersion");
        if !sent_rv.is_empty() && sent_rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict(t, name));
        }
        self.admit_namespace_for_update(t, ns, &mut obj)?;
        let managed = self.updated_fields(t, &old, &obj, manager);
        self.replace(t, k, &old, obj, managed)
    }

    /// Field ownership after an Update operation by `manager` ("" leaves it as it was).
    fn updated_fields(
        &self,
        t: &ResourceType,
        old: &Value,
        new: &Value,
        manager: &str,
    ) -> Option<Vec<apply::Managed>> {
        (!manager.is_empty()).then(|| {
            apply::record_update(
                Some(old),
                new,
                manager,
                apply::definition(old, t.crd.is_some()),
            )
        })
    }

    /// Stores `new` in place of `old`, keeping server-owned fields, bumping generation when
    /// the spec changed, keeping status when the type has a status subresource.
    fn replace(
        &mut self,
        t: &ResourceType,
        k: Key,
        old: &Value,
        new: Value,
        managed: Option<Vec<apply::Managed>>,
    ) -> Result<Value, ApiError> {
        self.replace_or_try(t, k, old, new, managed, false)
    }

    /// [`Store::replace`], or with `dry_run` everything it would answer without storing
    /// (a dry run's answer shows the new generation too, as in transcript 03).
    fn replace_or_try(
        &mut self,
        t: &ResourceType,
        k: Key,
        old: &Value,
        mut new: Value,
        managed: Option<Vec<apply::Managed>>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
        ] {
            match old["metadata"].get(f) {
                Some(v) => new["metadata"][f] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(f);
                    }
                }
            }
        }
        if let Some(managed) = managed {
            apply::set_managed(&mut new, &managed);
        }
        let uid = meta_str(old, "uid").to_string();
        Self::check_types(t, &new)?;
        convert_on_write(t, &mut new);
        self.default(t, &mut new, &uid);
        Self::check_valid(t, &new)?;
        if t.subresources.iter().any(|s| s == "status") {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        if old.get("spec") != new.get("spec")
            && let Some(g) = old["metadata"]["generation"].as_i64()
        {
            new["metadata"]["generation"] = json!(g + 1);
        }
        if new == *old {
            return Ok(old.clone());
        }
        if dry_run {
            return Ok(Self::served(t, new));
        }
        let rv = self.bump();
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        let new = Self::served(t, new);
        self.put("MODIFIED", t, k, &new);
        if t.kind == "CustomResourceDefinition" {
            self.registry.add_crd(&new);
        }
        Ok(new)
    }

    /// PATCH with a JSON merge patch or a JSON patch.
    pub fn patch(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        content_type: &str,
        body: &Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let (k, old, new) = self.patched(t, ns, name, content_type, body)?;
        let managed = self.updated_fields(t, &old, &new, manager);
        self.replace(t, k, &old, new, managed)
    }

    /// The object at `name` with a (non-apply) patch applied, not stored: key, old, new.
    fn patched(
        &self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        content_type: &str,
        body: &Value,
    ) -> Result<(Key, Value, Value), ApiError> {
        let (k, old) = self.existing(t, ns, name)?;
        let mut new = old.clone();
        match content_type {
            "application/merge-patch+json" => json_patch::merge(&mut new, body),
            "application/strategic-merge-patch+json" => {
                // As on a real server: only built-in types have the schema strategic merge needs.
                let def = t
                    .crd
                    .is_none()
                    .then(|| driftless_core::strategic::definition_of(&old))
                    .flatten();
                if def.is_none() {
                    return Err(ApiError::UnsupportedMediaType(format!(
                        "strategic merge patch is not supported for {}; use a merge patch",
                        t.qualified()
                    )));
                }
                if driftless_core::strategic::apply(&mut new, body, def)
                    .map_err(|e| ApiError::BadRequest(format!("{}: {}", e.field, e.message)))?
                    == driftless_core::strategic::Outcome::Delete
                {
                    return Err(ApiError::BadRequest(
                        "$patch: delete is not allowed on a whole object".into(),
                    ));
                }
            }
            "application/json-patch+json" => {
                let p: json_patch::Patch = serde_json::from_value(body.clone())
                    .map_err(|e| ApiError::BadRequest(format!("invalid JSON patch: {e}")))?;
                json_patch::patch(&mut new, &p).map_err(|e| {
                    ApiError::BadRequest(format!(
                        "the server rejected our request due to an error in our request: {e}"
                    ))
                })?;
            }
            other => {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other})"
                )));
            }
        }
        let sent_rv = meta_str(&new, "resourceVersion");
        if !sent_rv.is_empty() && sent_rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict(t, name));
        }
        if meta_str(&new, "name") != name {
            return Err(ApiError::BadRequest(
                "metadata.name cannot be changed by a patch".into(),
            ));
        }
        Ok((k, old, new))
    }

    /// PATCH `application/apply-patch+yaml`: server-side apply as `manager`. Creates the
    /// object when absent (201), else merges (200); conflicts are a 409 unless `force`.
    pub fn apply(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        applied: Value,
        opts: &ApplyOptions,
    ) -> Result<(u16, Value), ApiError> {
        let (manager, force, dry_run) = (opts.manager.as_str(), opts.force, opts.dry_run);
        Self::check_type(t, &applied)?;
        if manager.is_empty() {
            return Err(ApiError::BadRequest(
                "PATCH, application/apply-patch+yaml requires fieldManager to be set".into(),
            ));
        }
        let applied_name = meta_str(&applied, "name");
        if applied_name != name {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({applied_name}) does not match the name on the URL ({name})"
            )));
        }
        let def = apply::definition(&applied, t.crd.is_some());
        // The server names the object as `namespace/name; group/version, Kind=K`.
        let who = format!(
            "{}/{name}; {}/{}, Kind={}",
            if t.namespaced { ns } else { "" },
            t.group,
            t.version,
            t.kind
        );
        if let Some(e) = validate::type_error(&applied, def) {
            return Err(ApiError::Internal(format!(
                "failed to create typed patch object ({who}): {e}"
            )));
        }
        // Bytes fields are plain strings to the typed patch; only the conversion of the
        // merged object back to a Secret decodes them (structuredmerge.go).
        if let Some(e) = admission::secret_data_error(t, &applied) {
            return Err(ApiError::Internal(format!(
                "failed to convert new object ({who}) to proper version: error decoding from json: {e}"
            )));
        }
        let k = key(t, ns, name);
        let live = self.objects.get(&k);
        let mut defaulted = applied.clone();
        let uid = live
            .as_ref()
            .map(|l| meta_str(l, "uid").to_string())
            .unwrap_or_else(meta::uid);
        self.default(t, &mut defaulted, &uid);
        let outcome = apply::apply(live.as_ref(), &applied, &defaulted, manager, force, def)
            .map_err(|conflicts| ApiError::ApplyConflict {
                message: apply::conflict_message(&conflicts),
                causes: conflicts
                    .iter()
                    .map(|c| {
                        (
                            format!("conflict with \"{}\" using {}", c.manager, c.api_version),
                            c.path.clone(),
                        )
                    })
                    .collect(),
            })?;
        let object = outcome.object;
        match live {
            None => {
                let created = self.create_with_uid(
                    t,
                    ns,
                    object,
                    dry_run,
                    Ownership::Applied(&outcome.managed),
                    uid,
                )?;
                Ok((201, created))
            }
            Some(old) => self
                .replace_or_try(t, k, &old, object, Some(outcome.managed), dry_run)
                .map(|v| (200, v)),
        }
    }

    /// DELETE. Objects with finalizers (or a foreground deletion) only get a deletion
    /// timestamp; namespaces become Terminating and are emptied by [`Store::reconcile`].
    pub fn delete(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        propagation: Option<&str>,
    ) -> Result<Value, ApiError> {
        let (k, mut obj) = self.existing(t, ns, name)?;
        let is_namespace = t.group.is_empty() && t.kind == "Namespace";
        let mut finalizers: Vec<String> = obj["metadata"]["finalizers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(String::from))
            .collect();
        if propagation == Some("Foreground")
            && !finalizers.iter().any(|f| f == "foregroundDeletion")
        {
            finalizers.push("foregroundDeletion".into());
        }
        if propagation == Some("Orphan") {
            self.orphan_dependents(meta_str(&obj, "uid"));
        }
        if finalizers.is_empty() && !is_namespace {
            self.objects.remove(&k);
            let rv = self.bump();
            obj["metadata"]["resourceVersion"] = json!(rv.to_string());
            self.record_deleted(&t.group, &t.plural, &obj);
            if t.kind == "CustomResourceDefinition" {
                self.drop_crd(name);
            }
            return Ok(obj);
        }
        if obj["metadata"].get("deletionTimestamp").is_none() {
            obj["metadata"]["deletionTimestamp"] = json!(meta::now());
            if !is_namespace {
                obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                obj["metadata"]["finalizers"] = json!(finalizers);
                // A graceful deletion is a change of intent: the server bumps generation
                // (transcript 22).
                if let Some(g) = obj["metadata"]["generation"].as_i64() {
                    obj["metadata"]["generation"] = json!(g + 1);
                }
            } else {
                obj["status"]["phase"] = json!("Terminating");
            }
            let rv = self.bump();
            obj["metadata"]["resourceVersion"] = json!(rv.to_string());
            self.put("MODIFIED", t, k, &obj);
        }
        Ok(obj)
    }

    fn type_of(&self, k: &Key) -> Option<ResourceType> {
        self.registry
            .types()
            .iter()
            .find(|t| t.group == k.0 && t.plural == k.1)
            .cloned()
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}
