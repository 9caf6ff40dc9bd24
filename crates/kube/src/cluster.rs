//! [`KubeCluster`]: the [`Cluster`] trait on kube-rs. Discovery is aggregated and cached,
//! refreshed when a kind is unknown (a CRD applied by an earlier wave); applies are
//! server-side as field manager `driftless`; every error names the object and says whether
//! retrying can help.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, PropagationPolicy,
};
use kube::discovery::{ApiResource, Discovery, Scope};
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::RwLock;

use driftless_core::cluster::{ApplyOptions, Cluster, ClusterError, KindScope, Propagation};
use driftless_core::tracking::TRACKING_ANNOTATION;
use driftless_core::{Gvk, ResourceKey, object};

use crate::ClusterSource;
use crate::gate::WriteGate;
use crate::reload::{Credentials, is_unauthorized};

/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "driftless";

/// Discovery indexed for lookups by kind: every reconcile resolves dozens of kinds, and
/// kube-rs's own lookup copies a whole group's resource list each time.
struct KindIndex {
    /// (group, version, kind) → resource.
    exact: HashMap<(String, String, String), (ApiResource, Scope)>,
    /// (group, kind) → the resource in the group's preferred version.
    preferred: HashMap<(String, String), (ApiResource, Scope)>,
}

impl KindIndex {
    fn new(d: &Discovery) -> Self {
        let mut exact = HashMap::new();
        let mut preferred = HashMap::new();
        for group in d.groups() {
            for version in group.versions() {
                for (ar, caps) in group.versioned_resources(version) {
                    let k = (ar.group.clone(), ar.version.clone(), ar.kind.clone());
                    exact.entry(k).or_insert((ar, caps.scope));
                }
            }
            for (ar, caps) in group.recommended_resources() {
                preferred
                    .entry((ar.group.clone(), ar.kind.clone()))
                    .or_insert((ar, caps.scope));
            }
        }
        KindIndex { exact, preferred }
    }

    /// The exact version asked for, else the kind in the group's preferred version.
    fn lookup(&self, gvk: &Gvk) -> Option<(ApiResource, Scope)> {
        self.exact
            .get(&(gvk.group.clone(), gvk.version.clone(), gvk.kind.clone()))
            .or_else(|| self.preferred.get(&(gvk.group.clone(), gvk.kind.clone())))
            .cloned()
    }
}

/// Runs a call; on a 401, re-reads the credentials and runs it once more (the expression is
/// evaluated again, with the new client).
macro_rules! authed {
    ($self:ident, $call:expr) => {{
        let started = Instant::now();
        match $call.await {
            Err(e)
                if is_unauthorized(&e) && $self.credentials.rebuild(&$self.name, started).await =>
            {
                $call.await
            }
            r => r,
        }
    }};
}

/// A cluster reached through kube-rs.
pub struct KubeCluster {
    credentials: Credentials,
    name: String,
    discovery: RwLock<Option<(KindIndex, Instant)>>,
    gate: WriteGate,
}

impl KubeCluster {
    /// `name` is how errors and logs refer to this cluster (a kubeconfig context, `sandbox`).
    /// Writes pass the engine's [`WriteGate`] when one is installed.
    pub fn new(client: kube::Client, name: impl Into<String>) -> Self {
        KubeCluster {
            credentials: Credentials::new(client),
            name: name.into(),
            discovery: RwLock::new(None),
            gate: WriteGate::for_engine(),
        }
    }

    /// Where the client came from: on a 401 it is built again from there (rotated tokens,
    /// rewritten kubeconfigs) and the call retried once.
    pub fn with_source(mut self, source: ClusterSource) -> Self {
        self.credentials.set_source(source);
        self
    }

    /// Writes (apply, create, replace, delete; never dry runs) must pass `gate`.
    pub fn with_write_gate(mut self, gate: WriteGate) -> Self {
        self.gate = gate;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client in use now (a new one after credentials were re-read).
    pub fn client(&self) -> kube::Client {
        self.credentials.client()
    }

    fn writable(&self, what: &str) -> Result<(), ClusterError> {
        self.gate.check().map_err(|message| ClusterError::Other {
            what: format!("{what} on cluster {}", self.name),
            message,
        })
    }

    /// Every object of a kind (in `namespace`, or everywhere) that `keep` selects, listed in
    /// pages of 500: tracked objects, or the children an application's objects own.
    pub async fn list_where(
        &self,
        scope: &KindScope,
        namespace: Option<&str>,
        keep: impl Fn(&DynamicObject) -> bool,
    ) -> Result<Vec<Value>, ClusterError> {
        let ar = ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk(
                &scope.gvk.group,
                &scope.gvk.version,
                &scope.gvk.kind,
            ),
            &scope.plural,
        );
        let api: Api<DynamicObject> = match namespace {
            Some(ns) if scope.namespaced => Api::namespaced_with(self.client(), ns, &ar),
            _ => Api::all_with(self.client(), &ar),
        };
        let what = format!("listing {} on cluster {}", scope.plural, self.name);
        let mut out = Vec::new();
        let mut params = ListParams::default().limit(500);
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|e| self.error(&what, None, e))?;
            for o in page.items {
                if keep(&o) {
                    // Lists carry no apiVersion/kind per item.
                    out.push(with_type(to_value(o), &scope.gvk));
                }
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => params = params.continue_token(&c),
                None => break,
            }
        }
        Ok(out)
    }

    async fn refresh(&self) -> Result<(), ClusterError> {
        let d = Discovery::new(self.client())
            .run_aggregated()
            .await
            .map_err(|e| self.error(&format!("discovery on cluster {}", self.name), None, e))?;
        *self.discovery.write().await = Some((KindIndex::new(&d), Instant::now()));
        Ok(())
    }

    /// The API resource of a kind, refreshing discovery once when unknown (at most four
    /// times a second, so a manifest full of typos cannot hammer the server).
    async fn api_resource(&self, gvk: &Gvk) -> Result<Option<(ApiResource, Scope)>, ClusterError> {
        if let Some((d, _)) = self.discovery.read().await.as_ref()
            && let Some(found) = d.lookup(gvk)
        {
            return Ok(Some(found));
        }
        let stale = self
            .discovery
            .read()
            .await
            .as_ref()
            .is_none_or(|(_, at)| at.elapsed() > Duration::from_millis(250));
        if stale {
            self.refresh().await?;
        }
        Ok(self
            .discovery
            .read()
            .await
            .as_ref()
            .and_then(|(d, _)| d.lookup(gvk)))
    }

    async fn api_for(
        &self,
        gvk: &Gvk,
        key: &ResourceKey,
    ) -> Result<(Api<DynamicObject>, Scope), ClusterError> {
        let (ar, scope) =
            self.api_resource(gvk)
                .await?
                .ok_or_else(|| ClusterError::UnknownKind {
                    key: Box::new(key.clone()),
                    kind: format!("{} ({})", gvk.kind, gvk.api_version()),
                })?;
        let api = match scope {
            Scope::Namespaced if !key.namespace.is_empty() => {
                Api::namespaced_with(self.client(), &key.namespace, &ar)
            }
            Scope::Namespaced => {
                return Err(ClusterError::Rejected {
                    key: Box::new(key.clone()),
                    code: 400,
                    message: format!(
                        "{} is namespaced and no namespace was given (set metadata.namespace or the destination namespace)",
                        gvk.kind
                    ),
                });
            }
            Scope::Cluster => Api::all_with(self.client(), &ar),
        };
        Ok((api, scope))
    }

    fn error(&self, what: &str, key: Option<&ResourceKey>, e: kube::Error) -> ClusterError {
        let what_s = key.map_or_else(|| what.to_string(), |k| k.to_string());
        match e {
            kube::Error::Api(status) => {
                let code = status.code;
                let message = status.message.clone();
                match (code, key) {
                    (409, Some(k)) if status.reason == "Conflict" => ClusterError::Conflict {
                        key: Box::new(k.clone()),
                        message,
                    },
                    (429 | 502 | 503 | 504, _) => ClusterError::Transient {
                        what: what_s,
                        message,
                    },
                    (_, Some(k)) => ClusterError::Rejected {
                        key: Box::new(k.clone()),
                        code,
                        message,
                    },
                    _ => ClusterError::Other {
                        what: what_s,
                        message: format!("{code}: {message}"),
                    },
                }
            }
            kube::Error::HyperError(_) | kube::Error::Service(_) => ClusterError::Transient {
                what: format!("{what_s} (cluster {})", self.name),
                message: e.to_string(),
            },
            other => ClusterError::Other {
                what: what_s,
                message: other.to_string(),
            },
        }
    }
}

fn key_of(obj: &Value) -> Result<(Gvk, ResourceKey), ClusterError> {
    match (object::gvk(obj), object::key(obj)) {
        (Some(g), Some(k)) => Ok((g, k)),
        _ => Err(ClusterError::Other {
            what: "object".into(),
            message: "has no apiVersion, kind or metadata.name".into(),
        }),
    }
}

fn to_dynamic(obj: &Value, key: &ResourceKey) -> Result<DynamicObject, ClusterError> {
    serde_json::from_value(obj.clone()).map_err(|e| ClusterError::Rejected {
        key: Box::new(key.clone()),
        code: 400,
        message: format!("not a Kubernetes object: {e}"),
    })
}

/// Sets apiVersion and kind first (list items carry neither), keeping the rest in order.
fn with_type(v: Value, gvk: &Gvk) -> Value {
    let Value::Object(rest) = v else { return v };
    let mut m = serde_json::Map::with_capacity(rest.len() + 2);
    m.insert("apiVersion".into(), Value::String(gvk.api_version()));
    m.insert("kind".into(), Value::String(gvk.kind.clone()));
    m.extend(
        rest.into_iter()
            .filter(|(k, _)| k != "apiVersion" && k != "kind"),
    );
    Value::Object(m)
}

fn to_value(obj: DynamicObject) -> Value {
    serde_json::to_value(obj).expect("a DynamicObject serializes")
}

/// The calls themselves, once; [`Cluster`] below adds the gate and the 401 retry.
impl KubeCluster {
    async fn resolve_once(&self, gvk: &Gvk) -> Result<Option<KindScope>, ClusterError> {
        Ok(self.api_resource(gvk).await?.map(|(ar, scope)| KindScope {
            gvk: Gvk {
                group: ar.group,
                version: ar.version,
                kind: ar.kind,
            },
            plural: ar.plural,
            namespaced: scope == Scope::Namespaced,
        }))
    }

    async fn get_once(&self, gvk: &Gvk, key: &ResourceKey) -> Result<Option<Value>, ClusterError> {
        let (api, _) = self.api_for(gvk, key).await?;
        let got = api
            .get_opt(&key.name)
            .await
            .map_err(|e| self.error("get", Some(key), e))?;
        Ok(got.map(|o| with_type(to_value(o), gvk)))
    }

    async fn list_tracked_once(
        &self,
        scope: &KindScope,
        namespace: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        self.list_where(scope, namespace, |o| {
            o.metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(TRACKING_ANNOTATION))
        })
        .await
    }

    async fn apply_once(&self, obj: &Value, opts: &ApplyOptions) -> Result<Value, ClusterError> {
        let (gvk, key) = key_of(obj)?;
        let (api, _) = self.api_for(&gvk, &key).await?;
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = opts.force;
        params.dry_run = opts.dry_run;
        if opts.skip_validation {
            params = params.validation_ignore();
        }
        match api.patch(&key.name, &params, &Patch::Apply(obj)).await {
            Ok(o) => Ok(to_value(o)),
            Err(kube::Error::Api(s))
                if opts.dry_run && s.message.to_ascii_lowercase().contains("dry run") =>
            {
                Err(ClusterError::DryRunRefused {
                    key: Box::new(key),
                    message: s.message,
                })
            }
            Err(e) => Err(self.error("apply", Some(&key), e)),
        }
    }

    async fn create_once(&self, obj: &Value) -> Result<Value, ClusterError> {
        let gvk = object::gvk(obj).ok_or_else(|| ClusterError::Other {
            what: "object".into(),
            message: "has no apiVersion or kind".into(),
        })?;
        let name = object::name(obj)
            .or_else(|| object::str_at(obj, &["metadata", "generateName"]))
            .unwrap_or_default();
        let key = ResourceKey::new(
            &gvk.group,
            &gvk.kind,
            object::namespace(obj).unwrap_or_default(),
            name,
        );
        let (api, _) = self.api_for(&gvk, &key).await?;
        let d = to_dynamic(obj, &key)?;
        let pp = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        api.create(&pp, &d)
            .await
            .map(to_value)
            .map_err(|e| self.error("create", Some(&key), e))
    }

    async fn replace_once(&self, obj: &Value) -> Result<Value, ClusterError> {
        let (gvk, key) = key_of(obj)?;
        let (api, _) = self.api_for(&gvk, &key).await?;
        let mut d = to_dynamic(obj, &key)?;
        let pp = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        match api
            .get_opt(&key.name)
            .await
            .map_err(|e| self.error("get", Some(&key), e))?
        {
            Some(live) => {
                d.metadata.resource_version = live.metadata.resource_version;
                api.replace(&key.name, &pp, &d).await
            }
            None => api.create(&pp, &d).await,
        }
        .map(to_value)
        .map_err(|e| self.error("replace", Some(&key), e))
    }

    async fn delete_once(
        &self,
        gvk: &Gvk,
        key: &ResourceKey,
        propagation: Propagation,
    ) -> Result<bool, ClusterError> {
        let (api, _) = self.api_for(gvk, key).await?;
        let dp = DeleteParams {
            propagation_policy: Some(match propagation {
                Propagation::Foreground => PropagationPolicy::Foreground,
                Propagation::Background => PropagationPolicy::Background,
                Propagation::Orphan => PropagationPolicy::Orphan,
            }),
            ..Default::default()
        };
        match api.delete(&key.name, &dp).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(self.error("delete", Some(key), e)),
        }
    }

    async fn wait_until_once(
        &self,
        gvk: &Gvk,
        key: &ResourceKey,
        timeout: Duration,
        done: &(dyn Fn(Option<&Value>) -> bool + Send + Sync),
    ) -> Result<Option<Value>, ClusterError> {
        let (api, _) = self.api_for(gvk, key).await?;
        let stream = watcher::watch_object(api, &key.name);
        let mut last: Option<Value> = None;
        let wait = async {
            let mut stream = std::pin::pin!(stream);
            while let Some(state) =
                stream
                    .try_next()
                    .await
                    .map_err(|e| ClusterError::Transient {
                        what: key.to_string(),
                        message: format!("watch failed: {e}"),
                    })?
            {
                // Objects from a list carry no apiVersion/kind; health needs them.
                let v = state.map(|o| with_type(to_value(o), gvk));
                let finished = done(v.as_ref());
                last = v;
                if finished {
                    return Ok(true);
                }
            }
            Ok::<bool, ClusterError>(false)
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(_)) => Ok(last),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ClusterError::Timeout {
                what: key.to_string(),
                after: timeout,
            }),
        }
    }
}

impl Cluster for KubeCluster {
    async fn resolve(&self, gvk: &Gvk) -> Result<Option<KindScope>, ClusterError> {
        authed!(self, self.resolve_once(gvk))
    }

    async fn get(&self, gvk: &Gvk, key: &ResourceKey) -> Result<Option<Value>, ClusterError> {
        authed!(self, self.get_once(gvk, key))
    }

    async fn list_tracked(
        &self,
        scope: &KindScope,
        namespace: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        authed!(self, self.list_tracked_once(scope, namespace))
    }

    async fn apply(&self, obj: &Value, opts: &ApplyOptions) -> Result<Value, ClusterError> {
        if !opts.dry_run {
            self.writable("apply")?;
        }
        authed!(self, self.apply_once(obj, opts))
    }

    async fn create(&self, obj: &Value) -> Result<Value, ClusterError> {
        self.writable("create")?;
        authed!(self, self.create_once(obj))
    }

    async fn replace(&self, obj: &Value) -> Result<Value, ClusterError> {
        self.writable("replace")?;
        authed!(self, self.replace_once(obj))
    }

    async fn delete(
        &self,
        gvk: &Gvk,
        key: &ResourceKey,
        propagation: Propagation,
    ) -> Result<bool, ClusterError> {
        self.writable("delete")?;
        authed!(self, self.delete_once(gvk, key, propagation))
    }

    async fn wait_until(
        &self,
        gvk: &Gvk,
        key: &ResourceKey,
        timeout: Duration,
        done: &(dyn Fn(Option<&Value>) -> bool + Send + Sync),
    ) -> Result<Option<Value>, ClusterError> {
        authed!(self, self.wait_until_once(gvk, key, timeout, done))
    }
}
