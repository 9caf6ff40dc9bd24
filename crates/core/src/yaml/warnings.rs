//! Scalars YAML 1.1 (what kubectl reads) and YAML 1.2 read differently: `yes`/`no`/`on`/`off`
//! booleans and `0644`-style octals, reported so a user who meant a string can quote it.

use serde_json::Value;

use super::{Document, Limits, ScalarWarning, options, split_documents};

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
    let strict = options(limits, false, limits.max_nodes, limits.max_scalar_bytes);
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
