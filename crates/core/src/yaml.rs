//! The one YAML wrapper of the project.
//!
//! Every manifest, kustomization and definition file is read through [`parse_stream`], so the
//! whole engine agrees with kubectl on scalars (`0644` is 420, `yes` is true) and every input is
//! parsed under the same bounds: total size, document count, nesting depth and node count (the
//! last one is what stops anchor bombs: aliases are expanded into nodes and counted).
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
    /// Most nodes in one document after alias expansion.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 8 * 1024 * 1024,
            max_documents: 10_000,
            max_depth: 64,
            max_nodes: 250_000,
        }
    }
}

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
    #[error("document {document} (line {line}): {message}")]
    Syntax {
        document: usize,
        line: usize,
        message: String,
    },
}

fn options(limits: &Limits, yaml_11: bool) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    budget.max_nodes = limits.max_nodes;
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
/// documents are skipped but keep their place in the numbering.
pub fn parse_stream(text: &str, limits: &Limits) -> Result<Vec<Document>, YamlError> {
    if text.len() > limits.max_bytes {
        return Err(YamlError::TooLarge {
            size: text.len(),
            limit: limits.max_bytes,
        });
    }
    let chunks = split_documents(text);
    if chunks.len() > limits.max_documents {
        return Err(YamlError::TooManyDocuments {
            limit: limits.max_documents,
        });
    }
    let opts = options(limits, true);
    let mut out = Vec::new();
    for (index, (line, chunk)) in chunks.into_iter().enumerate() {
        if chunk.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t.starts_with('%')
        }) {
            continue;
        }
        let value: Option<Value> = serde_saphyr::from_str_with_options(&chunk, opts.clone())
            .map_err(|e| syntax_error(index, line, &e))?;
        match value {
            None | Some(Value::Null) => continue,
            Some(value) => out.push(Document { index, line, value }),
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

/// Finds plain scalars that YAML 1.1 (kubectl) reads differently from YAML 1.2: `yes`/`no`/
/// `on`/`off` booleans and `0644`-style octals. Users often mean the string.
pub fn yaml11_warnings(text: &str, docs: &[Document], limits: &Limits) -> Vec<ScalarWarning> {
    let suspicious = text.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
        matches!(
            w,
            "yes"
                | "Yes"
                | "YES"
                | "no"
                | "No"
                | "NO"
                | "on"
                | "On"
                | "ON"
                | "off"
                | "Off"
                | "OFF"
                | "y"
                | "Y"
                | "n"
                | "N"
        ) || (w.len() > 1 && w.starts_with('0') && w.bytes().all(|b| b.is_ascii_digit()))
    });
    if !suspicious {
        return Vec::new();
    }
    let strict = options(limits, false);
    let mut warnings = Vec::new();
    let chunks = split_documents(text);
    for doc in docs {
        let Some((_, chunk)) = chunks.get(doc.index) else {
            continue;
        };
        let Ok(Some(v12)) =
            serde_saphyr::from_str_with_options::<Option<Value>>(chunk, strict.clone())
        else {
            continue;
        };
        compare_scalars(
            &doc.value,
            &v12,
            &mut String::new(),
            doc.index,
            &mut warnings,
        );
    }
    warnings
}

fn compare_scalars(
    v11: &Value,
    v12: &Value,
    path: &mut String,
    document: usize,
    out: &mut Vec<ScalarWarning>,
) {
    match (v11, v12) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                if let Some(vb) = b.get(k) {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    compare_scalars(va, vb, path, document, out);
                    path.truncate(len);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                compare_scalars(va, vb, path, document, out);
                path.truncate(len);
            }
        }
        (a, b) if a != b && !a.is_object() && !a.is_array() => {
            let spelled = match b {
                Value::String(s) => format!("`{s}`"),
                other => format!("`{other}` (YAML 1.2)"),
            };
            out.push(ScalarWarning {
                document,
                pointer: path.clone(),
                message: format!(
                    "plain scalar {spelled} is read as {a} (YAML 1.1, as kubectl does); quote it if you meant a string"
                ),
            })
        }
        _ => {}
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
