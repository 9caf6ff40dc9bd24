//! The live cache: watches (kube-runtime watchers, relisting on their own after a 410) on
//! the kinds applications use, keeping **only tracked objects** — those carrying
//! `driftless.dev/tracking-id` — as compact JSON (a parsed object costs ~10x its JSON).
//!
//! One writer task per kind, many readers. A (re)list replaces a kind's objects atomically
//! at `InitDone`, so objects deleted while a watch was down disappear too. Every change is
//! broadcast ([`LiveChange`]) for drift detection; [`LiveCache::kinds`] reports, per kind,
//! when it last listed and whether its watch is healthy, so nobody prunes from a cache that
//! never synced.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::sync::broadcast;

use driftless_core::cluster::KindScope;
use driftless_core::tracking::{self, Owner, TRACKING_ANNOTATION};
use driftless_core::{ResourceKey, object};

/// A change to a tracked object, as the watch saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveChange {
    pub key: ResourceKey,
    pub app: String,
    /// false: the object was deleted (or stopped being tracked).
    pub exists: bool,
    pub resource_version: String,
}

struct Entry {
    app: Arc<str>,
    resource_version: String,
    json: Arc<[u8]>,
}

/// State of one kind's watch.
#[derive(Debug, Clone)]
pub struct KindState {
    pub scope: KindScope,
    /// When the last full list completed (`None`: never synced).
    pub synced_at: Option<Instant>,
    /// The last watch error since then, if any (the watcher retries with backoff).
    pub error: Option<String>,
}

#[derive(Default)]
struct Objects {
    by_key: HashMap<ResourceKey, Entry>,
    by_app: HashMap<Arc<str>, BTreeSet<ResourceKey>>,
}

impl Objects {
    fn insert(&mut self, key: ResourceKey, e: Entry) {
        if let Some(old) = self.by_key.get(&key)
            && old.app != e.app
            && let Some(keys) = self.by_app.get_mut(&old.app)
        {
            keys.remove(&key);
        }
        self.by_app
            .entry(e.app.clone())
            .or_default()
            .insert(key.clone());
        self.by_key.insert(key, e);
    }

    fn remove(&mut self, key: &ResourceKey) -> Option<Entry> {
        let e = self.by_key.remove(key)?;
        if let Some(keys) = self.by_app.get_mut(&e.app) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_app.remove(&e.app);
            }
        }
        Some(e)
    }
}

struct Inner {
    client: kube::Client,
    objects: RwLock<Objects>,
    kinds: RwLock<HashMap<(String, String), KindState>>,
    changes: broadcast::Sender<LiveChange>,
    /// Woken at every completed list.
    listed: tokio::sync::Notify,
    tasks: RwLock<Vec<tokio::task::JoinHandle<()>>>,
}

/// The tracked objects of a cluster, kept current by watches. Cheap to clone.
#[derive(Clone)]
pub struct LiveCache {
    inner: Arc<Inner>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in self.tasks.get_mut().expect("tasks lock").drain(..) {
            t.abort();
        }
    }
}

fn entry_of(obj: &DynamicObject, scope: &KindScope) -> Option<(ResourceKey, Entry)> {
    let annotations = obj.metadata.annotations.as_ref()?;
    annotations.get(TRACKING_ANNOTATION)?;
    let mut v = serde_json::to_value(obj).ok()?;
    v["apiVersion"] = Value::String(scope.gvk.api_version());
    v["kind"] = Value::String(scope.gvk.kind.clone());
    let Owner::App(app) = tracking::owner(&v) else {
        return None;
    };
    let key = object::key(&v)?;
    let json: Arc<[u8]> = serde_json::to_vec(&v).ok()?.into();
    Some((
        key,
        Entry {
            app: app.into(),
            resource_version: obj.metadata.resource_version.clone().unwrap_or_default(),
            json,
        },
    ))
}

impl LiveCache {
    pub fn new(client: kube::Client) -> Self {
        let (changes, _) = broadcast::channel(4096);
        LiveCache {
            inner: Arc::new(Inner {
                client,
                objects: RwLock::new(Objects::default()),
                kinds: RwLock::new(HashMap::new()),
                changes,
                listed: tokio::sync::Notify::new(),
                tasks: RwLock::new(Vec::new()),
            }),
        }
    }

    /// Starts watching a kind cluster-wide (once; later calls are no-ops). With
    /// `label_selector` (e.g. `app.kubernetes.io/instance`) the server filters too.
    pub fn watch(&self, scope: &KindScope, label_selector: Option<&str>) {
        let id = (scope.gvk.group.clone(), scope.gvk.kind.clone());
        {
            let mut kinds = self.inner.kinds.write().expect("kinds lock");
            if kinds.contains_key(&id) {
                return;
            }
            kinds.insert(
                id.clone(),
                KindState {
                    scope: scope.clone(),
                    synced_at: None,
                    error: None,
                },
            );
        }
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&scope.gvk.group, &scope.gvk.version, &scope.gvk.kind),
            &scope.plural,
        );
        let api: Api<DynamicObject> = Api::all_with(self.inner.client.clone(), &ar);
        let mut config = watcher::Config::default().page_size(500);
        if let Some(sel) = label_selector {
            config = config.labels(sel);
        }
        let weak = Arc::downgrade(&self.inner);
        let scope = scope.clone();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(watcher::watcher(api, config).default_backoff());
            let mut buffer: Option<Vec<(ResourceKey, Entry)>> = None;
            while let Some(ev) = stream.next().await {
                let Some(inner) = weak.upgrade() else { return };
                let cache = LiveCache { inner };
                match ev {
                    Ok(Event::Init) => buffer = Some(Vec::new()),
                    Ok(Event::InitApply(o)) => {
                        if let (Some(b), Some(e)) = (buffer.as_mut(), entry_of(&o, &scope)) {
                            b.push(e);
                        }
                    }
                    Ok(Event::InitDone) => {
                        cache.replace_kind(&id, buffer.take().unwrap_or_default())
                    }
                    Ok(Event::Apply(o)) => cache.apply(&o, &scope),
                    Ok(Event::Delete(o)) => cache.delete(&o, &scope),
                    Err(e) => {
                        tracing::warn!(kind = %scope.gvk.kind, error = %e, "live cache watch failed; retrying");
                        if let Some(k) = cache.inner.kinds.write().expect("kinds lock").get_mut(&id)
                        {
                            k.error = Some(e.to_string());
                        }
                    }
                }
            }
        });
        self.inner.tasks.write().expect("tasks lock").push(task);
    }

    fn notify(&self, key: ResourceKey, app: &str, exists: bool, rv: String) {
        let _ = self.inner.changes.send(LiveChange {
            key,
            app: app.to_string(),
            exists,
            resource_version: rv,
        });
    }

    fn replace_kind(&self, id: &(String, String), fresh: Vec<(ResourceKey, Entry)>) {
        let mut gone = Vec::new();
        let mut changed = Vec::new();
        {
            let mut objs = self.inner.objects.write().expect("objects lock");
            let fresh_keys: BTreeSet<&ResourceKey> = fresh.iter().map(|(k, _)| k).collect();
            let stale: Vec<ResourceKey> = objs
                .by_key
                .keys()
                .filter(|k| k.group == id.0 && k.kind == id.1 && !fresh_keys.contains(k))
                .cloned()
                .collect();
            for k in stale {
                if let Some(e) = objs.remove(&k) {
                    gone.push((k, e.app));
                }
            }
            for (k, e) in fresh {
                let same = objs
                    .by_key
                    .get(&k)
                    .is_some_and(|o| o.resource_version == e.resource_version);
                if !same {
                    changed.push((k.clone(), e.app.clone(), e.resource_version.clone()));
                }
                objs.insert(k, e);
            }
        }
        if let Some(k) = self.inner.kinds.write().expect("kinds lock").get_mut(id) {
            k.synced_at = Some(Instant::now());
            k.error = None;
        }
        self.inner.listed.notify_waiters();
        for (k, app) in gone {
            self.notify(k, &app, false, String::new());
        }
        for (k, app, rv) in changed {
            self.notify(k, &app, true, rv);
        }
    }

    fn apply(&self, o: &DynamicObject, scope: &KindScope) {
        match entry_of(o, scope) {
            Some((key, e)) => {
                let (app, rv) = (e.app.clone(), e.resource_version.clone());
                self.inner
                    .objects
                    .write()
                    .expect("objects lock")
                    .insert(key.clone(), e);
                self.notify(key, &app, true, rv);
            }
            // No longer tracked (annotation removed): gone from the cache's point of view.
            None => self.delete(o, scope),
        }
    }

    fn delete(&self, o: &DynamicObject, scope: &KindScope) {
        let key = ResourceKey::new(
            &scope.gvk.group,
            &scope.gvk.kind,
            o.metadata.namespace.as_deref().unwrap_or_default(),
            o.metadata.name.as_deref().unwrap_or_default(),
        );
        let removed = self
            .inner
            .objects
            .write()
            .expect("objects lock")
            .remove(&key);
        if let Some(e) = removed {
            self.notify(key, &e.app, false, String::new());
        }
    }

    /// Subscribes to changes of tracked objects.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveChange> {
        self.inner.changes.subscribe()
    }

    /// A tracked object.
    pub fn get(&self, key: &ResourceKey) -> Option<Value> {
        let objs = self.inner.objects.read().expect("objects lock");
        objs.by_key
            .get(key)
            .and_then(|e| serde_json::from_slice(&e.json).ok())
    }

    /// Every object tracked by `app`.
    pub fn tracked_by(&self, app: &str) -> Vec<(ResourceKey, Value)> {
        let objs = self.inner.objects.read().expect("objects lock");
        let Some(keys) = objs.by_app.get(app) else {
            return Vec::new();
        };
        keys.iter()
            .filter_map(|k| {
                Some((
                    k.clone(),
                    serde_json::from_slice(&objs.by_key.get(k)?.json).ok()?,
                ))
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.inner
            .objects
            .read()
            .expect("objects lock")
            .by_key
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of object JSON held (the bulk of the cache's memory).
    pub fn json_bytes(&self) -> usize {
        self.inner
            .objects
            .read()
            .expect("objects lock")
            .by_key
            .values()
            .map(|e| e.json.len())
            .sum()
    }

    /// The watched kinds and their state.
    pub fn kinds(&self) -> Vec<KindState> {
        self.inner
            .kinds
            .read()
            .expect("kinds lock")
            .values()
            .cloned()
            .collect()
    }

    /// Whether this kind is watched and has completed a list (its absence from the cache
    /// then means absence from the cluster).
    pub fn is_kind_synced(&self, group: &str, kind: &str) -> bool {
        self.inner
            .kinds
            .read()
            .expect("kinds lock")
            .get(&(group.to_string(), kind.to_string()))
            .is_some_and(|k| k.synced_at.is_some() && k.error.is_none())
    }

    /// Whether every watched kind has completed a list: before that, absence from the
    /// cache means nothing (and nothing may be pruned on its word).
    pub fn is_synced(&self) -> bool {
        self.inner
            .kinds
            .read()
            .expect("kinds lock")
            .values()
            .all(|k| k.synced_at.is_some())
    }

    /// Time since the oldest of the kinds' last full lists (`None` until all synced).
    pub fn age(&self) -> Option<Duration> {
        let kinds = self.inner.kinds.read().expect("kinds lock");
        kinds
            .values()
            .map(|k| k.synced_at.map(|t| t.elapsed()))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    }

    /// Waits until every watched kind has listed once.
    pub async fn wait_synced(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the check, so a list completing in between is not missed.
            let listed = self.inner.listed.notified();
            if self.is_synced() {
                return true;
            }
            if tokio::time::timeout_at(deadline, listed).await.is_err() {
                return self.is_synced();
            }
        }
    }
}
