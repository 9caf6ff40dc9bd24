//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), as kubectl
//! and client-go send them for built-in kinds: the `k8s\0` magic, then a `runtime.Unknown`
//! envelope (type meta, raw object bytes). The object is decoded to the JSON the API server
//! would hold for it, by a field table generated from the kube-rs project's k8s-pb bindings
//! and the recorded OpenAPI names (`assets/protobuf/fields.json`, `scripts/protobuf_fields.py`).
//!
//! Go writes every non-pointer field, zero or not; the JSON encoding omits empty ones
//! (`omitempty`). So singular empty strings, zero numbers, `false` and empty messages are
//! dropped, except the few empty messages whose presence means something ([`KEEP_EMPTY`]).

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";
/// Empty messages that mean something when present (`emptyDir: {}` asks for a volume;
/// `podSelector: {}` selects every pod).
const KEEP_EMPTY: &[&str] = &["emptyDir", "podSelector"];

/// One field: tag → (JSON name, wire kind, repeated, message or map value type).
struct Field {
    name: String,
    kind: String,
    repeated: bool,
    of: Option<String>,
}

struct Table {
    kinds: HashMap<String, String>,
    messages: HashMap<String, HashMap<u64, Field>>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let doc = crate::registry::asset_json("protobuf/fields.json");
    let kinds = doc["kinds"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    let messages = doc["messages"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, fields)| {
            let fields = fields
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| {
                    Some((
                        f[0].as_u64()?,
                        Field {
                            name: f[1].as_str()?.to_string(),
                            kind: f[2].as_str()?.to_string(),
                            repeated: f[3] == "repeated",
                            of: f[4].as_str().map(String::from),
                        },
                    ))
                })
                .collect();
            (name.clone(), fields)
        })
        .collect();
    Table { kinds, messages }
});

type Result<T> = std::result::Result<T, String>;

/// Wire-format reader.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.buf.len())
            .ok_or("truncated field")?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn fixed(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or("truncated field")?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The next (tag, wire type), or `None` at the end.
    fn key(&mut self) -> Result<Option<(u64, u64)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let k = self.varint()?;
        Ok(Some((k >> 3, k & 7)))
    }

    fn skip(&mut self, wire: u64) -> Result<()> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.fixed(8).map(drop),
            2 => self.bytes().map(drop),
            5 => self.fixed(4).map(drop),
            w => Err(format!("unsupported wire type {w}")),
        }
    }
}

/// A request body in Kubernetes protobuf, as the JSON object it encodes.
pub fn decode(body: &[u8]) -> Result<Value> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the Kubernetes protobuf magic")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    let mut r = Reader { buf: rest, pos: 0 };
    while let Some((tag, wire)) = r.key()? {
        match (tag, wire) {
            (1, 2) => {
                let mut tm = Reader {
                    buf: r.bytes()?,
                    pos: 0,
                };
                while let Some((t, w)) = tm.key()? {
                    match (t, w) {
                        (1, 2) => api_version = utf8(tm.bytes()?)?,
                        (2, 2) => kind = utf8(tm.bytes()?)?,
                        _ => tm.skip(w)?,
                    }
                }
            }
            (2, 2) => raw = r.bytes()?,
            _ => r.skip(wire)?,
        }
    }
    let message = TABLE
        .kinds
        .get(&format!("{api_version}/{kind}"))
        .ok_or_else(|| format!("no protobuf type is known for {api_version}, Kind={kind}"))?;
    let mut obj = message_value(message, raw, 0)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

fn utf8(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| "a string field is not UTF-8".to_string())
}

/// Go's `time.Duration` text (`1h0m0s`, `1m30s`, `500ms`).
fn duration_text(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", n as f64 / 1e6);
    }
    let (h, m, s) = (
        n / 3_600_000_000_000,
        n / 60_000_000_000 % 60,
        n % 60_000_000_000,
    );
    let secs = if s % 1_000_000_000 == 0 {
        format!("{}s", s / 1_000_000_000)
    } else {
        format!("{}s", s as f64 / 1e9)
    };
    match (h, m) {
        (0, 0) => format!("{sign}{secs}"),
        (0, m) => format!("{sign}{m}m{secs}"),
        (h, m) => format!("{sign}{h}h{m}m{secs}"),
    }
}

/// Messages whose JSON is not an object of their fields.
fn special(name: &str, value: &Value) -> Option<Value> {
    let f = |k: &str| value.get(k).cloned().unwrap_or(Value::Null);
    Some(match name {
        "apimachinery.pkg.apis.meta.v1.Time" | "apimachinery.pkg.apis.meta.v1.MicroTime" => {
            let secs = f("seconds").as_u64().unwrap_or(0);
            if secs == 0 {
                Value::Null
            } else {
                json!(crate::meta::rfc3339(secs))
            }
        }
        "apimachinery.pkg.util.intstr.IntOrString" => {
            if f("type").as_i64() == Some(1) {
                json!(f("strVal").as_str().unwrap_or_default())
            } else {
                json!(f("intVal").as_i64().unwrap_or(0))
            }
        }
        "apimachinery.pkg.api.resource.Quantity"
        | "apimachinery.pkg.api.resource.QuantityValue" => f("string"),
        "apimachinery.pkg.apis.meta.v1.Duration" => {
            json!(duration_text(f("duration").as_i64().unwrap_or(0)))
        }
        _ => return None,
    })
}

/// Raw JSON carried as bytes (RawExtension, FieldsV1, apiextensions JSON).
fn raw_json(name: &str) -> bool {
    matches!(
        name,
        "apimachinery.pkg.runtime.RawExtension"
            | "apimachinery.pkg.apis.meta.v1.FieldsV1"
            | "apiextensions_apiserver.pkg.apis.apiextensions.v1.Json"
    )
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
    }
}

fn message_value(name: &str, buf: &[u8], depth: usize) -> Result<Value> {
    if depth > 64 {
        return Err("the object nests too deeply".into());
    }
    if raw_json(name) {
        let mut r = Reader { buf, pos: 0 };
        while let Some((tag, wire)) = r.key()? {
            if (tag, wire) == (1, 2) {
                return serde_json::from_slice(r.bytes()?)
                    .map_err(|e| format!("embedded JSON: {e}"));
            }
            r.skip(wire)?;
        }
        return Ok(Value::Null);
    }
    let fields = TABLE
        .messages
        .get(name)
        .ok_or_else(|| format!("unknown protobuf message {name}"))?;
    let mut out = Map::new();
    let mut r = Reader { buf, pos: 0 };
    while let Some((tag, wire)) = r.key()? {
        let Some(field) = fields.get(&tag) else {
            r.skip(wire)?;
            continue;
        };
        let values = field_values(field, wire, &mut r, depth)?;
        if field.kind == "map" {
            let m = out.entry(field.name.clone()).or_insert_with(|| json!({}));
            for v in values {
                if let (Some(m), Value::Array(kv)) = (m.as_object_mut(), v) {
                    m.insert(
                        kv[0].as_str().unwrap_or_default().to_string(),
                        kv[1].clone(),
                    );
                }
            }
        } else if field.repeated {
            let a = out.entry(field.name.clone()).or_insert_with(|| json!([]));
            if let Some(a) = a.as_array_mut() {
                a.extend(values);
            }
        } else if let Some(v) = values.into_iter().last() {
            out.insert(field.name.clone(), v);
        }
    }
    // A message of one repeated `items` field is a Go slice type (Verbs, ExtraValue).
    if fields.len() == 1 && fields.values().all(|f| f.repeated && f.name == "items") {
        return Ok(out.remove("items").unwrap_or_else(|| json!([])));
    }
    let value = Value::Object(out);
    if let Some(v) = special(name, &value) {
        return Ok(v);
    }
    let Value::Object(mut out) = value else {
        unreachable!("built as an object")
    };
    out.retain(|k, v| {
        let f = fields.values().find(|f| f.name == *k);
        let repeated = f.is_some_and(|f| f.repeated || f.kind == "map");
        repeated || !is_zero(v) || (v.is_object() && KEEP_EMPTY.contains(&k.as_str()))
    });
    Ok(Value::Object(out))
}

/// The values one occurrence of `field` carries (several for a packed repeated number; a
/// map entry as `[key, value]`).
fn field_values(field: &Field, wire: u64, r: &mut Reader, depth: usize) -> Result<Vec<Value>> {
    let scalar = |kind: &str, wire: u64, r: &mut Reader| -> Result<Value> {
        Ok(match (kind, wire) {
            ("string", 2) => json!(utf8(r.bytes()?)?),
            ("bytes", 2) => json!(base64::engine::general_purpose::STANDARD.encode(r.bytes()?)),
            ("int32", 0) => json!(r.varint()? as i64 as i32),
            ("int64", 0) => json!(r.varint()? as i64),
            ("bool", 0) => json!(r.varint()? != 0),
            ("double", 1) => json!(f64::from_le_bytes(
                r.fixed(8)?.try_into().map_err(|_| "bad double")?
            )),
            (k, w) => return Err(format!("field {} ({k}) has wire type {w}", field.name)),
        })
    };
    match field.kind.as_str() {
        "message" => {
            let of = field
                .of
                .as_deref()
                .ok_or("a message field without a type")?;
            let bytes = r.bytes()?;
            Ok(vec![message_value(of, bytes, depth + 1)?])
        }
        "map" => {
            let mut entry = Reader {
                buf: r.bytes()?,
                pos: 0,
            };
            let (mut k, mut v) = (Value::String(String::new()), Value::Null);
            let of = field.of.as_deref().unwrap_or("string");
            while let Some((tag, w)) = entry.key()? {
                match tag {
                    1 => k = scalar("string", w, &mut entry)?,
                    2 => {
                        v = match of.strip_prefix("message:") {
                            Some(m) => message_value(m, entry.bytes()?, depth + 1)?,
                            None => scalar(of, w, &mut entry)?,
                        }
                    }
                    _ => entry.skip(w)?,
                }
            }
            if v.is_null() {
                v = match of {
                    "string" | "bytes" => json!(""),
                    _ => Value::Null,
                };
            }
            Ok(vec![json!([k, v])])
        }
        kind if wire == 2 && kind != "string" && kind != "bytes" => {
            // Packed repeated numbers.
            let mut packed = Reader {
                buf: r.bytes()?,
                pos: 0,
            };
            let inner = if kind == "double" { 1 } else { 0 };
            let mut out = Vec::new();
            while packed.pos < packed.buf.len() {
                out.push(scalar(kind, inner, &mut packed)?);
            }
            Ok(out)
        }
        kind => Ok(vec![scalar(kind, wire, r)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(tag: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(tag << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_configmap_decodes_to_its_json_without_go_zero_values() {
        // ObjectMeta{name: "settings", namespace: "", labels: {a: b}} plus Go's empty
        // creationTimestamp; data {mode: dev}; immutable false.
        let mut meta = field(1, b"settings");
        meta.extend(field(3, b""));
        meta.extend(field(8, b""));
        let mut label = field(1, b"a");
        label.extend(field(2, b"b"));
        meta.extend(field(11, &label));
        let mut entry = field(1, b"mode");
        entry.extend(field(2, b"dev"));
        let mut raw = field(1, &meta);
        raw.extend(field(2, &entry));
        raw.extend([4 << 3, 0]);
        let mut tm = field(1, b"v1");
        tm.extend(field(2, b"ConfigMap"));
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &tm));
        body.extend(field(2, &raw));
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "labels": {"a": "b"}}, "data": {"mode": "dev"}})
        );
        assert!(decode(b"{}").unwrap_err().contains("magic"));
        assert!(
            decode(b"k8s\0\x0a\xff").is_err(),
            "truncated input is an error, not a panic"
        );
    }

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(duration_text(90_000_000_000), "1m30s");
        assert_eq!(duration_text(3_600_000_000_000), "1h0m0s");
        assert_eq!(duration_text(0), "0s");
    }
}
