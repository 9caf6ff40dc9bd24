//! Test helpers: the generated schemas, and whether a JSON value fits one (its type, and
//! for objects exactly the listed properties, recursively).

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::document;
pub(super) const PREFIX: &str = "#/components/schemas/";

pub(super) fn components() -> &'static serde_json::Map<String, Value> {
    document()["components"]["schemas"]
        .as_object()
        .expect("components.schemas is generated")
}

/// Every `$ref` under `v`, with where it was found.
pub(super) fn refs<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push((at.clone(), r)),
                    _ => refs(x, format!("{at}/{k}"), out),
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                refs(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The schema named `name`, following a `$ref` (or an `allOf` of one).
pub(super) fn resolve(schema: &Value) -> &Value {
    if let Some(r) = schema["$ref"].as_str() {
        return resolve(&components()[r.strip_prefix(PREFIX).unwrap()]);
    }
    match schema["allOf"].as_array().map(Vec::as_slice) {
        Some([one]) => resolve(one),
        _ => schema,
    }
}

/// Where and why a value does not fit its schema.
#[derive(Debug)]
pub(super) struct Misfit(String);

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `value` fits `schema`: its JSON type, and for an object exactly the property
/// names the schema lists (none unknown, every required one present), recursively through
/// arrays, maps and `oneOf`/`anyOf` alternatives. `Err` says where it does not.
pub(super) fn fits(value: &Value, schema: &Value, at: &str) -> Result<(), Misfit> {
    let schema = resolve(schema);
    for alternatives in ["oneOf", "anyOf"] {
        if let Some(all) = schema[alternatives].as_array() {
            let misses: Vec<String> = all
                .iter()
                .filter_map(|s| fits(value, s, at).err().map(|m| m.0))
                .collect();
            if misses.len() == all.len() {
                return Err(Misfit(format!("{at}: no alternative fits: {misses:?}")));
            }
            return Ok(());
        }
    }
    if value.is_null() {
        return match schema["nullable"].as_bool() == Some(true) || schema.get("type").is_none() {
            true => Ok(()),
            false => Err(Misfit(format!(
                "{at}: null, but the schema is not nullable"
            ))),
        };
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(Misfit(format!("{at}: {value} is not one of {allowed:?}")));
    }
    let ty = schema["type"].as_str();
    let kind_fits = match (ty, value) {
        (None, _) => true,
        (Some("object"), Value::Object(_)) | (Some("array"), Value::Array(_)) => true,
        (Some("string"), Value::String(_)) | (Some("boolean"), Value::Bool(_)) => true,
        (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
        (Some("number"), Value::Number(_)) => true,
        _ => false,
    };
    if !kind_fits {
        return Err(Misfit(format!("{at}: {value} is not of type {ty:?}")));
    }
    match value {
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                fits(x, &schema["items"], &format!("{at}/{i}"))?;
            }
        }
        Value::Object(fields) => {
            let properties = schema["properties"].as_object();
            for (k, x) in fields {
                match properties.and_then(|p| p.get(k)) {
                    Some(s) => fits(x, s, &format!("{at}/{k}"))?,
                    None => match schema.get("additionalProperties") {
                        Some(s) if s.is_object() => fits(x, s, &format!("{at}/{k}"))?,
                        _ if properties.is_none() => {}
                        _ => {
                            return Err(Misfit(format!(
                                "{at}: `{k}` is written but the schema lists {:?}",
                                properties.unwrap().keys().collect::<Vec<_>>()
                            )));
                        }
                    },
                }
            }
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap();
                if !fields.contains_key(r) {
                    return Err(Misfit(format!("{at}: required `{r}` is not written")));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// `value` as the API writes it fits the generated schema `name`, and at the top level it
/// has exactly the properties the schema lists (so `value` should fill every field).
pub(super) fn check<T: Serialize>(name: &str, value: &T) {
    let written = serde_json::to_value(value).unwrap();
    let schema = components()
        .get(name)
        .unwrap_or_else(|| panic!("no schema {name}"));
    let listed: BTreeSet<&str> = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name} has no properties: {schema}"))
        .keys()
        .map(String::as_str)
        .collect();
    let keys: BTreeSet<&str> = written
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, listed, "{name}: written fields vs schema properties");
    if let Err(e) = fits(&written, schema, name) {
        panic!("{e}\nwritten: {written:#}\nschema: {schema:#}");
    }
}
