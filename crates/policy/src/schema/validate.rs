//! Walks an object against an OpenAPI schema the way the API server's strict field
//! validation does: unknown fields, types, required fields, enums, formats, bounds,
//! patterns, `x-kubernetes-list-type` map keys and sets, int-or-string,
//! `x-kubernetes-preserve-unknown-fields` and embedded resources.
//!
//! `null` is "unset" (the server decodes it to the zero value), so it is never a type error.
//! CEL rules (`x-kubernetes-validations`) are not evaluated.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::SchemaSet;
use super::formats;

/// Deeper than any real schema; stops a self-referencing schema (JSONSchemaProps) walking a
/// hostile document forever.
const MAX_DEPTH: usize = 96;

/// One schema violation: the field (dotted path), a rule id and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaIssue {
    pub path: String,
    /// `schema.unknown-field`, `schema.type`, `schema.required`, `schema.enum`,
    /// `schema.format`, `schema.bounds`, `schema.pattern`, `schema.duplicate-key`, ...
    pub rule: &'static str,
    pub message: String,
}

/// Most schema nodes visited for one object. Real objects need a few thousand; a hostile CRD
/// nesting `anyOf` alternatives could otherwise make the walk exponential.
const MAX_STEPS: usize = 1_000_000;

struct Walker<'a> {
    set: &'a SchemaSet,
    out: Vec<SchemaIssue>,
    /// Nodes visited so far, shared with the alternatives' walkers.
    steps: usize,
}

pub(super) fn validate(set: &SchemaSet, schema: &str, object: &Value) -> Vec<SchemaIssue> {
    let mut w = Walker {
        set,
        out: Vec::new(),
        steps: 0,
    };
    let root = serde_json::json!({"$ref": schema});
    w.check(&root, object, &mut String::new(), 0);
    if w.steps > MAX_STEPS {
        w.out.push(SchemaIssue {
            path: String::new(),
            rule: "schema.too-complex",
            message: format!(
                "validation stopped after {MAX_STEPS} schema steps (a schema with deeply nested alternatives?)"
            ),
        });
    }
    w.out
}

fn push_key(path: &mut String, key: &str) {
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !key.is_empty()
    {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push_str(&format!("[{key:?}]"));
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

impl Walker<'_> {
    fn issue(&mut self, path: &str, rule: &'static str, message: String) {
        self.out.push(SchemaIssue {
            path: path.to_string(),
            rule,
            message,
        });
    }

    fn check(&mut self, schema: &Value, value: &Value, path: &mut String, depth: usize) {
        self.steps += 1;
        if value.is_null() || depth > MAX_DEPTH || self.steps > MAX_STEPS {
            return;
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            if r == "io.k8s.apimachinery.pkg.api.resource.Quantity" {
                return self.quantity(value, path);
            }
            // An unresolvable reference (a CRD's ObjectMeta without the Kubernetes schema) is
            // not the manifest's fault: nothing to check.
            if let Some(target) = self.set.schema(r) {
                self.check(target, value, path, depth + 1);
            }
            // Siblings of `$ref` (list types on a property) still apply below.
        }
        if schema.get("format").and_then(Value::as_str) == Some("int-or-string")
            || schema
                .get("x-kubernetes-int-or-string")
                .and_then(Value::as_bool)
                == Some(true)
        {
            if !(is_integer(value) || value.is_string()) {
                self.issue(
                    path,
                    "schema.type",
                    format!(
                        "expected an integer or a string, found {}",
                        type_name(value)
                    ),
                );
            }
            return;
        }
        for branch_key in ["anyOf", "oneOf"] {
            if let Some(branches) = schema.get(branch_key).and_then(Value::as_array) {
                self.branches(branches, value, path, depth);
            }
        }
        for s in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.check(s, value, path, depth + 1);
        }
        self.typed(schema, value, path, depth);
    }

    /// anyOf/oneOf: the value must pass at least one branch (Kubernetes' structural schemas
    /// only use them for alternatives of type).
    fn branches(&mut self, branches: &[Value], value: &Value, path: &str, depth: usize) {
        let mut first_failure = None;
        for b in branches {
            let mut w = Walker {
                set: self.set,
                out: Vec::new(),
                steps: self.steps,
            };
            w.check(b, value, &mut path.to_string(), depth + 1);
            self.steps = w.steps;
            if w.out.is_empty() {
                return;
            }
            first_failure.get_or_insert(w.out);
        }
        if let Some(issues) = first_failure {
            self.out.extend(issues);
        }
    }

    fn typed(&mut self, schema: &Value, value: &Value, path: &mut String, depth: usize) {
        let ty = schema.get("type").and_then(Value::as_str).or_else(|| {
            (schema.get("properties").is_some() || schema.get("additionalProperties").is_some())
                .then_some("object")
        });
        let ok = match ty {
            None => true,
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("integer") => is_integer(value),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            Some(_) => true,
        };
        if !ok {
            let want = ty.unwrap_or_default();
            return self.issue(
                path,
                "schema.type",
                format!("expected {want}, found {}", type_name(value)),
            );
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
            self.issue(
                path,
                "schema.enum",
                format!("{value} is not one of {}", list.join(", ")),
            );
        }
        match value {
            Value::Object(map) => self.object(schema, map, path, depth),
            Value::Array(items) => self.array(schema, items, path, depth),
            Value::String(s) => self.string(schema, s, path),
            Value::Number(_) => self.number(schema, value, path),
            _ => {}
        }
    }

    fn object(
        &mut self,
        schema: &Value,
        map: &Map<String, Value>,
        path: &mut String,
        depth: usize,
    ) {
        let props = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let preserve = schema
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            == Some(true);
        let embedded = schema
            .get("x-kubernetes-embedded-resource")
            .and_then(Value::as_bool)
            == Some(true);
        if embedded {
            for f in ["apiVersion", "kind"] {
                if !map.get(f).is_some_and(Value::is_string) {
                    self.issue(
                        path,
                        "schema.required",
                        format!("embedded resource needs a string `{f}`"),
                    );
                }
            }
        }
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = req.as_str()
                && map.get(r).is_none_or(Value::is_null)
            {
                let mut p = path.clone();
                push_key(&mut p, r);
                self.issue(
                    &p,
                    "schema.required",
                    format!("required field `{r}` is missing"),
                );
            }
        }
        for (k, v) in map {
            let len = path.len();
            push_key(path, k);
            match props.and_then(|p| p.get(k)) {
                Some(s) => self.check(s, v, path, depth + 1),
                None => match additional {
                    Some(s @ Value::Object(_)) => self.check(s, v, path, depth + 1),
                    Some(Value::Bool(true)) => {}
                    _ if preserve || props.is_none() => {}
                    _ if embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") => {}
                    _ => self.issue(path, "schema.unknown-field", format!("unknown field `{k}`")),
                },
            }
            path.truncate(len);
        }
        self.bounds_len(
            schema,
            map.len(),
            "minProperties",
            "maxProperties",
            "properties",
            path,
        );
    }

    fn array(&mut self, schema: &Value, items: &[Value], path: &mut String, depth: usize) {
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                self.check(item_schema, item, path, depth + 1);
                path.truncate(len);
            }
        }
        self.bounds_len(schema, items.len(), "minItems", "maxItems", "items", path);
        match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("map") => {
                let keys: Vec<&str> = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| k.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut seen = HashSet::new();
                for (i, item) in items.iter().enumerate() {
                    let tuple: Vec<String> = keys
                        .iter()
                        .map(|k| item.get(*k).map(|v| v.to_string()).unwrap_or_default())
                        .collect();
                    if !seen.insert(tuple.clone()) {
                        let shown: Vec<String> = keys
                            .iter()
                            .zip(&tuple)
                            .map(|(k, v)| {
                                format!("{k}={}", if v.is_empty() { "(unset)" } else { v })
                            })
                            .collect();
                        self.issue(
                            &format!("{path}[{i}]"),
                            "schema.duplicate-key",
                            format!("duplicate entry for key {}", shown.join(", ")),
                        );
                    }
                }
            }
            Some("set") => {
                let mut seen = HashSet::new();
                for (i, item) in items.iter().enumerate() {
                    if !seen.insert(item.to_string()) {
                        self.issue(
                            &format!("{path}[{i}]"),
                            "schema.duplicate-key",
                            format!("duplicate value {item} in a set"),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn string(&mut self, schema: &Value, s: &str, path: &str) {
        if let Some(f) = schema.get("format").and_then(Value::as_str)
            && let Err(why) = formats::check(f, s)
        {
            self.issue(path, "schema.format", why);
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str)
            && let Some(re) = self.set.pattern(p)
            && !re.is_match(s)
        {
            self.issue(
                path,
                "schema.pattern",
                format!("does not match the pattern {p:?}"),
            );
        }
        self.bounds_len(
            schema,
            s.chars().count(),
            "minLength",
            "maxLength",
            "characters",
            path,
        );
    }

    fn number(&mut self, schema: &Value, value: &Value, path: &str) {
        let Some(n) = value.as_f64() else { return };
        if schema.get("format").and_then(Value::as_str) == Some("int32")
            && !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&n)
        {
            self.issue(
                path,
                "schema.format",
                format!("{value} does not fit in int32"),
            );
        }
        let excl = |k: &str| schema.get(k).and_then(Value::as_bool) == Some(true);
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && (n < min || (excl("exclusiveMinimum") && n == min))
        {
            self.issue(
                path,
                "schema.bounds",
                format!("{value} is below the minimum {min}"),
            );
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && (n > max || (excl("exclusiveMaximum") && n == max))
        {
            self.issue(
                path,
                "schema.bounds",
                format!("{value} is above the maximum {max}"),
            );
        }
    }

    fn bounds_len(
        &mut self,
        schema: &Value,
        len: usize,
        min: &str,
        max: &str,
        what: &str,
        path: &str,
    ) {
        if let Some(m) = schema.get(min).and_then(Value::as_u64)
            && (len as u64) < m
        {
            self.issue(
                path,
                "schema.bounds",
                format!("has {len} {what}, fewer than the minimum {m}"),
            );
        }
        if let Some(m) = schema.get(max).and_then(Value::as_u64)
            && (len as u64) > m
        {
            self.issue(
                path,
                "schema.bounds",
                format!("has {len} {what}, more than the maximum {m}"),
            );
        }
    }

    fn quantity(&mut self, value: &Value, path: &str) {
        let ok = match value {
            Value::Number(_) => true,
            Value::String(s) => formats::is_quantity(s),
            _ => false,
        };
        if !ok {
            self.issue(
                path,
                "schema.format",
                "not a Kubernetes quantity (e.g. `500m`, `1.5`, `128Mi`)".into(),
            );
        }
    }
}
