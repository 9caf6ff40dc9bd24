//! `kustomize edit set image`, as a text edit: the `images` entry of one image in a
//! kustomization file gets a new tag (or digest), and every other byte — comments, order,
//! quoting — stays as the user wrote it. Written for the block style kustomize itself
//! writes (`images:` then `- name: ...` items); anything else is refused with the reason,
//! never rewritten. The result is parsed again and must equal the input with only that
//! entry changed, so an edit that would change anything else is refused too.

use serde_json::{Value, json};

use driftless_core::yaml::{Limits, parse_stream};

/// A reference as CI produces it: `registry:5000/team/web:1.4.2`, `web@sha256:...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef, String> {
        let s = s.trim();
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) if d.contains(':') => (r, Some(d.to_string())),
            Some(_) => return Err(format!("image `{s}`: a digest is `@sha256:<hex>`")),
            None => (s, None),
        };
        // A colon after the last `/` is a tag; before it, a registry port.
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_string())),
            None => (rest, None),
        };
        if name.is_empty() || tag.as_deref() == Some("") {
            return Err(format!("image `{s}` is not NAME:TAG or NAME@DIGEST"));
        }
        if tag.is_none() && digest.is_none() {
            return Err(format!("image `{s}` has neither a tag nor a digest"));
        }
        Ok(ImageRef {
            name: name.to_string(),
            tag,
            digest,
        })
    }
}

/// The kustomization text with `image`'s entry set, and the entry's previous `newTag` or
/// `digest` (None when the entry is new).
pub fn set_image(text: &str, image: &ImageRef) -> Result<(String, Option<String>), String> {
    let before = single_doc(text)?;
    if let Some(images) = before.get("images")
        && !images.is_array()
        && !images.is_null()
    {
        return Err("`images` is not a list".into());
    }
    let old = before["images"].as_array().and_then(|list| {
        list.iter()
            .find(|e| e["name"] == image.name.as_str())
            .and_then(|e| e["newTag"].as_str().or(e["digest"].as_str()))
            .map(String::from)
    });
    let lines: Vec<&str> = text.lines().collect();
    if lines
        .iter()
        .any(|l| l.starts_with("images:") && !is_key(l, "images"))
    {
        return Err(format!(
            "the images list is not in block style (`images:` then `- name: ...` lines); set {} by hand",
            image.name
        ));
    }
    let out = match lines.iter().position(|l| is_key(l, "images")) {
        None => {
            let mut t = text.to_string();
            if !t.is_empty() && !t.ends_with('\n') {
                t.push('\n');
            }
            t.push_str("images:\n");
            t.push_str(&item_lines(image, "").join("\n"));
            t.push('\n');
            t
        }
        Some(at) => edit_block(&lines, at, image, text.ends_with('\n'))?,
    };
    // Nothing but that entry may differ.
    let mut expected = before.clone();
    let entry = {
        let mut e = json!({"name": image.name});
        if let Some(t) = &image.tag {
            e["newTag"] = json!(t);
        }
        if let Some(d) = &image.digest {
            e["digest"] = json!(d);
        }
        e
    };
    let list = expected["images"].as_array().cloned().unwrap_or_default();
    let mut found = false;
    let mut list: Vec<Value> = list
        .into_iter()
        .map(|mut e| {
            if e["name"] == image.name.as_str() {
                found = true;
                let m = e.as_object_mut().expect("an images entry is a map");
                m.remove("newTag");
                m.remove("digest");
                m.extend(entry.as_object().expect("map").clone());
            }
            e
        })
        .collect();
    if !found {
        list.push(entry);
    }
    expected["images"] = Value::Array(list);
    let after = single_doc(&out)?;
    if after != expected {
        return Err(format!(
            "the images list of this file is written in a way the editor cannot change safely (set {} by hand)",
            image.name
        ));
    }
    Ok((out, old))
}

/// What `name` is set to in a kustomization: its `images` entry's `newTag` and `digest`
/// (None when there is no entry or it sets neither) — the value a promotion reads.
pub fn image_of(text: &str, name: &str) -> Result<Option<ImageRef>, String> {
    let doc = single_doc(text)?;
    let Some(entry) = doc["images"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == name))
    else {
        return Ok(None);
    };
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let (tag, digest) = (scalar(&entry["newTag"]), scalar(&entry["digest"]));
    Ok((tag.is_some() || digest.is_some()).then(|| ImageRef {
        name: name.to_string(),
        tag,
        digest,
    }))
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn single_doc(text: &str) -> Result<Value, String> {
    let docs = parse_stream(text, &Limits::default()).map_err(|e| e.to_string())?;
    match docs.as_slice() {
        [d] if d.value.is_object() => Ok(d.value.clone()),
        [] => Ok(json!({})),
        _ => Err("a kustomization file is one YAML map".into()),
    }
}

/// `key:` at column 0 with nothing but a comment after it.
fn is_key(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .and_then(|r| r.strip_prefix(':'))
        .is_some_and(|r| r.trim().is_empty() || r.trim_start().starts_with('#'))
}

fn item_lines(image: &ImageRef, indent: &str) -> Vec<String> {
    let mut v = vec![format!("{indent}- name: {}", image.name)];
    if let Some(t) = &image.tag {
        v.push(format!("{indent}  newTag: \"{t}\""));
    }
    if let Some(d) = &image.digest {
        v.push(format!("{indent}  digest: {d}"));
    }
    v
}

fn edit_block(
    lines: &[&str],
    at: usize,
    image: &ImageRef,
    trailing_newline: bool,
) -> Result<String, String> {
    // The block: lines after `images:` that are indented, list items, blank or comments.
    let end = (at + 1..lines.len())
        .find(|&i| {
            let l = lines[i];
            !(l.is_empty() || l.starts_with(' ') || l.starts_with('-') || l.starts_with('#'))
        })
        .unwrap_or(lines.len());
    let item_starts: Vec<usize> = (at + 1..end)
        .filter(|&i| lines[i].trim_start().starts_with("- "))
        .collect();
    if item_starts.is_empty() && (at + 1..end).any(|i| !lines[i].trim().is_empty()) {
        return Err("the images list is not in block style".into());
    }
    let indent = item_starts
        .first()
        .map(|&i| &lines[i][..lines[i].len() - lines[i].trim_start().len()])
        .unwrap_or("");
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let matched = item_starts.iter().enumerate().find_map(|(n, &start)| {
        let stop = item_starts.get(n + 1).copied().unwrap_or(end);
        (start..stop)
            .any(|i| value_of(lines[i], "name").as_deref() == Some(image.name.as_str()))
            .then_some((start, stop))
    });
    match matched {
        Some((start, stop)) => {
            let key_indent = format!("{indent}  ");
            // Existing keys are rewritten in place (indent and comment kept); a key the new
            // reference does not have is removed; missing ones go after the item's last line.
            let mut tag_done = false;
            let mut digest_done = false;
            let mut removed = Vec::new();
            for (i, line) in lines.iter().enumerate().take(stop).skip(start) {
                for (key, want, done) in [
                    (
                        "newTag",
                        image.tag.as_ref().map(|t| format!("\"{t}\"")),
                        &mut tag_done,
                    ),
                    ("digest", image.digest.clone(), &mut digest_done),
                ] {
                    if value_of(line, key).is_none() {
                        continue;
                    }
                    match want {
                        Some(v) => {
                            out[i] = replace_value(line, key, &v);
                            *done = true;
                        }
                        None => removed.push(i),
                    }
                }
            }
            for i in removed.iter().rev() {
                out.remove(*i);
            }
            let mut pos = stop - removed.len();
            while pos > start + 1 && out[pos - 1].trim().is_empty() {
                pos -= 1;
            }
            let mut new = Vec::new();
            if let (Some(t), false) = (&image.tag, tag_done) {
                new.push(format!("{key_indent}newTag: \"{t}\""));
            }
            if let (Some(d), false) = (&image.digest, digest_done) {
                new.push(format!("{key_indent}digest: {d}"));
            }
            for (k, l) in new.into_iter().enumerate() {
                out.insert(pos + k, l);
            }
        }
        None => {
            let mut pos = end;
            while pos > at + 1 && out[pos - 1].trim().is_empty() {
                pos -= 1;
            }
            for (k, l) in item_lines(image, indent).into_iter().enumerate() {
                out.insert(pos + k, l);
            }
        }
    }
    let mut text = out.join("\n");
    if trailing_newline {
        text.push('\n');
    }
    Ok(text)
}

/// `line` with the value of `key:` replaced by `value`; the spacing and a trailing comment
/// kept byte for byte.
pub(crate) fn replace_value(line: &str, key: &str, value: &str) -> String {
    let at = line
        .find(&format!("{key}:"))
        .expect("the key is on this line")
        + key.len()
        + 1;
    let rest = &line[at..];
    let lead = rest.len() - rest.trim_start().len();
    let value_end = rest.find(" #").unwrap_or(rest.trim_end().len()).max(lead);
    // Spaces between the value and a comment belong to the comment part.
    let old_value = rest[lead..value_end].trim_end();
    let tail = &rest[lead + old_value.len()..];
    let space = if lead == 0 { " " } else { &rest[..lead] };
    format!("{}{space}{value}{tail}", &line[..at])
}

/// The scalar value of `key:` on this line (`- key: v` or `key: v`), unquoted.
fn value_of(line: &str, key: &str) -> Option<String> {
    let t = line.trim_start();
    let t = t.strip_prefix("- ").unwrap_or(t).trim_start();
    let rest = t.strip_prefix(key)?.strip_prefix(':')?;
    let v = rest.split(" #").next().unwrap_or_default().trim();
    Some(v.trim_matches(|c| c == '"' || c == '\'').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn references_split_registry_ports_tags_and_digests() {
        assert_eq!(
            img("registry:5000/team/web:1.4.2"),
            ImageRef {
                name: "registry:5000/team/web".into(),
                tag: Some("1.4.2".into()),
                digest: None
            }
        );
        let d = img("web@sha256:abc");
        assert_eq!(
            (d.name.as_str(), d.digest.as_deref()),
            ("web", Some("sha256:abc"))
        );
        assert!(ImageRef::parse("registry:5000/web").is_err());
        assert!(ImageRef::parse("web:").is_err());
    }

    const K: &str = "# the dev overlay\nresources:\n- ../../base   # shared\nimages:\n- name: web\n  newName: registry.example.com/web  # mirror\n  newTag: \"1.0\"\n- name: api\n  newTag: '2.0'\nnamePrefix: dev-\n";

    #[test]
    fn a_tag_changes_and_nothing_else_does() {
        let (out, old) = set_image(K, &img("web:1.1")).unwrap();
        assert_eq!(old.as_deref(), Some("1.0"));
        assert_eq!(out, K.replace("newTag: \"1.0\"", "newTag: \"1.1\""));
        let (out, _) = set_image(
            "images:\n- name: web\n  newTag:   \"1\"   # pinned\n",
            &img("web:2"),
        )
        .unwrap();
        assert_eq!(out, "images:\n- name: web\n  newTag:   \"2\"   # pinned\n");
        let (out, old) = set_image(K, &img("api:2.1")).unwrap();
        assert_eq!(old.as_deref(), Some("2.0"));
        assert_eq!(out, K.replace("  newTag: '2.0'", "  newTag: \"2.1\""));
    }

    #[test]
    fn new_entries_and_a_missing_images_list_are_added() {
        let (out, old) = set_image(K, &img("worker:3")).unwrap();
        assert_eq!(old, None);
        assert!(
            out.contains("  newTag: '2.0'\n- name: worker\n  newTag: \"3\"\nnamePrefix: dev-\n"),
            "{out}"
        );
        let (out, _) = set_image("resources: [a.yaml]\n", &img("web:1")).unwrap();
        assert_eq!(
            out,
            "resources: [a.yaml]\nimages:\n- name: web\n  newTag: \"1\"\n"
        );
        // A digest replaces the tag.
        let (out, _) = set_image(K, &img("web@sha256:ff")).unwrap();
        assert!(
            out.contains(
                "  newName: registry.example.com/web  # mirror\n  digest: sha256:ff\n- name: api"
            ),
            "{out}"
        );
    }

    #[test]
    fn styles_it_cannot_edit_safely_are_refused() {
        let e = set_image("images: [{name: web, newTag: '1'}]\n", &img("web:2")).unwrap_err();
        assert!(
            e.contains("set web by hand") || e.contains("block style"),
            "{e}"
        );
        assert!(set_image("images: web\n", &img("web:2")).is_err());
    }
}
