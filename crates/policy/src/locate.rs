//! Finds the line and column of a field inside a block-style YAML document, so a finding
//! about `spec.template.spec.containers[0].image` points at that line rather than at the
//! start of the object. A light scanner over indentation, not a parser: it follows block
//! mappings and `- ` sequences and stops at flow collections (`{...}`, `[...]`), returning
//! the deepest position it could reach. The renderer may have added or moved the field
//! (kustomize patches, namespaces); then the nearest written ancestor is what is shown.

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Splits `a.b["c.d"][0].e` into steps; `None` for a malformed path.
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find("\"]")?;
            out.push(Step::Key(r[..end].replace("\\\"", "\"")));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Step::Key(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    Some(out)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The key a line starts with (after `indent` spaces and any `- ` markers), unquoted, and
/// the column it starts at.
fn key_at(line: &str) -> Option<(String, usize)> {
    let mut col = indent(line);
    let mut body = &line[col..];
    while let Some(b) = body.strip_prefix("- ") {
        body = b.trim_start_matches(' ');
        col = line.len() - body.len();
    }
    let (key, _) = body.split_once(':')?;
    let key = key.trim_end();
    let unquoted = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(key);
    Some((unquoted.to_string(), col))
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

fn is_item(line: &str) -> bool {
    let t = line.trim_start_matches(' ');
    t.starts_with("- ") || t == "-"
}

/// (line, column), 1-based, of `field` in the document starting at `start` (1-based) of
/// `text`; `None` when not even the first step is written there.
pub fn field_position(text: &str, start: usize, field: &str) -> Option<(usize, usize)> {
    let steps = steps(field)?;
    let lines: Vec<&str> = text
        .lines()
        .skip(start.saturating_sub(1))
        .take_while(|l| *l != "---" && !l.starts_with("--- "))
        .collect();
    // The block searched: lines [from, to); its keys sit right of `parent` (a column).
    let (mut from, mut to) = (0usize, lines.len());
    let mut parent: Option<usize> = None;
    let mut found = None;
    for step in steps {
        let content = (from..to).filter(|&i| is_content(lines[i]));
        let (i, col) = match &step {
            Step::Key(k) => {
                let keys: Vec<(usize, String, usize)> = content
                    .filter_map(|i| key_at(lines[i]).map(|(key, c)| (i, key, c)))
                    .filter(|(_, _, c)| parent.is_none_or(|p| *c > p))
                    .collect();
                let Some(level) = keys.iter().map(|(_, _, c)| *c).min() else {
                    break;
                };
                let Some(&(i, _, c)) = keys.iter().find(|(_, key, c)| key == k && *c == level)
                else {
                    break;
                };
                (i, c)
            }
            Step::Index(n) => {
                let items: Vec<usize> = content.filter(|&i| is_item(lines[i])).collect();
                let Some(level) = items.iter().map(|&i| indent(lines[i])).min() else {
                    break;
                };
                let Some(i) = items
                    .into_iter()
                    .filter(|&i| indent(lines[i]) == level)
                    .nth(*n)
                else {
                    break;
                };
                (i, level)
            }
        };
        found = Some((start + i, col + 1));
        let is_key = matches!(step, Step::Key(_));
        // The value's block: following lines right of this key (a compact `- ` list at the
        // key's own column belongs to it) or of this item's dash.
        to = (i + 1..to)
            .find(|&j| {
                is_content(lines[j])
                    && (indent(lines[j]) < col
                        || (indent(lines[j]) == col && !(is_key && is_item(lines[j]))))
            })
            .unwrap_or(to);
        // An item's first key sits on its dash line.
        from = if is_key { i + 1 } else { i };
        parent = Some(col);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    \"app.kubernetes.io/name\": web\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: init\n          image: busybox\n        - name: web\n          image: nginx:latest\n          ports:\n          - containerPort: 80\n          - containerPort: 80\n      volumes: [{name: a}]\n---\nkind: Other\nspec:\n  replicas: 9\n";

    #[test]
    fn finds_keys_items_and_stops_at_flow_and_documents() {
        assert_eq!(field_position(DOC, 1, "spec.replicas"), Some((8, 3)));
        assert_eq!(
            field_position(DOC, 1, "spec.template.spec.containers[1].image"),
            Some((15, 11))
        );
        assert_eq!(
            field_position(DOC, 1, "spec.template.spec.containers[0].name"),
            Some((12, 11))
        );
        assert_eq!(
            field_position(DOC, 1, "spec.template.spec.containers[1].ports[1]"),
            Some((18, 11))
        );
        assert_eq!(
            field_position(DOC, 1, "metadata.labels[\"app.kubernetes.io/name\"]"),
            Some((6, 5))
        );
        // Not written in the source (added by a renderer): the nearest ancestor.
        assert_eq!(
            field_position(DOC, 1, "spec.template.spec.volumes[0].name"),
            Some((19, 7))
        );
        assert_eq!(field_position(DOC, 1, "metadata.namespace"), Some((3, 1)));
        assert_eq!(field_position(DOC, 1, "status"), None);
        assert_eq!(field_position(DOC, 21, "spec.replicas"), Some((23, 3)));
        assert_eq!(field_position(DOC, 1, "a[\"unterminated"), None);
    }
}
