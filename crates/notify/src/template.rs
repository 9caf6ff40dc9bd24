//! Notification templates in Go template syntax (the `gtmpl` crate), as Argo CD users write
//! them: `message`, and one section per service (`slack`, `email`, `webhook.<name>`, `teams`,
//! `github`, `gitlab`, `alertmanager`) whose string leaves are templates too.
//!
//! Besides Go's built-ins (`eq`, `printf`, `index`, `len`, ...) a few of the sprig functions
//! Argo CD templates use most are provided: `upper`, `lower`, `trim`, `default`, `toJson`,
//! `trunc`, `replace`, `join`.

use std::collections::HashMap;

use gtmpl::{Context, FuncError, Template, Value as GValue};
use serde_json::{Map, Value};

/// Parses `source` once to report syntax errors at load time.
pub fn check(source: &str) -> Result<(), String> {
    new_template().parse(source).map_err(|e| e.to_string())
}

/// Checks every string leaf of a template definition.
pub fn check_tree(tree: &Value, path: &str) -> Result<(), String> {
    match tree {
        Value::String(s) => check(s).map_err(|e| format!("{path}: {e}")),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_tree(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| check_tree(v, &join_path(path, k))),
        _ => Ok(()),
    }
}

fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Renders one template string against `vars`.
pub fn render(source: &str, vars: &Value) -> Result<String, String> {
    let mut template = new_template();
    template.parse(source).map_err(|e| e.to_string())?;
    let out = template
        .render(&Context::from(to_gtmpl(vars)))
        .map_err(|e| e.to_string())?;
    // Go prints a missing map key as "<no value>"; Argo CD's messages show it the same way.
    Ok(out)
}

/// Renders every string leaf of `tree`.
pub fn render_tree(tree: &Value, vars: &Value, path: &str) -> Result<Value, String> {
    Ok(match tree {
        Value::String(s) => Value::String(render(s, vars).map_err(|e| format!("{path}: {e}"))?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| render_tree(v, vars, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_tree(v, vars, &join_path(path, k))?)))
                .collect::<Result<Map<_, _>, String>>()?,
        ),
        other => other.clone(),
    })
}

fn new_template() -> Template {
    let mut t = Template::default();
    t.add_funcs(&[
        ("upper", upper as gtmpl::Func),
        ("lower", lower),
        ("trim", trim),
        ("default", default),
        ("toJson", to_json),
        ("trunc", trunc),
        ("replace", replace),
        ("join", join),
    ]);
    t
}

fn to_gtmpl(value: &Value) -> GValue {
    match value {
        Value::Null => GValue::Nil,
        Value::Bool(b) => GValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => GValue::from(i),
            None => GValue::from(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => GValue::String(s.clone()),
        Value::Array(items) => GValue::Array(items.iter().map(to_gtmpl).collect()),
        Value::Object(map) => GValue::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), to_gtmpl(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn from_gtmpl(value: &GValue) -> Value {
    match value {
        GValue::NoValue | GValue::Nil | GValue::Function(_) => Value::Null,
        GValue::Bool(b) => Value::Bool(*b),
        GValue::String(s) => Value::String(s.clone()),
        GValue::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or(Value::Null),
        GValue::Array(items) => Value::Array(items.iter().map(from_gtmpl).collect()),
        GValue::Object(map) | GValue::Map(map) => {
            let mut sorted: Vec<_> = map.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), from_gtmpl(v)))
                    .collect(),
            )
        }
    }
}

fn string_arg(args: &[GValue], i: usize, name: &str) -> Result<String, FuncError> {
    match args.get(i) {
        Some(GValue::String(s)) => Ok(s.clone()),
        Some(GValue::NoValue | GValue::Nil) => Ok(String::new()),
        Some(other) => Ok(other.to_string()),
        None => Err(FuncError::AtLeastXArgs(name.into(), i + 1)),
    }
}

fn upper(args: &[GValue]) -> Result<GValue, FuncError> {
    Ok(GValue::String(string_arg(args, 0, "upper")?.to_uppercase()))
}

fn lower(args: &[GValue]) -> Result<GValue, FuncError> {
    Ok(GValue::String(string_arg(args, 0, "lower")?.to_lowercase()))
}

fn trim(args: &[GValue]) -> Result<GValue, FuncError> {
    Ok(GValue::String(
        string_arg(args, 0, "trim")?.trim().to_owned(),
    ))
}

/// sprig's `default DEFAULT VALUE`: VALUE unless it is empty.
fn default(args: &[GValue]) -> Result<GValue, FuncError> {
    if args.len() != 2 {
        return Err(FuncError::ExactlyXArgs("default".into(), 2));
    }
    let empty = match &args[1] {
        GValue::NoValue | GValue::Nil => true,
        GValue::String(s) => s.is_empty(),
        GValue::Bool(b) => !b,
        GValue::Array(a) => a.is_empty(),
        GValue::Map(m) | GValue::Object(m) => m.is_empty(),
        _ => false,
    };
    Ok(if empty {
        args[0].clone()
    } else {
        args[1].clone()
    })
}

fn to_json(args: &[GValue]) -> Result<GValue, FuncError> {
    let value = args
        .first()
        .ok_or(FuncError::ExactlyXArgs("toJson".into(), 1))?;
    Ok(GValue::String(from_gtmpl(value).to_string()))
}

/// sprig's `trunc N STRING` (characters, not bytes).
fn trunc(args: &[GValue]) -> Result<GValue, FuncError> {
    let n = match args.first() {
        Some(GValue::Number(n)) => n.as_i64().unwrap_or(0).max(0) as usize,
        _ => return Err(FuncError::UnableToConvertFromValue),
    };
    Ok(GValue::String(
        string_arg(args, 1, "trunc")?.chars().take(n).collect(),
    ))
}

/// sprig's `replace OLD NEW STRING`.
fn replace(args: &[GValue]) -> Result<GValue, FuncError> {
    let (old, new, s) = (
        string_arg(args, 0, "replace")?,
        string_arg(args, 1, "replace")?,
        string_arg(args, 2, "replace")?,
    );
    Ok(GValue::String(s.replace(&old, &new)))
}

/// sprig's `join SEP LIST`.
fn join(args: &[GValue]) -> Result<GValue, FuncError> {
    let sep = string_arg(args, 0, "join")?;
    let items = match args.get(1) {
        Some(GValue::Array(items)) => items.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
        Some(other) => vec![other.to_string()],
        None => return Err(FuncError::ExactlyXArgs("join".into(), 2)),
    };
    Ok(GValue::String(items.join(&sep)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn argo_style_template() {
        let vars = json!({"serviceType": "slack", "app": {"metadata": {"name": "shop"},
            "status": {"conditions": [{"type": "SyncError"}, {"type": "Warn"}]}},
            "context": {"argocdUrl": "https://cd"}, "event": {"summary": ["a", "b"]}});
        let out = render(
            "{{- if eq .serviceType \"slack\" -}}:ok:{{end}} {{.app.metadata.name}} \
             {{range $i, $c := .app.status.conditions}}{{$i}}={{$c.type}};{{end}} \
             {{.context.argocdUrl}}/applications/{{.app.metadata.name}} {{upper .app.metadata.name}} \
             {{join \", \" .event.summary}} {{default \"none\" .app.metadata.missing}} {{toJson .event.summary}}",
            &vars,
        )
        .unwrap();
        assert_eq!(
            out,
            ":ok: shop 0=SyncError;1=Warn; https://cd/applications/shop SHOP a, b none [\"a\",\"b\"]"
        );
        assert!(check("{{if}}").is_err());
    }
}
