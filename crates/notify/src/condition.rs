//! Trigger conditions (`when:`) and `oncePer` values in Argo CD's language, expr
//! (expr-lang.org), evaluated by the `expr-lang` crate.
//!
//! Conditions see the same variables Argo CD gives them: `app` (the Application object) plus
//! Driftless's `event`. Argo's helper namespaces (`time`, `strings`, `sync`, `repo`) are not
//! provided; an expression that uses one is refused at load time with its name, rather than
//! failing at the first event.

use expr::{Context, Environment, Program, Value as ExprValue};
use serde_json::Value;

/// A parsed expression, kept with its source for error messages.
#[derive(Clone)]
pub struct Condition {
    source: String,
    program: Program,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Condition({:?})", self.source)
    }
}

const UNSUPPORTED_NAMESPACES: [&str; 4] = ["time.", "strings.", "sync.", "repo."];

impl Condition {
    /// Parses `source`; the error says what is wrong with it.
    pub fn parse(source: &str) -> Result<Self, String> {
        for ns in UNSUPPORTED_NAMESPACES {
            if contains_identifier(source, ns) {
                return Err(format!(
                    "expression `{source}` uses Argo CD's `{}` functions, which Driftless does not provide",
                    ns.trim_end_matches('.')
                ));
            }
        }
        let program = expr::compile(source).map_err(|e| format!("expression `{source}`: {e}"))?;
        Ok(Self {
            source: source.to_owned(),
            program,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    fn run(&self, vars: &Value) -> Result<ExprValue, String> {
        let mut ctx = Context::default();
        if let Value::Object(map) = vars {
            for (key, value) in map {
                ctx.insert(key.clone(), to_expr(value));
            }
        }
        Environment::new()
            .run(&self.program, &ctx)
            .map_err(|e| format!("expression `{}`: {e}", self.source))
    }

    /// Evaluates a `when:`; anything but a boolean is an error, as in Argo CD.
    pub fn matches(&self, vars: &Value) -> Result<bool, String> {
        match self.run(vars)? {
            ExprValue::Bool(b) => Ok(b),
            other => Err(format!(
                "expression `{}` gave {other:?}, not true or false",
                self.source
            )),
        }
    }

    /// Evaluates a `oncePer:` to the string it deduplicates on (nil gives "").
    pub fn value(&self, vars: &Value) -> Result<String, String> {
        Ok(match self.run(vars)? {
            ExprValue::Nil => String::new(),
            ExprValue::String(s) => s,
            ExprValue::Bool(b) => b.to_string(),
            ExprValue::Integer(i) => i.to_string(),
            ExprValue::Float(f) => f.to_string(),
            other => format!("{other:?}"),
        })
    }
}

/// True when `ns` (e.g. `time.`) starts an identifier in `source` outside string literals.
fn contains_identifier(source: &str, ns: &str) -> bool {
    let mut quote = None;
    let bytes = source.as_bytes();
    for (i, c) in source.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => quote = Some(c),
            None => {
                let starts_word = i == 0 || {
                    let prev = bytes[i - 1] as char;
                    !(prev.is_ascii_alphanumeric() || prev == '_' || prev == '.' || prev == '?')
                };
                if starts_word && source[i..].starts_with(ns) {
                    return true;
                }
            }
        }
    }
    false
}

fn to_expr(value: &Value) -> ExprValue {
    match value {
        Value::Null => ExprValue::Nil,
        Value::Bool(b) => ExprValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => ExprValue::Integer(i),
            None => ExprValue::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => ExprValue::String(s.clone()),
        Value::Array(items) => ExprValue::Array(items.iter().map(to_expr).collect()),
        Value::Object(map) => {
            ExprValue::Map(map.iter().map(|(k, v)| (k.clone(), to_expr(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn argo_catalog_conditions() {
        let vars = json!({"app": {"metadata": {"name": "shop"}, "status": {
            "sync": {"status": "Synced", "revision": "abc"},
            "health": {"status": "Healthy"},
            "operationState": {"phase": "Succeeded", "syncResult": {"revision": "abc"}}}}});
        let when = |s: &str| Condition::parse(s).unwrap().matches(&vars).unwrap();
        assert!(when(
            "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy'"
        ));
        assert!(!when(
            "app.status.operationState.phase in ['Error', 'Failed']"
        ));
        assert!(!when("app.metadata.deletionTimestamp != nil"));
        assert!(when("true"));
        let once = Condition::parse("app.status.operationState?.syncResult?.revision").unwrap();
        assert_eq!(once.value(&vars).unwrap(), "abc");
        let missing = Condition::parse("app.status.nothing?.revision").unwrap();
        assert_eq!(missing.value(&vars).unwrap(), "");
    }

    #[test]
    fn refuses_argo_helpers_and_non_booleans() {
        let err = Condition::parse(
            "time.Now().Sub(time.Parse(app.status.operationState.startedAt)).Minutes() >= 5",
        )
        .unwrap_err();
        assert!(err.contains("`time` functions"), "{err}");
        assert!(Condition::parse("app.metadata.name == 'time.x'").is_ok());
        let err = Condition::parse("app.metadata.name")
            .unwrap()
            .matches(&json!({"app": {"metadata": {"name": "x"}}}))
            .unwrap_err();
        assert!(err.contains("not true or false"), "{err}");
        assert!(Condition::parse("app.status ==").is_err());
    }
}
