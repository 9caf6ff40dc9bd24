//! Comparison against a cluster: the server's own prediction (a dry-run apply) where it can
//! give one, the client-side prediction otherwise, then the pure comparison of
//! `driftless-diff`. Dry-run answers are cached by (desired content, live resourceVersion):
//! an unchanged object on an unchanged cluster costs no request.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use sha2::{Digest, Sha256};

use driftless_core::cluster::{ApplyOptions, Cluster, ClusterError};
use driftless_core::desired::write_canonical;
use driftless_core::tracking::{self, Owner};
use driftless_core::{ResourceKey, object};
use driftless_diff::{CompareOptions, Comparison, compare, prepare, summarize};

use crate::load::Loaded;

/// The last dry-run answer of each object, valid while the prepared desired object (its
/// sha256) and the live resourceVersion are the ones it was asked with. One entry per object,
/// kept as compact JSON: a fleet's answers would otherwise pile up, one per resourceVersion.
#[derive(Default)]
pub struct DryRunCache {
    entries: Mutex<HashMap<ResourceKey, DryRunAnswer>>,
}

struct DryRunAnswer {
    digest: String,
    resource_version: String,
    json: Box<str>,
}

/// Entries kept before the cache is emptied (bounded memory; a refill costs one request
/// per object).
const CACHE_LIMIT: usize = 50_000;

impl DryRunCache {
    fn get(&self, key: &ResourceKey, digest: &str, resource_version: &str) -> Option<Value> {
        let e = self.entries.lock().expect("cache lock");
        let a = e.get(key)?;
        (a.digest == digest && a.resource_version == resource_version)
            .then(|| serde_json::from_str(&a.json).ok())
            .flatten()
    }
    fn put(&self, key: &ResourceKey, digest: String, resource_version: String, v: &Value) {
        let answer = DryRunAnswer {
            digest,
            resource_version,
            json: v.to_string().into_boxed_str(),
        };
        let mut e = self.entries.lock().expect("cache lock");
        if e.len() >= CACHE_LIMIT && !e.contains_key(key) {
            e.clear();
        }
        e.insert(key.clone(), answer);
    }
    /// Remembers a successful apply of `applied` (a prepared desired object) as the dry-run
    /// answer for the object it left behind: a forced dry-run of the same object against
    /// that resourceVersion would answer exactly this. Without it, the status after every
    /// sync waited on one dry-run request per applied object (issue 20's status lag).
    pub(crate) fn remember_apply(&self, key: &ResourceKey, applied: &Value, answer: &Value) {
        if let Some(rv) = object::str_at(answer, &["metadata", "resourceVersion"]) {
            self.put(key, digest(applied), rv.to_string(), answer);
        }
    }
    pub fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn digest(v: &Value) -> String {
    let mut buf = Vec::new();
    write_canonical(v, &mut buf);
    hex::encode(Sha256::digest(&buf))
}

/// Compares an application's loaded state. With `server_side`, each existing object is
/// predicted by a forced dry-run apply (what a sync would store); refusals fall back to the
/// client-side prediction with a warning on that resource.
pub async fn compare_with_cluster<C: Cluster>(
    cluster: &C,
    loaded: &Loaded,
    opts: &CompareOptions,
    server_side: bool,
    cache: Option<&DryRunCache>,
) -> Comparison {
    let mut predicted: HashMap<ResourceKey, Value> = HashMap::new();
    let mut warnings: HashMap<ResourceKey, Vec<String>> = HashMap::new();
    if server_side {
        for d in loaded.resources.iter() {
            let Some(live) = loaded.live.get(&d.key) else {
                continue;
            };
            if matches!(tracking::owner(live), Owner::App(ref other) if *other != opts.app) {
                continue;
            }
            let want = prepare(&d.object, &d.key, opts);
            let rv = object::str_at(live, &["metadata", "resourceVersion"])
                .unwrap_or_default()
                .to_string();
            let want_digest = digest(&want);
            if let Some(hit) = cache.and_then(|c| c.get(&d.key, &want_digest, &rv)) {
                predicted.insert(d.key.clone(), hit);
                continue;
            }
            let dry = ApplyOptions {
                force: true,
                dry_run: true,
                skip_validation: false,
            };
            match cluster.apply(&want, &dry).await {
                Ok(p) => {
                    if let Some(c) = cache {
                        c.put(&d.key, want_digest, rv, &p);
                    }
                    predicted.insert(d.key.clone(), p);
                }
                Err(ClusterError::DryRunRefused { message, .. }) => warnings
                    .entry(d.key.clone())
                    .or_default()
                    .push(format!("dry-run refused ({message}); compared client-side")),
                Err(e) => warnings
                    .entry(d.key.clone())
                    .or_default()
                    .push(format!("the server would not accept this object: {e}")),
            }
        }
    }
    let mut cmp = compare(&loaded.resources, &loaded.live, &predicted, opts);
    for r in &mut cmp.resources {
        if let Some(w) = warnings.remove(&r.key) {
            r.warnings.extend(w);
        }
    }
    cmp.summary = summarize(&cmp.resources);
    cmp
}
