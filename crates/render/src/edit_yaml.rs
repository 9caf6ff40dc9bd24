//! One scalar of a YAML file set by a text edit (a promotion writing `image.tag` into a Helm
//! values file): the line holding the value is rewritten and every other byte — comments,
//! order, quoting of the rest — stays. Block mappings only; a path through a list, a flow
//! map or a multi-line value is refused with the reason. The result is parsed again and
//! must equal the input with only that value changed.

use serde_json::Value;

use driftless_core::yaml::{Limits, parse_stream};

use crate::kustomize::edit_images::replace_value;

/// The value at a dotted `path` (`image.tag`) of a one-document YAML text, as text (numbers
/// and booleans as written by JSON); None when the path is absent or not a scalar.
pub fn get_scalar(text: &str, path: &str) -> Result<Option<String>, String> {
    let doc = one_doc(text)?;
    Ok(scalar_text(lookup(&doc, path)))
}

fn scalar_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, k| v.get(k))
}

fn one_doc(text: &str) -> Result<Value, String> {
    let docs = parse_stream(text, &Limits::default()).map_err(|e| e.to_string())?;
    match docs.as_slice() {
        [d] if d.value.is_object() => Ok(d.value.clone()),
        _ => Err("expected one YAML document holding a map".into()),
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// The text with the scalar at `path` set to `value`, and its previous value.
pub fn set_scalar(text: &str, path: &str, value: &str) -> Result<(String, Option<String>), String> {
    let before = one_doc(text)?;
    let old = lookup(&before, path);
    if old.is_some_and(|v| v.is_object() || v.is_array()) {
        return Err(format!("{path} holds a map or list, not a single value"));
    }
    let old_text = scalar_text(old);
    let lines: Vec<&str> = text.lines().collect();
    let keys: Vec<&str> = path.split('.').collect();
    // Walk down the block maps: each key is looked for among the lines of its parent's block
    // at the block's own indentation.
    let (mut start, mut end, mut parent_indent) = (0usize, lines.len(), None::<usize>);
    let mut found = None;
    for (depth, key) in keys.iter().enumerate() {
        let child_indent = (start..end)
            .map(|i| lines[i])
            .find(|l| is_content(l))
            .map(indent_of);
        let Some(child_indent) = child_indent.filter(|c| parent_indent.is_none_or(|p| *c > p))
        else {
            return Err(missing(path, key));
        };
        let at = (start..end).find(|&i| {
            indent_of(lines[i]) == child_indent && {
                let t = lines[i].trim_start();
                t.strip_prefix(key).is_some_and(|r| r.starts_with(':'))
                    || t.strip_prefix(&format!("\"{key}\""))
                        .is_some_and(|r| r.starts_with(':'))
            }
        });
        let Some(at) = at else {
            return Err(missing(path, key));
        };
        if depth + 1 == keys.len() {
            found = Some(at);
            break;
        }
        let block_end = (at + 1..end)
            .find(|&i| is_content(lines[i]) && indent_of(lines[i]) <= child_indent)
            .unwrap_or(end);
        (start, end, parent_indent) = (at + 1, block_end, Some(child_indent));
    }
    let at = found.ok_or_else(|| missing(path, keys[keys.len() - 1]))?;
    let line = lines[at];
    let key = keys[keys.len() - 1];
    let written_key = if line.trim_start().starts_with('"') {
        format!("\"{key}\"")
    } else {
        key.to_string()
    };
    let rest = line.trim_start()[written_key.len() + 1..].trim();
    let current = rest.split(" #").next().unwrap_or_default().trim();
    if current.is_empty() || current.starts_with(['|', '>', '&', '*', '!', '{', '[']) {
        return Err(format!(
            "{path} is written in a way the editor cannot change safely (set it by hand)"
        ));
    }
    let quoted = if current.starts_with('\'') {
        format!("'{}'", value.replace('\'', "''"))
    } else if current.starts_with('"') || old.is_none_or(|v| v.is_string()) {
        // A string stays a string: a plain `1.10` would read back as a number.
        serde_json::to_string(value).unwrap_or_default()
    } else {
        value.to_string()
    };
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out[at] = replace_value(line, &written_key, &quoted);
    let mut new_text = out.join("\n");
    if text.ends_with('\n') {
        new_text.push('\n');
    }
    // The edit must change that value and nothing else.
    let after = one_doc(&new_text)?;
    let mut expected = before.clone();
    let slot = keys[..keys.len() - 1]
        .iter()
        .try_fold(&mut expected, |v, k| v.get_mut(*k))
        .and_then(|m| m.as_object_mut())
        .ok_or_else(|| missing(path, key))?;
    let typed = lookup(&after, path).cloned().unwrap_or(Value::Null);
    if scalar_text(Some(&typed)).as_deref() != Some(value) {
        return Err(format!(
            "{path}: writing {value:?} would not read back as that value (set it by hand)"
        ));
    }
    slot.insert(key.to_string(), typed);
    if after != expected {
        return Err(format!(
            "{path}: the edit would change more than that value (set it by hand)"
        ));
    }
    Ok((new_text, old_text))
}

fn missing(path: &str, key: &str) -> String {
    format!(
        "{path}: no key `{key}` in block style on that path (the editor does not add keys or walk into lists; add it by hand once)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: &str = "# shop values\nreplicaCount: 2\nimage:\n  repository: registry.example.com/shop # where\n  tag: \"1.4.0\"   # bumped by CI\n  pullPolicy: IfNotPresent\nother:\n  tag: keep\n";

    #[test]
    fn a_nested_value_changes_and_every_other_byte_stays() {
        assert_eq!(
            get_scalar(VALUES, "image.tag").unwrap().as_deref(),
            Some("1.4.0")
        );
        let (out, old) = set_scalar(VALUES, "image.tag", "1.5.0").unwrap();
        assert_eq!(old.as_deref(), Some("1.4.0"));
        assert_eq!(out, VALUES.replace("\"1.4.0\"", "\"1.5.0\""));
        assert_eq!(
            get_scalar(&out, "other.tag").unwrap().as_deref(),
            Some("keep")
        );
    }

    #[test]
    fn strings_stay_strings_and_numbers_numbers() {
        let (out, _) = set_scalar("app:\n  version: v1\n", "app.version", "1.10").unwrap();
        assert_eq!(out, "app:\n  version: \"1.10\"\n");
        let (out, old) = set_scalar("replicas: 2\n", "replicas", "3").unwrap();
        assert_eq!((out.as_str(), old.as_deref()), ("replicas: 3\n", Some("2")));
        let (out, _) = set_scalar("tag: 'a'\n", "tag", "it's").unwrap();
        assert_eq!(out, "tag: 'it''s'\n");
    }

    #[test]
    fn what_it_cannot_edit_safely_is_refused() {
        let e = set_scalar("image: {tag: a}\n", "image.tag", "b").unwrap_err();
        assert!(e.contains("image.tag"), "{e}");
        let e = set_scalar("image:\n  repository: x\n", "image.tag", "b").unwrap_err();
        assert!(e.contains("no key `tag`"), "{e}");
        let e = set_scalar("image:\n  tag: |\n    a\n", "image.tag", "b").unwrap_err();
        assert!(e.contains("cannot change safely"), "{e}");
        assert!(set_scalar("a: 1\n---\nb: 2\n", "a", "3").is_err());
    }
}
