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

/// Dry-run answers by (sha256 of the prepared desired object, live resourceVersion).
#[derive(Default)]
pub struct DryRunCache {
    entries: Mutex<HashMap<(String, String), Value>>,
}

/// Entries kept before the cache is emptied (bounded memory; a refill costs one request
/// per object).
const CACHE_LIMIT: usize = 50_000;

impl DryRunCache {
    fn get(&self, k: &(String, String)) -> Option<Value> {
        self.entries.lock().expect("cache lock").get(k).cloned()
    }
    fn put(&self, k: (String, String), v: Value) {
        let mut e = self.entries.lock().expect("cache lock");
        if e.len() >= CACHE_LIMIT {
            e.clear();
        }
        e.insert(k, v);
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
            let ck = (digest(&want), rv);
            if let Some(hit) = cache.and_then(|c| c.get(&ck)) {
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
                        c.put(ck, p.clone());
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
