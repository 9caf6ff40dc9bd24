//! [`DesiredSet`]: what a render produced, keyed and digested.
//!
//! Order is kept as rendered (kustomize's output order is part of its contract) while lookups go
//! through the key index. The digest hashes a canonical form (keys sorted, objects in key order),
//! so it changes exactly when the content does, whatever the renderer's order.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{ResourceKey, object};

/// Two rendered objects with the same key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} is rendered twice: first from {first}, again from {second}")]
pub struct DuplicateResource {
    /// Boxed: keeps `Result<_, DuplicateResource>` small on the happy path.
    pub key: Box<ResourceKey>,
    pub first: String,
    pub second: String,
}

/// One rendered object and where it came from (file and document, for error messages).
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    pub key: ResourceKey,
    pub object: Value,
    pub origin: String,
}

/// The rendered desired state of one application.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredSet {
    objects: Vec<DesiredObject>,
    index: BTreeMap<ResourceKey, usize>,
}

impl DesiredSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an object; a second object with the same key is an error naming both origins.
    pub fn insert(
        &mut self,
        key: ResourceKey,
        object: Value,
        origin: impl Into<String>,
    ) -> Result<(), DuplicateResource> {
        let origin = origin.into();
        if let Some(&i) = self.index.get(&key) {
            return Err(DuplicateResource {
                key: Box::new(key),
                first: self.objects[i].origin.clone(),
                second: origin,
            });
        }
        self.index.insert(key.clone(), self.objects.len());
        self.objects.push(DesiredObject {
            key,
            object,
            origin,
        });
        Ok(())
    }

    pub fn get(&self, key: &ResourceKey) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.objects[i].object)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Objects in render order.
    pub fn iter(&self) -> impl Iterator<Item = &DesiredObject> {
        self.objects.iter()
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.objects.iter().map(|o| &o.object)
    }

    /// Removes and returns the objects `pred` selects, in render order (an app-of-apps'
    /// definitions, which go to the engine rather than to the cluster).
    pub fn take_where(&mut self, pred: impl Fn(&Value) -> bool) -> Vec<DesiredObject> {
        if !self.objects.iter().any(|o| pred(&o.object)) {
            return Vec::new();
        }
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.objects)
            .into_iter()
            .partition(|o| pred(&o.object));
        self.index = kept
            .iter()
            .enumerate()
            .map(|(i, o)| (o.key.clone(), i))
            .collect();
        self.objects = kept;
        taken
    }

    /// sha256 over the canonical JSON of every object, in key order: independent of render
    /// order and of key order inside objects.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for i in self.index.values() {
            let mut buf = Vec::new();
            write_canonical(&self.objects[*i].object, &mut buf);
            h.update((buf.len() as u64).to_le_bytes());
            h.update(&buf);
        }
        hex::encode(h.finalize())
    }

    /// Builds a set from objects, keying each by its own apiVersion/kind/metadata.
    pub fn from_objects(
        objects: impl IntoIterator<Item = (Value, String)>,
    ) -> Result<Self, DesiredSetError> {
        let mut set = DesiredSet::new();
        for (obj, origin) in objects {
            let key = object::key(&obj).ok_or_else(|| DesiredSetError::Unkeyed {
                origin: origin.clone(),
            })?;
            set.insert(key, obj, origin)?;
        }
        Ok(set)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesiredSetError {
    #[error(transparent)]
    Duplicate(#[from] DuplicateResource),
    #[error("{origin}: object has no apiVersion, kind or metadata.name")]
    Unkeyed { origin: String },
}

/// JSON with object keys sorted and no whitespace: a stable byte form for hashing.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            out.push(b'{');
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).expect("string serializes"));
                out.push(b':');
                write_canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        other => out.extend(serde_json::to_vec(other).expect("scalar serializes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str, data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
    }

    #[test]
    fn duplicates_name_both_origins() {
        let err = DesiredSet::from_objects([
            (cm("a", json!({})), "a.yaml#0".to_string()),
            (cm("a", json!({"x": "1"})), "b.yaml#2".to_string()),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ConfigMap a is rendered twice: first from a.yaml#0, again from b.yaml#2"
        );
    }

    #[test]
    fn digest_ignores_order_but_not_content() {
        let one = DesiredSet::from_objects([
            (cm("a", json!({"x": "1", "y": "2"})), "".into()),
            (cm("b", json!({})), "".into()),
        ])
        .unwrap();
        let two = DesiredSet::from_objects([
            (cm("b", json!({})), "".into()),
            (cm("a", json!({"y": "2", "x": "1"})), "".into()),
        ])
        .unwrap();
        assert_eq!(one.digest(), two.digest());
        let three = DesiredSet::from_objects([
            (cm("b", json!({})), "".into()),
            (cm("a", json!({"y": "2", "x": "3"})), "".into()),
        ])
        .unwrap();
        assert_ne!(one.digest(), three.digest());
    }
}
