//! Patches: `patches` (strategic merge or JSON 6902, optionally with a `target` selector),
//! `patchesStrategicMerge` and `patchesJson6902`.

use driftless_core::{object, yaml};
use serde_json::Value;

use super::selector::Matcher;
use super::spec::{PatchSpec, Selector};
use super::{Builder, Resource};
use crate::RenderError;
use driftless_core::strategic::{self, Outcome};

/// A patch body loaded from `path` or inline `patch`, with its name for messages.
fn content(
    b: &mut Builder<'_, '_>,
    dir: &str,
    kfile: &str,
    field: &str,
    spec: &PatchSpec,
) -> Result<(String, String), RenderError> {
    match (&spec.path, &spec.patch) {
        (Some(p), None) => b.read_text(kfile, dir, p),
        (None, Some(inline)) => Ok((format!("{kfile} ({field}.patch)"), inline.clone())),
        _ => Err(RenderError::invalid(
            kfile,
            Some(field.into()),
            "set exactly one of `path` and `patch`",
        )),
    }
}

fn parse_docs(b: &Builder<'_, '_>, origin: &str, text: &str) -> Result<Vec<Value>, RenderError> {
    Ok(yaml::parse_stream(text, &b.limits.yaml)
        .map_err(|source| RenderError::Yaml {
            file: origin.to_string(),
            source,
        })?
        .into_iter()
        .map(|d| d.value)
        .collect())
}

/// What a patch may change about its target's identity (`patches[].options`).
#[derive(Clone, Copy, Default)]
struct Allow {
    name: bool,
    kind: bool,
}

impl Allow {
    fn of(spec: &PatchSpec) -> Self {
        let flag = |k: &str| {
            spec.options
                .get(k)
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        Allow {
            name: flag("allowNameChange"),
            kind: flag("allowKindChange"),
        }
    }
}

/// Applies one strategic-merge patch document to `r`; returns whether `r` is to be deleted.
/// As in kustomize, the target keeps its apiVersion, namespace, and (unless the patch's
/// options allow a change) its name and kind, whatever the patch document says.
fn apply_smp(
    r: &mut Resource,
    patch: &Value,
    origin: &str,
    allow: Allow,
) -> Result<bool, RenderError> {
    let mut patch = patch.clone();
    let (name, ns, kind) = (
        r.name().to_string(),
        r.namespace().to_string(),
        r.kind().to_string(),
    );
    if let Some(p) = patch.as_object_mut() {
        if let Some(av) = r.obj.get("apiVersion") {
            p.insert("apiVersion".into(), av.clone());
        }
        if !allow.kind || !p.contains_key("kind") {
            p.insert("kind".into(), Value::String(kind.clone()));
        }
    }
    let def = strategic::definition_of(&r.obj);
    let before = r.obj.clone();
    match strategic::apply(&mut r.obj, &patch, def) {
        Ok(Outcome::Delete) => return Ok(true),
        Ok(Outcome::Patched) => {
            super::smp_order::prepend_new_items(&before, &patch, &mut r.obj, def)
        }
        Err(e) => {
            return Err(RenderError::invalid(
                origin,
                (!e.field.is_empty()).then_some(e.field),
                format!("cannot patch {}: {}", r.key(), e.message),
            ));
        }
    }
    if ns.is_empty() {
        if let Some(m) = r.obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("namespace");
        }
    } else {
        object::set_namespace(&mut r.obj, &ns);
    }
    let (new_name, new_kind) = (r.name().to_string(), r.kind().to_string());
    if new_name != name || new_kind != kind {
        // kustomize stores the previous id when a patch may change name or kind.
        r.prev_ids.push((kind, name.clone(), ns));
    }
    if !allow.name || new_name.is_empty() {
        object::set_name(&mut r.obj, &name);
    } else if new_name != name {
        r.names.push(new_name);
    }
    Ok(false)
}

/// Resources a targetless strategic-merge patch names by its own apiVersion/kind/name.
fn self_targets(patch: &Value, ra: &[Resource]) -> Vec<usize> {
    let gvk = object::gvk(patch);
    let name = object::name(patch);
    let ns = object::namespace(patch);
    ra.iter()
        .enumerate()
        .filter(|(_, r)| {
            let current = gvk
                .as_ref()
                .is_some_and(|g| g.group == r.group() && g.kind == r.kind())
                && name.is_some_and(|n| r.had_name(n));
            // kustomize also finds a target by an earlier id (a patch that changed its kind
            // and name); there the patch's id acts as a selector, an empty group matching any.
            let earlier = gvk.as_ref().is_some_and(|g| {
                (g.group.is_empty() || g.group == r.group())
                    && r.prev_ids
                        .iter()
                        .any(|(k, n, _)| *k == g.kind && name == Some(n.as_str()))
            });
            (current || earlier) && ns.is_none_or(|n| r.namespaces.iter().any(|x| x == n))
        })
        .map(|(i, _)| i)
        .collect()
}

fn smp_without_target(
    origin: &str,
    patch: &Value,
    ra: &mut Vec<Resource>,
    allow: Allow,
) -> Result<(), RenderError> {
    let targets = self_targets(patch, ra);
    let describe = || {
        format!(
            "{} {}",
            object::kind(patch).unwrap_or("<no kind>"),
            object::name(patch).unwrap_or("<no metadata.name>")
        )
    };
    match targets.as_slice() {
        [i] => {
            if apply_smp(&mut ra[*i], patch, origin, allow)? {
                ra.remove(*i);
            }
            Ok(())
        }
        [] => Err(RenderError::invalid(
            origin,
            None,
            format!("patch target {} not found among the resources", describe()),
        )),
        _ => Err(RenderError::invalid(
            origin,
            None,
            format!(
                "patch target {} matches several resources; add metadata.namespace or use a target selector",
                describe()
            ),
        )),
    }
}

pub fn strategic_merge_files(
    b: &mut Builder<'_, '_>,
    dir: &str,
    kfile: &str,
    entries: &[String],
    ra: &mut Vec<Resource>,
) -> Result<(), RenderError> {
    for (i, entry) in entries.iter().enumerate() {
        let (origin, text) = if entry.contains('\n') || entry.trim_start().starts_with('{') {
            (
                format!("{kfile} (patchesStrategicMerge[{i}])"),
                entry.clone(),
            )
        } else {
            b.read_text(kfile, dir, entry)?
        };
        let docs = parse_docs(b, &origin, &text)?;
        if docs.is_empty() {
            return Err(RenderError::invalid(
                &origin,
                None,
                "patch appears to be empty (no YAML document, only comments or blank lines)",
            ));
        }
        for patch in docs {
            smp_without_target(&origin, &patch, ra, Allow::default())?;
        }
    }
    Ok(())
}

pub fn patches(
    b: &mut Builder<'_, '_>,
    dir: &str,
    kfile: &str,
    specs: &[PatchSpec],
    ra: &mut Vec<Resource>,
) -> Result<(), RenderError> {
    for (i, spec) in specs.iter().enumerate() {
        let field = format!("patches[{i}]");
        let (origin, text) = content(b, dir, kfile, &field, spec)?;
        let docs = parse_docs(b, &origin, &text)?;
        let allow = Allow::of(spec);
        let is_json6902 = docs.first().is_some_and(Value::is_array);
        match (&spec.target, is_json6902) {
            (None, true) => {
                return Err(RenderError::invalid(
                    kfile,
                    Some(field),
                    "a JSON 6902 patch needs a `target`",
                ));
            }
            (None, false) => {
                for patch in &docs {
                    smp_without_target(&origin, patch, ra, allow)?;
                }
            }
            (Some(target), _) => {
                let matcher = Matcher::new(kfile, &format!("{field}.target"), target)?;
                let hits: Vec<usize> = (0..ra.len()).filter(|&j| matcher.matches(&ra[j])).collect();
                if hits.is_empty() {
                    b.warnings
                        .push(format!("{kfile}: {field} matches no resource"));
                }
                let mut delete = Vec::new();
                for j in hits {
                    if is_json6902 {
                        apply_json6902(&mut ra[j], &docs[0], &origin)?;
                    } else {
                        for patch in &docs {
                            if apply_smp(&mut ra[j], patch, &origin, allow)? {
                                delete.push(j);
                            }
                        }
                    }
                }
                for j in delete.into_iter().rev() {
                    ra.remove(j);
                }
            }
        }
    }
    Ok(())
}

fn apply_json6902(r: &mut Resource, ops: &Value, origin: &str) -> Result<(), RenderError> {
    let ops: Vec<json_patch::PatchOperation> = serde_json::from_value(ops.clone())
        .map_err(|e| RenderError::invalid(origin, None, format!("not a JSON 6902 patch: {e}")))?;
    let before = r.name().to_string();
    let before_kind = r.kind().to_string();
    let mut doc = r.obj.clone();
    for (i, op) in ops.into_iter().enumerate() {
        // kustomize's json-patch library lets `replace` set a key an object does not have yet
        // (it behaves as `add`); kustomize output depends on it, so we do the same.
        let op = match op {
            json_patch::PatchOperation::Replace(rep)
                if replaces_missing_key(&doc, rep.path.as_str()) =>
            {
                json_patch::PatchOperation::Add(json_patch::AddOperation {
                    path: rep.path,
                    value: rep.value,
                })
            }
            op => op,
        };
        json_patch::patch(&mut doc, &json_patch::Patch(vec![op])).map_err(|e| {
            // The error names the operation and path; never the values.
            RenderError::invalid(
                origin,
                None,
                format!(
                    "cannot patch {}: operation {i} (`{}`) failed: {}",
                    r.key(),
                    e.path,
                    e.kind
                ),
            )
        })?;
    }
    let after = object::name(&doc).unwrap_or_default().to_string();
    r.obj = doc;
    // kustomize applies JSON 6902 operations as written: a patch may rename its target
    // (allowNameChange only guards strategic-merge patches); references follow the new name.
    if after != before || r.kind() != before_kind {
        r.prev_ids
            .push((before_kind, before, r.namespace().to_string()));
        if !r.names.contains(&after) {
            r.names.push(after);
        }
    }
    Ok(())
}

/// Whether `path` names a missing key of an existing object (not a list index).
fn replaces_missing_key(doc: &Value, path: &str) -> bool {
    let Some((parent, key)) = path.rsplit_once('/') else {
        return false;
    };
    let key = key.replace("~1", "/").replace("~0", "~");
    doc.pointer(parent)
        .and_then(Value::as_object)
        .is_some_and(|m| !m.contains_key(&key))
}

pub fn json6902(
    b: &mut Builder<'_, '_>,
    dir: &str,
    kfile: &str,
    specs: &[PatchSpec],
    ra: &mut [Resource],
) -> Result<(), RenderError> {
    for (i, spec) in specs.iter().enumerate() {
        let field = format!("patchesJson6902[{i}]");
        let target: &Selector = spec.target.as_ref().ok_or_else(|| {
            RenderError::invalid(kfile, Some(field.clone()), "`target` is required")
        })?;
        let (origin, text) = content(b, dir, kfile, &field, spec)?;
        let docs = parse_docs(b, &origin, &text)?;
        let ops = docs.first().filter(|d| d.is_array()).ok_or_else(|| {
            RenderError::invalid(
                &origin,
                None,
                "a JSON 6902 patch must be a list of operations",
            )
        })?;
        let matcher = Matcher::new(kfile, &format!("{field}.target"), target)?;
        let hits: Vec<usize> = (0..ra.len()).filter(|&j| matcher.matches(&ra[j])).collect();
        if hits.is_empty() {
            return Err(RenderError::invalid(
                kfile,
                Some(format!("{field}.target")),
                "matches no resource",
            ));
        }
        for j in hits {
            apply_json6902(&mut ra[j], ops, &origin)?;
        }
    }
    Ok(())
}
