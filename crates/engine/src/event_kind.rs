//! What an application event is and how serious: the kinds the engine records and their
//! severities, as enums. The store keeps them as text (`Event.kind`, `Event.severity`), the
//! API and the stream send that text unchanged (`SyncSucceeded`, `warning`); inside the
//! engine a misspelt kind no longer compiles, and mapping an event to a notification is a
//! `match` the compiler checks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use driftless_diff::Grade;

/// The kind of an application event. Serialized as its variant name (the store's text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    SyncSucceeded,
    SyncFailed,
    /// The cluster did not answer during a sync; it is retried.
    ClusterUnreachable,
    /// A previous process (or replica) left an operation running; it was closed, not resumed.
    OperationInterrupted,
    DriftDetected,
    DriftHealed,
    /// The app could not be compared (render, source, cluster); the message says why.
    ComparisonError,
    /// The app's project does not allow its source, destination or kinds.
    ProjectViolation,
    PolicyDenied,
    RollbackOnFailure,
    RollbackCommitted,
    RollbackReleased,
    ImageSet,
    DeleteFailed,
    DefinitionError,
    DefinitionRefused,
    DefinitionRemoved,
    ChildPruned,
    ChildPruneSkipped,
    PromotionCreated,
    PromotionWaitingApproval,
    PromotionApproved,
    PromotionRejected,
    /// The promotion's change landed in the stage's source.
    Promoted,
    PromotionSucceeded,
    PromotionFailed,
    PromotionExpired,
    PromotionSuperseded,
    /// A kind this build does not know (a newer engine's, read from the store or a stream).
    #[serde(other)]
    Other,
}

impl EventKind {
    /// Every kind the engine records ([`EventKind::Other`] aside).
    pub const ALL: [EventKind; 29] = [
        Self::SyncSucceeded,
        Self::SyncFailed,
        Self::ClusterUnreachable,
        Self::OperationInterrupted,
        Self::DriftDetected,
        Self::DriftHealed,
        Self::ComparisonError,
        Self::ProjectViolation,
        Self::PolicyDenied,
        Self::RollbackOnFailure,
        Self::RollbackCommitted,
        Self::RollbackReleased,
        Self::ImageSet,
        Self::DeleteFailed,
        Self::DefinitionError,
        Self::DefinitionRefused,
        Self::DefinitionRemoved,
        Self::ChildPruned,
        Self::ChildPruneSkipped,
        Self::PromotionCreated,
        Self::PromotionWaitingApproval,
        Self::PromotionApproved,
        Self::PromotionRejected,
        Self::Promoted,
        Self::PromotionSucceeded,
        Self::PromotionFailed,
        Self::PromotionExpired,
        Self::PromotionSuperseded,
        Self::Other,
    ];

    /// The kind stored as `text`; text this build does not know is [`EventKind::Other`].
    pub fn of(text: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .unwrap_or(Self::Other)
    }

    /// The text the store and the API carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SyncSucceeded => "SyncSucceeded",
            Self::SyncFailed => "SyncFailed",
            Self::ClusterUnreachable => "ClusterUnreachable",
            Self::OperationInterrupted => "OperationInterrupted",
            Self::DriftDetected => "DriftDetected",
            Self::DriftHealed => "DriftHealed",
            Self::ComparisonError => "ComparisonError",
            Self::ProjectViolation => "ProjectViolation",
            Self::PolicyDenied => "PolicyDenied",
            Self::RollbackOnFailure => "RollbackOnFailure",
            Self::RollbackCommitted => "RollbackCommitted",
            Self::RollbackReleased => "RollbackReleased",
            Self::ImageSet => "ImageSet",
            Self::DeleteFailed => "DeleteFailed",
            Self::DefinitionError => "DefinitionError",
            Self::DefinitionRefused => "DefinitionRefused",
            Self::DefinitionRemoved => "DefinitionRemoved",
            Self::ChildPruned => "ChildPruned",
            Self::ChildPruneSkipped => "ChildPruneSkipped",
            Self::PromotionCreated => "PromotionCreated",
            Self::PromotionWaitingApproval => "PromotionWaitingApproval",
            Self::PromotionApproved => "PromotionApproved",
            Self::PromotionRejected => "PromotionRejected",
            Self::Promoted => "Promoted",
            Self::PromotionSucceeded => "PromotionSucceeded",
            Self::PromotionFailed => "PromotionFailed",
            Self::PromotionExpired => "PromotionExpired",
            Self::PromotionSuperseded => "PromotionSuperseded",
            Self::Other => "Other",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = std::convert::Infallible;
    /// Never fails: text this build does not know is [`EventKind::Other`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::of(s))
    }
}

impl PartialEq<str> for EventKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// How serious an event is: `info`, `warning`, or — for drift — its grade (`low` ...
/// `critical`), which is what alerting on drift keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Error,
    Drift(Grade),
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Drift(Grade::None) => "none",
            Self::Drift(Grade::Low) => "low",
            Self::Drift(Grade::Medium) => "medium",
            Self::Drift(Grade::High) => "high",
            Self::Drift(Grade::Critical) => "critical",
        }
    }

    /// Worth a warning in the log (a drift graded high or worse included).
    pub fn is_warning(self) -> bool {
        match self {
            Self::Warning | Self::Error => true,
            Self::Drift(g) => g >= Grade::High,
            Self::Info => false,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "info" | "normal" => Self::Info,
            "warning" => Self::Warning,
            "error" => Self::Error,
            "none" => Self::Drift(Grade::None),
            "low" => Self::Drift(Grade::Low),
            "medium" => Self::Drift(Grade::Medium),
            "high" => Self::Drift(Grade::High),
            "critical" => Self::Drift(Grade::Critical),
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Severity {
    /// Text this build does not know reads as a warning (never lost, never an error).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Self::parse(&text).unwrap_or(Self::Warning))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_as_written_and_unknown_text_is_other() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>().unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            let back: EventKind = serde_json::from_value(serde_json::json!(k.as_str())).unwrap();
            assert_eq!(back, k);
        }
        assert_eq!(
            "SomethingNew".parse::<EventKind>().unwrap(),
            EventKind::Other
        );
        let other: EventKind = serde_json::from_str("\"SomethingNew\"").unwrap();
        assert_eq!(other, EventKind::Other);
    }

    #[test]
    fn severities_are_the_stored_text() {
        for (s, text) in [
            (Severity::Info, "info"),
            (Severity::Warning, "warning"),
            (Severity::Drift(Grade::Critical), "critical"),
            (Severity::Drift(Grade::Low), "low"),
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), text);
            assert_eq!(serde_json::from_value::<Severity>(text.into()).unwrap(), s);
        }
        assert!(Severity::Drift(Grade::High).is_warning());
        assert!(!Severity::Drift(Grade::Low).is_warning());
    }
}
