//! Health of Kubernetes objects, in Argo CD's vocabulary: Healthy, Progressing, Degraded,
//! Suspended, Missing, Unknown — each with a message a human can act on.
//!
//! - [`builtin`]: the checks for core kinds (workloads, Pods, Jobs, Services, Ingresses,
//!   PVCs, HPAs, APIServices, CRDs, Namespaces) and the generic `status.conditions` rule.
//! - [`lua`]: custom checks written for Argo CD (`obj` in, `{status, message}` out), run in
//!   a sandboxed Luau with a time and memory limit, chosen per group/kind with wildcards.
//!
//! [`Assessor`] combines both: a custom check for the object's kind wins over the built-in.

pub mod builtin;
pub mod lua;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use lua::{LuaCheck, LuaError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HealthStatus {
    Healthy,
    Progressing,
    Suspended,
    Degraded,
    Missing,
    Unknown,
}

impl HealthStatus {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Healthy" => Self::Healthy,
            "Progressing" => Self::Progressing,
            "Suspended" => Self::Suspended,
            "Degraded" => Self::Degraded,
            "Missing" => Self::Missing,
            "Unknown" => Self::Unknown,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Progressing => "Progressing",
            Self::Suspended => "Suspended",
            Self::Degraded => "Degraded",
            Self::Missing => "Missing",
            Self::Unknown => "Unknown",
        }
    }

    /// Argo CD's ordering for an application's aggregate: the worst resource wins.
    fn severity(self) -> u8 {
        match self {
            Self::Healthy => 0,
            Self::Suspended => 1,
            Self::Progressing => 2,
            Self::Missing => 3,
            Self::Unknown => 4,
            Self::Degraded => 5,
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The health of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    #[serde(default)]
    pub message: String,
}

impl Health {
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Health {
            status,
            message: message.into(),
        }
    }
    pub fn healthy() -> Self {
        Self::new(HealthStatus::Healthy, "")
    }
}

/// The aggregate of many resources: the worst one.
pub fn worst<'a>(all: impl IntoIterator<Item = &'a Health>) -> Health {
    all.into_iter()
        .max_by_key(|h| h.status.severity())
        .cloned()
        .unwrap_or_else(Health::healthy)
}

/// Built-in checks plus configured Lua checks.
#[derive(Default)]
pub struct Assessor {
    custom: Vec<LuaCheck>,
}

impl Assessor {
    pub fn new(custom: Vec<LuaCheck>) -> Self {
        Assessor { custom }
    }

    /// Health of a live object (`None` = absent → Missing). `Ok(None)` for kinds that have
    /// no health (a ConfigMap is fine as soon as it exists).
    pub fn assess(&self, live: Option<&Value>) -> Result<Option<Health>, LuaError> {
        let Some(obj) = live else {
            return Ok(Some(Health::new(
                HealthStatus::Missing,
                "not found in the cluster",
            )));
        };
        let (group, kind) = group_kind(obj);
        if let Some(check) = self.custom.iter().find(|c| c.applies_to(&group, &kind)) {
            return check.run(obj).map(Some);
        }
        Ok(builtin::assess(&group, &kind, obj))
    }
}

fn group_kind(obj: &Value) -> (String, String) {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api.split_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    (group.to_string(), kind.to_string())
}
