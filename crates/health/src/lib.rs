//! Health of Kubernetes objects, in Argo CD's vocabulary: Healthy, Progressing, Degraded,
//! Suspended, Missing, Unknown — each with a message a human can act on and the check that
//! produced it ([`HealthSource`]).
//!
//! - [`builtin`]: checks for core kinds, one module per custom-resource project family
//!   (cert-manager, Flux, Argo Rollouts, Crossplane, ...), and the generic rule for custom
//!   resources that follow the Kubernetes condition conventions.
//! - [`lua`]: custom checks written for Argo CD (`obj` in, `{status, message}` out), run in
//!   a sandboxed LuaJIT with a time and memory limit.
//! - [`config`]: where Lua checks come from (a native list, Argo CD's `argocd-cm` keys, a
//!   `resource_customizations` directory) and which one applies to a kind.
//! - [`assess`]: [`Assessor`], Argo CD's order: pending deletion, then Lua, then built-in.

pub mod assess;
pub mod builtin;
pub mod config;
pub mod lua;

use serde::{Deserialize, Serialize};

pub use assess::Assessor;
pub use config::{HealthChecks, LuaOrigin};
pub use lua::{LuaCheck, LuaError};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
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

    /// Argo CD's ordering for an application's aggregate (gitops-engine `healthOrder`): the
    /// worst resource wins, and a health nobody could assess (Unknown) is the worst of all.
    fn severity(self) -> u8 {
        match self {
            Self::Healthy => 0,
            Self::Suspended => 1,
            Self::Progressing => 2,
            Self::Missing => 3,
            Self::Degraded => 4,
            Self::Unknown => 5,
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which check produced a health, so the API and the UI can say why a resource is, say,
/// Degraded ("built-in cert-manager check" vs "Lua check `*.crossplane.io/*` from argocd-cm").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "check", rename_all = "camelCase")]
pub enum HealthSource {
    /// The object is gone (Missing) or being deleted (Progressing), whatever its kind.
    Lifecycle,
    /// The built-in check for a core Kubernetes kind (`apps/Deployment`).
    BuiltinKind { kind: String },
    /// The built-in check for a project's custom resources (`cert-manager`, `flux`, ...).
    BuiltinFamily { family: String, kind: String },
    /// The generic rule for custom resources following the Kubernetes condition conventions.
    Conditions,
    /// A Lua check: its selector and where it was configured.
    Lua { selector: String, origin: LuaOrigin },
}

impl std::fmt::Display for HealthSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Lifecycle => f.write_str("object lifecycle"),
            Self::BuiltinKind { kind } => write!(f, "built-in check for {kind}"),
            Self::BuiltinFamily { family, kind } => write!(f, "built-in {family} check for {kind}"),
            Self::Conditions => f.write_str("status conditions"),
            Self::Lua { selector, origin } => write!(f, "Lua check {selector} ({origin})"),
        }
    }
}

/// The health of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Health {
    pub status: HealthStatus,
    #[serde(default)]
    pub message: String,
    /// The check that produced this health (absent for healths made outside the assessor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<HealthSource>,
}

impl Health {
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Health {
            status,
            message: message.into(),
            source: None,
        }
    }
    /// The same health, saying which check produced it.
    pub fn from_check(mut self, source: HealthSource) -> Self {
        self.source = Some(source);
        self
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
