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
mod seed;
mod subresource;
mod verbs;

/// Events kept for watches to resume from by default; older resourceVersions get `410 Gone`.
const HISTORY: usize = 10_000;

/// What the sandbox publishes where a cluster publishes its CA bundle (it has no CA of its
/// own to hand out; clients trust it through their kubeconfig).
pub(super) const SANDBOX_CA: &str =
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
