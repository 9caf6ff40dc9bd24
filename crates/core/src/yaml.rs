//! The one YAML wrapper of the project.
//!
//! Every manifest, kustomization and definition file is read through [`parse_stream`], so the
//! whole engine agrees with kubectl on scalars (`0644` is 420, `yes` is true) and every input is
//! parsed under the same bounds: total size, document count, nesting depth, node count and
//! scalar bytes. Nodes and scalar bytes are counted after alias expansion (what stops anchor
//! bombs) and the budget is shared by every document of a stream, so a file of many small
//! bombs fails as one big one would. A caller that reads many streams for one task (a
//! render, a request) can share one budget across all of them with [`scoped`].
//!
//! Documents are split on `---` markers here rather than by the parser so each one keeps its
//! index in the stream (empty and comment-only documents included), which errors report.
//! Error messages never quote the input: a YAML file can hold secrets.

use serde_json::Value;

pub use crate::yaml_emit::{to_yaml, to_yaml_stream};

/// Bounds applied to one YAML stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted stream, in bytes.
    pub max_bytes: usize,
    /// Most documents in one stream (empty ones count).
    pub max_documents: usize,
    /// Deepest nesting of mappings and sequences. 64 holds the deepest real CRD schemas and
    /// keeps the parser's recursion well inside a 2 MiB thread stack.
    pub max_depth: usize,
    /// Most nodes (scalars, mapping keys, mappings, sequences) in the whole stream after
    /// alias expansion, shared by its documents.
    pub max_nodes: usize,
    /// Most bytes of scalar text (keys included) in the whole stream after alias expansion.
    pub max_scalar_bytes: usize,
}

impl Default for Limits {
    /// Sized so large real inputs (a CRD bundle of a few MB is ~150k nodes) pass with room to
    /// spare and the worst a hostile stream can reach stays well under 200 MB of memory (~150
    /// bytes a node): `up` rendering four hostile files peaks at ~170 MB (debug build,
    /// `scripts/hostile-rss.sh`); 500k nodes let it reach 206 MB.
    fn default() -> Self {
        Limits {
            max_bytes: 8 * 1024 * 1024,
            max_documents: 10_000,
            max_depth: 64,
            max_nodes: 350_000,
            max_scalar_bytes: 24 * 1024 * 1024,
        }
    }
}

mod budget;
mod warnings;

pub use budget::{Budget, scoped};
use budget::{Usage, charge_scope, measure, scope_left};
pub use warnings::yaml11_warnings;

/// One non-empty document of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Position in the stream, 0-based, counting empty documents too.
    pub index: usize,
    /// 1-based line of the document's first line in the stream.
    pub line: usize,
    pub value: Value,
}

/// A scalar whose meaning differs between YAML 1.1 (what kubectl reads) and YAML 1.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarWarning {
    pub document: usize,
    /// JSON pointer of the field, e.g. `/spec/template/metadata/labels/enabled`.
    pub pointer: String,
    pub message: String,
}

/// Why a YAML stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    #[error("stream is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("stream has more than {limit} documents")]
    TooManyDocuments { limit: usize },
    /// The shared budget of a stream or of a render/request ran out (alias expansion counted).
    #[error("document {document}: YAML budget exceeded: more than {limit} {what} {scope}")]
    Budget {
        document: usize,
        what: &'static str,
        limit: usize,
        scope: &'static str,
    },
    #[error("document {document} (line {line}): {message}")]
    Syntax {
        document: usize,
        line: usize,
        message: String,
    },
}

fn options(
    limits: &Limits,
    yaml_11: bool,
    nodes: usize,
    scalar_bytes: usize,
) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    budget.max_nodes = nodes;
    budget.max_total_scalar_bytes = scalar_bytes;
    budget.max_events = budget.max_events.max(nodes.saturating_mul(2));
    // Events kept to replay aliases are memory too: no more of them than nodes allowed.
    budget.max_recorded_anchor_events = budget.max_recorded_anchor_events.min(nodes.max(1024));
    budget.max_documents = 1;
    let mut opts = serde_saphyr::Options::default();
    opts.budget = Some(budget);
    opts.legacy_octal_numbers = yaml_11;
    opts.strict_booleans = !yaml_11;
    opts.with_snippet = false;
    opts
}

/// Splits a stream into documents at `---` / `...` markers at the start of a line. A marker at
/// column 0 always ends a document in YAML, even inside block scalars, so this is exact.
/// Returns (first line number, text) pairs.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start_line = 1;
    let mut saw_content_or_marker = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker = |m: &str| {
            bare == m || bare.starts_with(&format!("{m} ")) || bare.starts_with(&format!("{m}\t"))
        };
        if is_marker("---") {
            if saw_content_or_marker || !current.trim().is_empty() {
                docs.push((start_line, std::mem::take(&mut current)));
            }
            current.clear();
            // Content on the marker line (`--- {a: 1}`) belongs to the new document.
            current.push_str(bare[3..].trim_start());
            current.push('\n');
            start_line = i + 1;
            saw_content_or_marker = true;
        } else if is_marker("...") {
            docs.push((start_line, std::mem::take(&mut current)));
            start_line = i + 2;
            saw_content_or_marker = false;
        } else {
            current.push_str(line);
            if !bare.trim().is_empty() && !bare.trim_start().starts_with('#') {
                saw_content_or_marker = true;
            }
        }
    }
    if saw_content_or_marker || !current.trim().is_empty() {
        docs.push((start_line, current));
    }
    docs
}

/// Parses a multi-document stream with kubectl-compatible scalars. Empty and comment-only
/// documents are skipped but keep their place in the numbering. The stream's budget (and the
/// enclosing [`scoped`] one, if any) is shared by all its documents.
/// Streams that use anchors and aliases, parsed one at a time across the process.
static ALIAS_PARSES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether a stream may use anchors and aliases (cheap and conservative: a false positive only
/// serializes that parse).
fn may_use_aliases(text: &str) -> bool {
    text.contains('&') && text.contains('*')
}

pub fn parse_stream(text: &str, limits: &Limits) -> Result<Vec<Document>, YamlError> {
    // Alias expansion is the only way a small input grows into a large tree. Each stream is
    // bounded by its budget, but concurrent renders of hostile files would stack their peaks
    // (four bombs rendered by four workers took `up` to 276 MB): such streams take turns.
    let _one_at_a_time =
        may_use_aliases(text).then(|| ALIAS_PARSES.lock().unwrap_or_else(|e| e.into_inner()));
    let scope = scope_left();
    if text.len() > limits.max_bytes {
        return Err(YamlError::TooLarge {
            size: text.len(),
            limit: limits.max_bytes,
        });
    }
    if let Some(b) = scope
        && text.len() > b.bytes
    {
        return Err(budget_error(0, "bytes", b.bytes, true));
    }
    let chunks = split_documents(text);
    if chunks.len() > limits.max_documents {
        return Err(YamlError::TooManyDocuments {
            limit: limits.max_documents,
        });
    }
    if let Some(b) = scope
        && chunks.len() > b.documents
    {
        return Err(budget_error(0, "documents", b.documents, true));
    }
    let mut used = Usage {
        bytes: text.len(),
        documents: chunks.len(),
        ..Usage::default()
    };
    let result = parse_chunks(chunks, limits, scope, &mut used);
    charge_scope(used);
    result
}

fn budget_error(document: usize, what: &'static str, limit: usize, task: bool) -> YamlError {
    YamlError::Budget {
        document,
        what,
        limit,
        scope: if task {
            "in this render or request"
        } else {
            "in this stream"
        },
    }
}

fn parse_chunks(
    chunks: Vec<(usize, String)>,
    limits: &Limits,
    scope: Option<Budget>,
    used: &mut Usage,
) -> Result<Vec<Document>, YamlError> {
    let mut out = Vec::new();
    for (index, (line, chunk)) in chunks.into_iter().enumerate() {
        if chunk.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t.starts_with('%')
        }) {
            continue;
        }
        // What is left for this document: the stream's remainder, or the task's if smaller.
        let stream_nodes = limits.max_nodes.saturating_sub(used.nodes);
        let stream_bytes = limits.max_scalar_bytes.saturating_sub(used.scalar_bytes);
        let (task_nodes, task_bytes) = scope.map_or((usize::MAX, usize::MAX), |b| {
            (
                b.nodes.saturating_sub(used.nodes),
                b.scalar_bytes.saturating_sub(used.scalar_bytes),
            )
        });
        let nodes = stream_nodes.min(task_nodes);
        let bytes = stream_bytes.min(task_bytes);
        let opts = options(limits, true, nodes, bytes);
        // The binding limit names the scope in errors: the task's when it is the smaller.
        let task = nodes < stream_nodes || bytes < stream_bytes;
        let value: Option<Value> =
            serde_saphyr::from_str_with_options(&chunk, opts).map_err(|e| {
                // Matched on the text: the parser wraps its budget errors differently
                // depending on where they fire. Depth keeps its own message.
                let text = e.to_string();
                match text.split_once("budget breached: ") {
                    Some((_, breach)) if !breach.starts_with("Depth") => {
                        if breach.starts_with("ScalarBytes") {
                            budget_error(index, "scalar bytes", bytes + used.scalar_bytes, task)
                        } else if breach.starts_with("Nodes") {
                            budget_error(index, "nodes", nodes + used.nodes, task)
                        } else {
                            YamlError::Budget {
                                document: index,
                                what: "alias expansions or anchors",
                                limit: 1_000_000,
                                scope: "in one document",
                            }
                        }
                    }
                    _ => syntax_error(index, line, &e),
                }
            })?;
        let Some(value) = value else { continue };
        // The parser's count is per document; the stream's is kept here, from the value as
        // built (aliases expanded), so many small documents add up.
        let (n, b) = measure(&value);
        if n > nodes {
            return Err(budget_error(index, "nodes", nodes + used.nodes, task));
        }
        if b > bytes {
            return Err(budget_error(
                index,
                "scalar bytes",
                bytes + used.scalar_bytes,
                task,
            ));
        }
        used.nodes += n;
        used.scalar_bytes += b;
        if !value.is_null() {
            out.push(Document { index, line, value });
        }
    }
    Ok(out)
}

/// Parses a single-document file (a kustomization, a definition). An empty file is `Null`.
pub fn parse_one(text: &str, limits: &Limits) -> Result<Value, YamlError> {
    let mut docs = parse_stream(text, limits)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0).value),
        _ => Err(YamlError::Syntax {
            document: docs[1].index,
            line: docs[1].line,
            message: "expected a single YAML document, found several".into(),
        }),
    }
}

fn syntax_error(document: usize, first_line: usize, e: &serde_saphyr::Error) -> YamlError {
    let (line, message) = match e.location() {
        Some(loc) => {
            let text = e.to_string();
            // The parser prefixes "error: line L column C: "; keep only the reason.
            let reason = text
                .split_once(&format!("column {}: ", loc.column()))
                .map(|(_, r)| r.to_string())
                .unwrap_or(text);
            (first_line + loc.line() as usize - 1, reason)
        }
        None => (first_line, e.to_string()),
    };
    let mut message = message
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    YamlError::Syntax {
        document,
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Vec<Document>, YamlError> {
        parse_stream(text, &Limits::default())
    }

    #[test]
    fn scalars_are_read_as_kubectl_reads_them() {
        let docs = parse("mode: 0644\nenabled: yes\nquoted: '0644'\nhex: 0x1F\n").unwrap();
        assert_eq!(
            docs[0].value,
            json!({"mode": 420, "enabled": true, "quoted": "0644", "hex": 31})
        );
    }

    #[test]
    fn empty_and_comment_only_documents_keep_their_index() {
        let docs = parse("---\n# only a comment\n---\n---\na: 1\n---\nb: 2\n...\n").unwrap();
        let idx: Vec<_> = docs.iter().map(|d| (d.index, d.line)).collect();
        assert_eq!(idx, vec![(2, 4), (3, 6)]);
        assert_eq!(docs[1].value, json!({"b": 2}));
    }

    #[test]
    fn content_on_the_marker_line_is_kept() {
        let docs = parse("--- {a: 1}\n--- \nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value, json!({"a": 1}));
    }

    #[test]
    fn block_scalars_with_dashes_inside_are_not_split() {
        let docs = parse("data:\n  x: |\n    ---\n    y\n").unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].value["data"]["x"], "---\ny\n");
    }

    #[test]
    fn syntax_errors_name_document_and_absolute_line_without_quoting_input() {
        let err = parse("a: 1\n---\nsecret: hunter2\nb: [1,\n").unwrap_err();
        match &err {
            YamlError::Syntax { document, line, .. } => {
                assert_eq!(*document, 1);
                assert_eq!(*line, 4, "{err}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn anchor_bomb_is_refused_with_a_bounded_error() {
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
        for (i, c) in "bcdefghi".chars().enumerate() {
            let prev = "abcdefgh".chars().nth(i).unwrap();
            bomb.push_str(&format!(
                "{c}: &{c} [{}]\n",
                vec![format!("*{prev}"); 9].join(",")
            ));
        }
        let err = parse(&bomb).unwrap_err();
        assert!(err.to_string().contains("budget"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse(&deep).is_err());
        let block: String = (0..1000)
            .map(|i| format!("{}a:\n", "  ".repeat(i)))
            .collect();
        let err = parse(&block).unwrap_err();
        assert!(err.to_string().contains("Depth"), "{err}");
    }

    #[test]
    fn size_and_document_caps_apply() {
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            parse_stream("a: 123456789\n", &limits),
            Err(YamlError::TooLarge { .. })
        ));
        let limits = Limits {
            max_documents: 2,
            ..Limits::default()
        };
        assert!(matches!(
            parse_stream("a: 1\n---\nb: 2\n---\nc: 3\n", &limits),
            Err(YamlError::TooManyDocuments { limit: 2 })
        ));
    }

    #[test]
    fn yaml11_only_scalars_are_warned_about() {
        let text = "metadata:\n  labels:\n    enabled: yes\n    plain: 'yes'\n    mode: 0644\n";
        let docs = parse(text).unwrap();
        let w = yaml11_warnings(text, &docs, &Limits::default());
        let pointers: Vec<_> = w.iter().map(|w| w.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            vec!["/metadata/labels/enabled", "/metadata/labels/mode"]
        );
    }
}
