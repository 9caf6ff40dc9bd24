//! Reading the parts of an object health checks look at: numbers and strings by JSON
//! pointer, `status.conditions` by type, and whether the controller has seen the spec.

use serde_json::Value;

pub(crate) fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

pub(crate) fn text<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

pub(crate) fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

pub(crate) fn cond_is(obj: &Value, kind: &str, status: &str) -> bool {
    condition(obj, kind)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some(status)
}

pub(crate) fn cond_message(obj: &Value, kind: &str) -> String {
    condition(obj, kind)
        .and_then(|c| c.get("message").and_then(Value::as_str))
        .unwrap_or("")
        .to_string()
}

/// The controller has not observed the latest spec yet.
pub(crate) fn not_observed(obj: &Value) -> bool {
    match obj
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
    {
        Some(observed) => observed < int(obj, "/metadata/generation"),
        None => obj.pointer("/metadata/generation").is_some() && obj.get("status").is_none(),
    }
}

/// One condition, read: empty strings for absent fields.
pub(crate) struct Cond<'a> {
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
    pub observed_generation: Option<i64>,
}

impl Cond<'_> {
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
    pub fn is_false(&self) -> bool {
        self.status == "False"
    }
    /// The message, or the reason when the controller gave no message.
    pub fn text(&self) -> String {
        if self.message.is_empty() {
            self.reason.to_string()
        } else {
            self.message.to_string()
        }
    }
}

pub(crate) fn cond<'a>(obj: &'a Value, kind: &str) -> Option<Cond<'a>> {
    let c = condition(obj, kind)?;
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
    Some(Cond {
        status: s("status"),
        reason: s("reason"),
        message: s("message"),
        observed_generation: c.get("observedGeneration").and_then(Value::as_i64),
    })
}

/// `metadata.generation` is ahead of what the controller reports having seen, at the top
/// of `status` or on the condition that decides.
pub(crate) fn behind(obj: &Value, decisive: Option<&Cond<'_>>) -> bool {
    let Some(generation) = obj.pointer("/metadata/generation").and_then(Value::as_i64) else {
        return false;
    };
    let top = obj
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    top.is_some_and(|g| g < generation)
        || decisive
            .and_then(|c| c.observed_generation)
            .is_some_and(|g| g < generation)
}

pub(crate) fn flag(obj: &Value, ptr: &str) -> bool {
    obj.pointer(ptr) == Some(&Value::Bool(true))
}

pub(crate) fn annotation<'a>(obj: &'a Value, name: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")?.get(name)?.as_str()
}

pub(crate) fn has_conditions(obj: &Value) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

pub(crate) fn generation_message(obj: &Value) -> String {
    format!(
        "Waiting for the controller to observe generation {}",
        int(obj, "/metadata/generation")
    )
}
