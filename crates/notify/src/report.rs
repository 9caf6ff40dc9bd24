//! The drift report (`driftless drift report -o json`): per application and environment,
//! whether drift was found, its grade and summary, whether it was healed or alerted, and when.
//! A pure function over the applications, their drift events and the outbox, so the CLI, the
//! API and a scheduled CI job produce the same document.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::event::{AppInfo, Drift, EventKind, NotifyEvent};
use crate::outbox::{OutboxMessage, Status};

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    pub generated_at: Timestamp,
    pub applications: Vec<DriftRow>,
}

/// One application in one environment: its latest drift episode, if any.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftRow {
    pub app: String,
    pub project: String,
    pub environment: Option<String>,
    /// Drift present now (detected and not healed).
    pub drifted: bool,
    pub grade: Option<String>,
    pub summary: Vec<String>,
    pub resources: u32,
    pub detected_at: Option<Timestamp>,
    pub healed: bool,
    pub healed_at: Option<Timestamp>,
    pub healed_by_self_heal: bool,
    /// Destinations (`service:recipient`) the detection was delivered to.
    pub alerted: Vec<String>,
    /// Drift episodes seen in the events given (the report's window).
    pub episodes: usize,
}

/// Builds the report. `events` may hold any kinds and applications; `messages` are the outbox
/// messages of those events (only sent ones count as alerted).
pub fn drift_report(
    apps: &[AppInfo],
    events: &[NotifyEvent],
    messages: &[OutboxMessage],
    now: Timestamp,
) -> DriftReport {
    let mut rows: BTreeMap<(String, Option<String>), DriftRow> = BTreeMap::new();
    for app in apps {
        rows.insert((app.name.clone(), app.environment.clone()), empty_row(app));
    }
    let mut ordered: Vec<&NotifyEvent> = events.iter().collect();
    ordered.sort_by_key(|e| e.at);
    let mut detection: BTreeMap<(String, Option<String>), String> = BTreeMap::new();
    for event in ordered {
        let key = (event.app.name.clone(), event.app.environment.clone());
        match &event.kind {
            EventKind::DriftDetected { drift } => {
                let row = rows
                    .entry(key.clone())
                    .or_insert_with(|| empty_row(&event.app));
                let new_episode = row.detected_at.is_none()
                    || row.healed
                    || row_episode(&detection, &key) != Some(&drift.episode);
                if new_episode {
                    row.episodes += 1;
                    row.detected_at = Some(event.at);
                    row.healed = false;
                    row.healed_at = None;
                    row.healed_by_self_heal = false;
                    row.alerted.clear();
                }
                row.drifted = true;
                set_drift(row, drift);
                row.alerted.extend(alerted(messages, &event.id));
                row.alerted.sort();
                row.alerted.dedup();
                detection.insert(key, drift.episode.clone());
            }
            EventKind::DriftHealed {
                drift,
                by_self_heal,
            } => {
                let row = rows.entry(key).or_insert_with(|| empty_row(&event.app));
                if row.detected_at.is_none() {
                    row.episodes += 1;
                    row.detected_at = None;
                    set_drift(row, drift);
                }
                row.drifted = false;
                row.healed = true;
                row.healed_at = Some(event.at);
                row.healed_by_self_heal = *by_self_heal;
            }
            _ => {}
        }
    }
    DriftReport {
        generated_at: now,
        applications: rows.into_values().collect(),
    }
}

fn row_episode<'a>(
    detection: &'a BTreeMap<(String, Option<String>), String>,
    key: &(String, Option<String>),
) -> Option<&'a String> {
    detection.get(key)
}

fn set_drift(row: &mut DriftRow, drift: &Drift) {
    row.grade = Some(drift.grade.clone());
    row.summary = drift.summary.clone();
    row.resources = drift.resources;
}

fn alerted(messages: &[OutboxMessage], event_id: &str) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.message.event_id == event_id && m.status == Status::Sent)
        .map(|m| m.destination.clone())
        .collect()
}

fn empty_row(app: &AppInfo) -> DriftRow {
    DriftRow {
        app: app.name.clone(),
        project: app.project.clone(),
        environment: app.environment.clone(),
        drifted: false,
        grade: None,
        summary: Vec::new(),
        resources: 0,
        detected_at: None,
        healed: false,
        healed_at: None,
        healed_by_self_heal: false,
        alerted: Vec::new(),
        episodes: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::NewMessage;
    use serde_json::json;

    fn app(name: &str, env: &str) -> AppInfo {
        AppInfo {
            name: name.into(),
            project: "shop".into(),
            environment: Some(env.into()),
            ..Default::default()
        }
    }

    fn ev(id: &str, secs: i64, app: AppInfo, kind: EventKind) -> NotifyEvent {
        NotifyEvent {
            id: id.into(),
            at: Timestamp::from_second(secs).unwrap(),
            app,
            kind,
        }
    }

    fn drift(episode: &str) -> Drift {
        Drift {
            episode: episode.into(),
            grade: "major".into(),
            summary: vec!["Deployment/web: replicas 3 -> 5".into()],
            resources: 1,
        }
    }

    #[test]
    fn per_application_and_environment() {
        let (web, api, cart) = (
            app("web", "prod"),
            app("api", "prod"),
            app("cart", "staging"),
        );
        let events = vec![
            ev(
                "e1",
                10,
                web.clone(),
                EventKind::DriftDetected { drift: drift("w1") },
            ),
            ev(
                "e2",
                20,
                web.clone(),
                EventKind::DriftHealed {
                    drift: drift("w1"),
                    by_self_heal: true,
                },
            ),
            ev(
                "e3",
                30,
                api.clone(),
                EventKind::DriftDetected { drift: drift("a1") },
            ),
            ev(
                "e4",
                40,
                api.clone(),
                EventKind::DriftDetected { drift: drift("a1") },
            ),
            ev("e5", 5, web.clone(), EventKind::AppCreated),
        ];
        let sent = OutboxMessage {
            id: 1,
            message: NewMessage {
                dedupe_key: "k".into(),
                event_id: "e3".into(),
                app: "api".into(),
                trigger: "on-drift-detected".into(),
                template: "drift-detected".into(),
                service: "slack".into(),
                service_type: "slack".into(),
                recipient: "drift".into(),
                payload: json!({}),
                created_at: Timestamp::from_second(30).unwrap(),
            },
            destination: "slack:drift".into(),
            status: Status::Sent,
            attempts: 1,
            next_attempt_at: Timestamp::from_second(30).unwrap(),
            last_error: None,
            sent_at: None,
            lease_owner: None,
            lease_until: None,
            claim_token: 1,
        };
        let report = drift_report(
            &[web, api, cart],
            &events,
            &[sent],
            Timestamp::from_second(50).unwrap(),
        );
        let row = |name: &str| report.applications.iter().find(|r| r.app == name).unwrap();
        let web = row("web");
        assert!(!web.drifted && web.healed && web.healed_by_self_heal);
        assert_eq!(
            (web.detected_at, web.healed_at),
            (
                Some(Timestamp::from_second(10).unwrap()),
                Some(Timestamp::from_second(20).unwrap())
            )
        );
        let api = row("api");
        assert!(api.drifted && !api.healed);
        assert_eq!(
            (api.episodes, api.grade.as_deref(), api.alerted.clone()),
            (1, Some("major"), vec!["slack:drift".to_owned()])
        );
        assert_eq!(api.summary, vec!["Deployment/web: replicas 3 -> 5"]);
        let cart = row("cart");
        assert!(
            !cart.drifted
                && cart.detected_at.is_none()
                && cart.environment.as_deref() == Some("staging")
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["applications"][0]["app"], "api");
        assert_eq!(json["applications"][0]["healedBySelfHeal"], false);
    }
}
