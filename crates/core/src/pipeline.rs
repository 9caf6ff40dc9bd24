//! Pipelines: the environments a change moves through (dev → staging → prod), each stage bound
//! to applications, with what moves between them ("freight": image tags, a YAML value, a
//! file, the Git revision) and the gates a promotion into a stage must pass (soak time,
//! verification, approvals, time windows).
//!
//! ```yaml
//! apiVersion: driftless.dev/v1alpha1
//! kind: Pipeline
//! metadata: {name: shop}
//! spec:
//!   freight: [{image: registry.example.com/shop}]
//!   stages:
//!   - {name: dev, applications: [shop-dev]}
//!   - {name: staging, applications: [shop-staging], autoPromote: true, soak: 1m}
//!   - name: prod
//!     applications: [shop-prod]
//!     autoPromote: true
//!     approval: {required: 2, role: release-managers, timeout: 24h}
//!     windows: [{days: [Mon, Tue, Wed, Thu], from: "09:00", to: "16:00"}]
//!     onFailure: revert
//! ```
//! Pure: parsing and validation only; the engine runs promotions.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::parse_duration;
use crate::object;

/// One kind of value promoted from stage to stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Freight {
    /// A kustomize `images` entry (by image name) in each application's kustomization.
    Image(String),
    /// A scalar at a dotted path of a YAML file under each application's path
    /// (`{file: values.yaml, path: image.tag}`).
    YamlPath { file: String, path: String },
    /// A file copied from the source application's folder to the target's.
    File(String),
    /// The Git revision the source stage runs, pinned as the target applications'
    /// `targetRevision`.
    Revision(bool),
}

impl Freight {
    /// A short name for messages and reports.
    pub fn label(&self) -> String {
        match self {
            Freight::Image(name) => format!("image {name}"),
            Freight::YamlPath { file, path } => format!("{file}:{path}"),
            Freight::File(file) => format!("file {file}"),
            Freight::Revision(_) => "revision".into(),
        }
    }
}

/// Who must approve a promotion into a stage, and for how long the request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    #[serde(default = "one")]
    pub required: u32,
    /// Users of this role may approve (`admin` always may).
    #[serde(default)]
    pub role: Option<String>,
    /// After this the request expires and nothing is promoted (`24h`).
    #[serde(default)]
    pub timeout: Option<String>,
}

fn one() -> u32 {
    1
}

/// A check run against the source stage before promoting: a command (exit 0 passes) and/or
/// an HTTP GET (the expected status, default any 2xx).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub http: Option<HttpCheck>,
    /// Default 60s.
    #[serde(default)]
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCheck {
    pub url: String,
    #[serde(default)]
    pub expect_status: Option<u16>,
}

/// When promotions into a stage may land: days of the week and a time range (`HH:MM`, end
/// excluded; `to` before `from` spans midnight), in UTC unless `timezone` names one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    #[serde(default)]
    pub days: Vec<String>,
    #[serde(default = "midnight")]
    pub from: String,
    #[serde(default = "midnight")]
    pub to: String,
    #[serde(default)]
    pub timezone: Option<String>,
}

fn midnight() -> String {
    "00:00".into()
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Window {
    /// Is a moment (weekday 0 = Monday, minutes since midnight, both in the window's zone)
    /// inside the window?
    pub fn contains(&self, weekday: u8, minute: u32) -> bool {
        let (Some(from), Some(to)) = (hhmm(&self.from), hhmm(&self.to)) else {
            return false;
        };
        let day_ok =
            |d: u8| self.days.is_empty() || self.days.iter().any(|n| day_index(n) == Some(d));
        if from == to {
            return day_ok(weekday); // the whole day
        }
        if from < to {
            day_ok(weekday) && minute >= from && minute < to
        } else if minute >= from {
            day_ok(weekday)
        } else {
            // After midnight: the window opened the day before.
            minute < to && day_ok((weekday + 6) % 7)
        }
    }

    fn validate(&self) -> Result<(), String> {
        for d in &self.days {
            if day_index(d).is_none() {
                return Err(format!("day {d:?} is not one of Mon..Sun"));
            }
        }
        for t in [&self.from, &self.to] {
            if hhmm(t).is_none() {
                return Err(format!("time {t:?} is not HH:MM"));
            }
        }
        Ok(())
    }
}

fn day_index(name: &str) -> Option<u8> {
    let n = name.to_ascii_lowercase();
    DAYS.iter()
        .position(|d| n.starts_with(d) && (n.len() == 3 || d.len() < n.len()))
        .map(|i| i as u8)
}

fn hhmm(t: &str) -> Option<u32> {
    let (h, m) = t.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// What happens when a promoted stage does not become Synced and Healthy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnFailure {
    /// The promotion is marked Failed; the stage keeps what was promoted.
    #[default]
    None,
    /// A revert commit puts the previous values back.
    Revert,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub name: String,
    #[serde(default)]
    pub applications: Vec<String>,
    /// The stage whose deployed values this one receives (default: the one before it).
    #[serde(default)]
    pub from: Option<String>,
    /// Promote as soon as the source stage has new values and the gates pass; otherwise
    /// only `driftless promote` starts a promotion.
    #[serde(default)]
    pub auto_promote: bool,
    /// The source stage must have been Synced and Healthy this long.
    #[serde(default)]
    pub soak: Option<String>,
    #[serde(default)]
    pub verification: Option<Verification>,
    #[serde(default)]
    pub approval: Option<Approval>,
    #[serde(default)]
    pub windows: Vec<Window>,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// How long the promoted stage has to become Synced and Healthy (default 5m).
    #[serde(default)]
    pub health_timeout: Option<String>,
    /// Push the promotion to this branch (a pull request left for humans) instead of the
    /// applications' own branch.
    #[serde(default)]
    pub pull_request_branch: Option<String>,
}

impl Stage {
    pub fn soak_duration(&self) -> Duration {
        self.soak
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or_default()
    }

    pub fn health_timeout_duration(&self) -> Duration {
        self.health_timeout
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or(Duration::from_secs(300))
    }

    pub fn approval_timeout(&self) -> Option<Duration> {
        self.approval
            .as_ref()
            .and_then(|a| a.timeout.as_deref())
            .and_then(parse_duration)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub freight: Vec<Freight>,
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Where the definition came from (`file#document`), for messages.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub origin: String,
}

impl Pipeline {
    pub fn is_definition(doc: &Value) -> bool {
        matches!(
            (object::api_version(doc), object::kind(doc)),
            (Some("driftless.dev/v1alpha1"), Some("Pipeline"))
        )
    }

    /// One `Pipeline` document, validated.
    pub fn from_doc(doc: &Value, origin: &str) -> Result<Pipeline, String> {
        let name =
            object::name(doc).ok_or_else(|| format!("{origin}: pipeline without metadata.name"))?;
        crate::names::validate("pipeline", name).map_err(|e| format!("{origin}: {e}"))?;
        let mut p: Pipeline =
            serde_json::from_value(doc.get("spec").cloned().unwrap_or(Value::Null))
                .map_err(|e| format!("{origin}: pipeline {name}: spec: {e}"))?;
        p.name = name.to_string();
        p.origin = origin.to_string();
        p.validate()
            .map_err(|e| format!("{origin}: pipeline {name}: {e}"))?;
        Ok(p)
    }

    /// The stage called `name`.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The stage a stage receives its values from (None for the first).
    pub fn source_of(&self, stage: &str) -> Option<&Stage> {
        let i = self.stages.iter().position(|s| s.name == stage)?;
        match &self.stages[i].from {
            Some(from) => self.stage(from),
            None if i > 0 => Some(&self.stages[i - 1]),
            None => None,
        }
    }

    /// The stage an application belongs to.
    pub fn stage_of_app(&self, app: &str) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|s| s.applications.iter().any(|a| a == app))
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.freight.is_empty() {
            return Err("spec.freight: name at least one value to promote (image, yamlPath, file or revision)".into());
        }
        for (i, f) in self.freight.iter().enumerate() {
            let bad = match f {
                Freight::Image(n) if n.trim().is_empty() => Some("image name is empty"),
                Freight::YamlPath { file, path } if file.is_empty() || path.is_empty() => {
                    Some("yamlPath needs file and path")
                }
                Freight::File(f) if f.is_empty() || f.starts_with('/') || f.contains("..") => {
                    Some("file must be a relative path inside the application's folder")
                }
                _ => None,
            };
            if let Some(bad) = bad {
                return Err(format!("spec.freight[{i}]: {bad}"));
            }
        }
        if self.stages.len() < 2 {
            return Err("spec.stages: a pipeline needs at least two stages".into());
        }
        let mut apps = std::collections::BTreeSet::new();
        for (i, s) in self.stages.iter().enumerate() {
            let at = format!("spec.stages[{i}] ({})", s.name);
            if s.name.is_empty() {
                return Err(format!("spec.stages[{i}].name is empty"));
            }
            if self.stages[..i].iter().any(|o| o.name == s.name) {
                return Err(format!("{at}: stage name used twice"));
            }
            if s.applications.is_empty() {
                return Err(format!("{at}.applications: bind at least one application"));
            }
            for a in &s.applications {
                if !apps.insert(a.as_str()) {
                    return Err(format!("{at}.applications: {a} is bound to two stages"));
                }
            }
            if let Some(from) = &s.from
                && !self.stages[..i].iter().any(|o| &o.name == from)
            {
                return Err(format!("{at}.from: {from} is not a stage before this one"));
            }
            if i == 0 && (s.auto_promote || s.approval.is_some()) {
                return Err(format!(
                    "{at}: the first stage receives image updates, not promotions (no autoPromote or approval)"
                ));
            }
            for (field, d) in [
                ("soak", &s.soak),
                ("healthTimeout", &s.health_timeout),
                (
                    "approval.timeout",
                    &s.approval.as_ref().and_then(|a| a.timeout.clone()),
                ),
                (
                    "verification.timeout",
                    &s.verification.as_ref().and_then(|v| v.timeout.clone()),
                ),
            ] {
                if let Some(d) = d {
                    match crate::app::duration(d) {
                        Err(e) => return Err(format!("{at}.{field}: {e}")),
                        Ok(z) if z.is_zero() && field != "soak" => {
                            return Err(format!("{at}.{field}: must be more than 0"));
                        }
                        Ok(_) => {}
                    }
                }
            }
            if let Some(a) = &s.approval
                && a.required == 0
            {
                return Err(format!("{at}.approval.required must be at least 1"));
            }
            if let Some(v) = &s.verification
                && v.command.is_empty()
                && v.http.is_none()
            {
                return Err(format!(
                    "{at}.verification: give a command or an http check"
                ));
            }
            for (w, window) in s.windows.iter().enumerate() {
                window
                    .validate()
                    .map_err(|e| format!("{at}.windows[{w}]: {e}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{Limits, parse_stream};

    const SHOP: &str = r#"
apiVersion: driftless.dev/v1alpha1
kind: Pipeline
metadata: {name: shop}
spec:
  freight:
  - image: registry.example.com/shop
  - yamlPath: {file: values.yaml, path: image.tag}
  - file: config/settings.yaml
  stages:
  - {name: dev, applications: [shop-dev]}
  - {name: staging, applications: [shop-staging], autoPromote: true, soak: 1m}
  - name: prod
    applications: [shop-prod]
    autoPromote: true
    approval: {required: 2, role: release-managers, timeout: 24h}
    windows: [{days: [Mon, Tue], from: "09:00", to: "17:00"}]
    onFailure: revert
  - {name: dr, from: prod, applications: [shop-dr], autoPromote: true}
"#;

    fn parse(text: &str) -> Result<Pipeline, String> {
        let doc = parse_stream(text, &Limits::default())
            .unwrap()
            .remove(0)
            .value;
        Pipeline::from_doc(&doc, "p.yaml#0")
    }

    #[test]
    fn stages_freight_and_gates_parse() {
        let p = parse(SHOP).unwrap();
        assert_eq!(p.name, "shop");
        assert_eq!(
            p.freight[0],
            Freight::Image("registry.example.com/shop".into())
        );
        assert_eq!(
            p.freight[1],
            Freight::YamlPath {
                file: "values.yaml".into(),
                path: "image.tag".into()
            }
        );
        assert_eq!(p.source_of("staging").unwrap().name, "dev");
        assert_eq!(p.source_of("dr").unwrap().name, "prod");
        assert!(p.source_of("dev").is_none());
        let prod = p.stage("prod").unwrap();
        assert_eq!(prod.approval.as_ref().unwrap().required, 2);
        assert_eq!(prod.approval_timeout(), Some(Duration::from_secs(86400)));
        assert_eq!(prod.on_failure, OnFailure::Revert);
        assert_eq!(
            p.stage("staging").unwrap().soak_duration(),
            Duration::from_secs(60)
        );
        assert_eq!(p.stage_of_app("shop-dr").unwrap().name, "dr");
    }

    #[test]
    fn mistakes_name_the_stage_and_field() {
        let bad = SHOP.replace("soak: 1m", "soak: soon");
        let e = parse(&bad).unwrap_err();
        assert!(
            e.contains("p.yaml#0") && e.contains("stages[1] (staging).soak"),
            "{e}"
        );
        let e = parse(&SHOP.replace("from: prod", "from: qa")).unwrap_err();
        assert!(e.contains("(dr).from: qa"), "{e}");
        let e = parse(&SHOP.replace("applications: [shop-dr]", "applications: [shop-prod]"))
            .unwrap_err();
        assert!(e.contains("shop-prod is bound to two stages"), "{e}");
        let e = parse(&SHOP.replace("[Mon, Tue]", "[Mon, Someday]")).unwrap_err();
        assert!(e.contains("windows[0]") && e.contains("Someday"), "{e}");
    }

    #[test]
    fn windows_cover_their_days_and_hours() {
        let w = Window {
            days: vec!["Mon".into(), "tuesday".into()],
            from: "09:00".into(),
            to: "17:00".into(),
            timezone: None,
        };
        assert!(w.contains(0, 9 * 60));
        assert!(w.contains(1, 16 * 60 + 59));
        assert!(!w.contains(1, 17 * 60));
        assert!(!w.contains(2, 12 * 60));
        let night = Window {
            days: vec!["Fri".into()],
            from: "22:00".into(),
            to: "02:00".into(),
            timezone: None,
        };
        assert!(night.contains(4, 23 * 60));
        assert!(
            night.contains(5, 60),
            "Saturday 01:00 is still Friday's window"
        );
        assert!(
            !night.contains(4, 60),
            "Friday 01:00 belongs to Thursday's night"
        );
    }
}
