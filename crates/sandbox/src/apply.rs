//! Server-side apply and field ownership on the store's objects.
//!
//! Every write records who set which fields in `metadata.managedFields`: an `Apply` entry per
//! applier (its applied configuration) and `Update` entries for other writes (the fields they
//! changed). An apply that sets a field another manager owns, to a different value, is a
//! conflict (409, message shaped like transcript 06) unless forced, which takes the field
//! over (transcript 07). Fields an applier stops declaring are removed when no one else owns
//! them.

use driftless_core::schema::{self, FieldMeta};
use serde_json::{Map, Value, json};

use crate::fields::{self, FieldSet, Pe};
use crate::meta;

/// One `managedFields` entry, parsed.
#[derive(Debug, Clone)]
pub struct Managed {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub set: FieldSet,
    /// `status` for a write through the status subresource (a controller's), else None.
    pub subresource: Option<String>,
}

impl Managed {
    /// The entry of a server-side apply by `manager`.
    fn applied(manager: &str, api_version: String, time: String, set: FieldSet) -> Self {
        Managed {
            manager: manager.into(),
            operation: "Apply".into(),
            api_version,
            time,
            set,
            subresource: None,
        }
    }
}

pub fn parse_managed(obj: &Value) -> Vec<Managed> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Managed {
            manager: e["manager"].as_str().unwrap_or_default().into(),
            operation: e["operation"].as_str().unwrap_or_default().into(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().into(),
            time: e["time"].as_str().unwrap_or_default().into(),
            set: fields::from_fields_v1(&e["fieldsV1"]),
            subresource: e["subresource"].as_str().map(String::from),
        })
        .collect()
}

pub fn render_managed(entries: &[Managed]) -> Value {
    Value::Array(
        entries
            .iter()
            .filter(|e| !e.set.is_empty())
            .map(|e| {
                let mut entry = json!({"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version, "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": fields::to_fields_v1(&e.set)});
                if let Some(sub) = &e.subresource {
                    entry["subresource"] = json!(sub);
                }
                entry
            })
            .collect(),
    )
}

/// The definition used for merging a built-in object (None for custom resources).
pub fn definition(obj: &Value, custom: bool) -> Option<&'static str> {
    if custom {
        return None;
    }
    let gvk = driftless_core::object::gvk(obj)?;
    schema::builtin().definition_name(&gvk)
}

fn meta_of(def: Option<&str>, k: &str) -> Option<&'static FieldMeta> {
    schema::builtin().field(def?, k)
}

/// Merges an applied configuration into the live object, following list-map keys.
pub fn merge(live: &mut Value, applied: &Value, def: Option<&str>) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, av) in a {
                let fm = if k == "metadata" {
                    None
                } else {
                    meta_of(def, k)
                };
                let child_def = if k == "metadata" {
                    Some("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
                } else {
                    fm.and_then(FieldMeta::child_def)
                };
                match (l.get_mut(k), av) {
                    (Some(lv @ Value::Object(_)), Value::Object(_))
                        if fm.and_then(|f| f.map_type.as_deref()) != Some("atomic") =>
                    {
                        merge(lv, av, child_def)
                    }
                    (Some(Value::Array(lv)), Value::Array(items))
                        if fm.and_then(|f| f.list_type.as_deref()) == Some("map") =>
                    {
                        let keys = &fm.expect("checked").list_keys;
                        for item in items {
                            let key = fields::item_key(item, keys);
                            match lv
                                .iter_mut()
                                .find(|x| key.is_some() && fields::item_key(x, keys) == key)
                            {
                                Some(existing) => {
                                    merge(existing, item, fm.and_then(|f| f.items.as_deref()))
                                }
                                None => lv.push(item.clone()),
                            }
                        }
                    }
                    (Some(Value::Array(lv)), Value::Array(items))
                        if fm.and_then(|f| f.list_type.as_deref()) == Some("set") =>
                    {
                        for item in items {
                            if !lv.contains(item) {
                                lv.push(item.clone());
                            }
                        }
                    }
                    _ => {
                        l.insert(k.clone(), av.clone());
                    }
                }
            }
        }
        (l, a) => *l = a.clone(),
    }
}

/// Paths of `new` whose value differs from `old` (what an Update operation takes ownership of).
pub fn changed(old: &Value, new: &Value, def: Option<&str>) -> FieldSet {
    fields::field_set(new, def)
        .into_iter()
        .filter(|p| fields::value_at(old, p) != fields::value_at(new, p))
        .collect()
}

/// A conflict: another manager owns a field the apply sets to a different value.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub manager: String,
    pub api_version: String,
    pub path: String,
}

/// The apiserver's conflict message (one conflict, or several grouped by manager).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with \"{}\" using {}: {}",
            c.manager, c.api_version, c.path
        );
    }
    let mut groups: Vec<(String, String, Vec<String>)> = Vec::new();
    for c in conflicts {
        match groups
            .iter_mut()
            .find(|g| g.0 == c.manager && g.1 == c.api_version)
        {
            Some(g) => g.2.push(c.path.clone()),
            None => groups.push((
                c.manager.clone(),
                c.api_version.clone(),
                vec![c.path.clone()],
            )),
        }
    }
    let body: Vec<String> = groups
        .iter()
        .map(|(m, v, paths)| {
            format!(
                "conflicts with \"{m}\" using {v}:\n{}",
                paths
                    .iter()
                    .map(|p| format!("- {p}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
        .collect();
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        body.join("\n")
    )
}

/// The outcome of applying `applied` as `manager` onto `live` (None: the object is new).
pub struct Applied {
    pub object: Value,
    pub managed: Vec<Managed>,
}

/// `defaulted` is `applied` after the server's defaulting: it keys list items and is what gets
/// compared and merged, while the applier owns only the fields of `applied`.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    defaulted: &Value,
    manager: &str,
    force: bool,
    def: Option<&str>,
) -> Result<Applied, Vec<Conflict>> {
    let api_version = applied["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let set = fields::field_set_keyed(applied, defaulted, def);
    let applied = defaulted;
    let now = meta::now();
    let Some(live) = live else {
        let entry = Managed::applied(manager, api_version, now, set);
        return Ok(Applied {
            object: applied.clone(),
            managed: vec![entry],
        });
    };
    let mut managed = parse_managed(live);
    let mut conflicts = Vec::new();
    for m in managed
        .iter()
        .filter(|m| !(m.manager == manager && m.operation == "Apply"))
    {
        for p in set.intersection(&m.set) {
            if fields::value_at(live, p) != fields::value_at(applied, p) {
                conflicts.push(Conflict {
                    manager: m.manager.clone(),
                    api_version: m.api_version.clone(),
                    path: fields::display(p),
                });
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    if force {
        for m in managed
            .iter_mut()
            .filter(|m| !(m.manager == manager && m.operation == "Apply"))
        {
            let taken: Vec<_> = m
                .set
                .intersection(&set)
                .filter(|p| fields::value_at(live, p) != fields::value_at(applied, p))
                .cloned()
                .collect();
            for p in taken {
                m.set.remove(&p);
            }
        }
    }
    let previous = managed
        .iter()
        .find(|m| m.manager == manager && m.operation == "Apply")
        .map(|m| m.set.clone())
        .unwrap_or_default();
    let mut object = live.clone();
    // Fields this applier declared before and no longer does, that no one else owns, go away
    // (deepest first, so list items lose their fields before themselves).
    let mut dropped: Vec<&Vec<Pe>> = previous
        .difference(&set)
        .filter(|p| {
            !managed
                .iter()
                .any(|m| !(m.manager == manager && m.operation == "Apply") && m.set.contains(*p))
        })
        .collect();
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in dropped {
        fields::remove_at(&mut object, p);
    }
    merge(&mut object, applied, def);
    match managed
        .iter_mut()
        .find(|m| m.manager == manager && m.operation == "Apply")
    {
        Some(m) => {
            m.set = set;
            m.time = now;
            m.api_version = api_version;
        }
        None => managed.push(Managed::applied(manager, api_version, now, set)),
    }
    Ok(Applied { object, managed })
}

/// Records an Update operation by `manager` that turned `old` into `new`.
pub fn record_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    def: Option<&str>,
) -> Vec<Managed> {
    let mut managed = old.map(parse_managed).unwrap_or_default();
    let mut took = match old {
        Some(o) => changed(o, new, def),
        None => fields::field_set(new, def),
    };
    took.extend(fields::added_containers(old, new, &took, def));
    if took.is_empty() {
        return managed;
    }
    for m in managed
        .iter_mut()
        .filter(|m| !(m.manager == manager && m.operation == "Update" && m.subresource.is_none()))
    {
        m.set = m.set.difference(&took).cloned().collect();
    }
    let api_version = new["apiVersion"].as_str().unwrap_or_default().to_string();
    match managed
        .iter_mut()
        .find(|m| m.manager == manager && m.operation == "Update" && m.subresource.is_none())
    {
        Some(m) => {
            m.set.extend(took);
            m.time = meta::now();
        }
        None => managed.push(Managed {
            manager: manager.into(),
            operation: "Update".into(),
            api_version,
            time: meta::now(),
            set: took,
            subresource: None,
        }),
    }
    managed.retain(|m| !m.set.is_empty());
    managed
}

/// Records a controller's write of `new`'s status through the status subresource: `manager`
/// owns every status field, plus `extra` paths (e.g. the Deployment revision annotation).
/// `before` holds the object's status and annotations before the write. Only this entry is
/// built; the others stay as they are (the simulator writes thousands of these).
pub fn record_status_update(
    new: &mut Value,
    before: &Value,
    manager: &str,
    def: Option<&str>,
    extra: &[fields::Path],
) {
    let mut fields_v1 = status_fields_v1(new, before, manager, def, extra);
    // An Update keeps what its manager owned before and still exists (e.g. the `.` of a list
    // it created on an earlier write).
    let previous = new["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| {
            e["manager"] == manager && e["operation"] == "Update" && e["subresource"] == "status"
        })
        .map(|e| e["fieldsV1"].clone());
    if let Some(mut previous) = previous {
        fields::prune_absent(&mut previous, new);
        fields::union_fields(&mut fields_v1, &previous);
    }
    let entry = json!({"manager": manager, "operation": "Update", "apiVersion": new["apiVersion"], "time": meta::now(), "fieldsType": "FieldsV1", "fieldsV1": fields_v1, "subresource": "status"});
    let Some(m) = new["metadata"].as_object_mut() else {
        return;
    };
    let entries = m
        .entry("managedFields")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(list) = entries.as_array_mut() {
        list.retain(|e| {
            !(e["manager"] == manager && e["operation"] == "Update" && e["subresource"] == "status")
        });
        list.push(entry);
    }
}

/// Status writes of one kind repeat the same few shapes (every rolled-out Deployment has
/// the same condition types), and building a field set costs far more than recognizing its
/// shape; so `fieldsV1` is cached by shape. Bounded: emptied when full.
static STATUS_FIELDS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, Value>>,
> = std::sync::LazyLock::new(Default::default);
const STATUS_FIELDS_LIMIT: usize = 1024;

fn status_fields_v1(
    new: &Value,
    before: &Value,
    manager: &str,
    def: Option<&str>,
    extra: &[fields::Path],
) -> Value {
    let mut shape = format!("{manager}|{def:?}|{extra:?}|");
    skeleton(&new["status"], &mut shape);
    shape.push('|');
    skeleton(&before["status"], &mut shape);
    for v in [
        &new["metadata"]["annotations"],
        &before["metadata"]["annotations"],
    ] {
        shape.push(if v.is_object() { 'a' } else { '-' });
    }
    let cache = &STATUS_FIELDS;
    if let Some(hit) = cache.lock().expect("cache lock").get(&shape) {
        return hit.clone();
    }
    let mut set = fields::status_field_set(new, def);
    set.extend(extra.iter().cloned());
    set.extend(fields::added_containers(Some(before), new, &set, def));
    let v = fields::to_fields_v1(&set);
    let mut c = cache.lock().expect("cache lock");
    if c.len() >= STATUS_FIELDS_LIMIT {
        c.clear();
    }
    c.insert(shape, v.clone());
    v
}

/// Condition fields whose values never appear in `fieldsV1` (conditions are keyed by type).
const VOLATILE: &[&str] = &[
    "lastTransitionTime",
    "lastUpdateTime",
    "lastProbeTime",
    "message",
    "reason",
    "status",
];

/// What decides a status write's field set: the keys present, and inside lists every value
/// that can be part of an item's key (all but the volatile condition fields).
fn skeleton(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            out.push('{');
            for (k, c) in m {
                out.push_str(k);
                out.push(':');
                skeleton(c, out);
                out.push(',');
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for item in a {
                match item {
                    Value::Object(m) => {
                        out.push('{');
                        for (k, c) in m {
                            out.push_str(k);
                            if c.is_object() || c.is_array() {
                                skeleton(c, out);
                            } else if !VOLATILE.contains(&k.as_str()) {
                                out.push('=');
                                out.push_str(&c.to_string());
                            }
                            out.push(',');
                        }
                        out.push('}');
                    }
                    other => out.push_str(&other.to_string()),
                }
                out.push(',');
            }
            out.push(']');
        }
        Value::Null => out.push('~'),
        _ => out.push('.'),
    }
}

/// Sets `metadata.managedFields` (or removes it when empty).
pub fn set_managed(obj: &mut Value, managed: &[Managed]) {
    let rendered = render_managed(managed);
    match obj["metadata"].as_object_mut() {
        Some(m) if rendered.as_array().is_some_and(|a| !a.is_empty()) => {
            m.insert("managedFields".into(), rendered);
        }
        Some(m) => {
            m.remove("managedFields");
        }
        None => {
            obj["metadata"] = Value::Object(Map::new());
        }
    }
}
