//! The gates a promotion waits for besides approvals: time windows (in the window's time
//! zone) and verification — a command (exit 0 passes) and/or an HTTP GET (the expected
//! status, default any 2xx) — run against the source stage before its values move on.

use crate::error::{EngineError, EngineResult};
use std::time::Duration;

use driftless_core::app::parse_duration;
use driftless_core::pipeline::{Verification, Window};

/// Is `now` inside one of `windows` (no windows: always)? Else the reason.
pub(super) fn in_window(windows: &[Window], now: jiff::Timestamp) -> EngineResult<()> {
    if windows.is_empty() {
        return Ok(());
    }
    for w in windows {
        let zone = match &w.timezone {
            Some(name) => jiff::tz::TimeZone::get(name)
                .map_err(|e| EngineError::invalid(format!("time zone {name}: {e}")))?,
            None => jiff::tz::TimeZone::UTC,
        };
        let local = now.to_zoned(zone);
        let weekday = local.weekday().to_monday_zero_offset() as u8;
        let minute = local.hour() as u32 * 60 + local.minute() as u32;
        if w.contains(weekday, minute) {
            return Ok(());
        }
    }
    let list: Vec<String> = windows
        .iter()
        .map(|w| {
            format!(
                "{} {}-{} {}",
                if w.days.is_empty() {
                    "every day".into()
                } else {
                    w.days.join(",")
                },
                w.from,
                w.to,
                w.timezone.as_deref().unwrap_or("UTC")
            )
        })
        .collect();
    Err(EngineError::invalid(format!(
        "outside the promotion windows ({})",
        list.join("; ")
    )))
}

/// Runs a verification; Ok(summary) when it passes, Err(what failed) otherwise.
pub(super) async fn verify(v: &Verification, env: &[(&str, String)]) -> EngineResult<String> {
    let timeout = v
        .timeout
        .as_deref()
        .and_then(parse_duration)
        .unwrap_or(Duration::from_secs(60));
    let mut passed = Vec::new();
    if let Some((program, args)) = v.command.split_first() {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(timeout, cmd.output())
            .await
            .map_err(|_| {
                EngineError::invalid(format!(
                    "command {program} did not finish within {timeout:?}"
                ))
            })?
            .map_err(|e| EngineError::invalid(format!("command {program} could not run: {e}")))?;
        let tail = |b: &[u8]| {
            let s = String::from_utf8_lossy(b);
            let s = s.trim();
            s[s.len().saturating_sub(400)..].to_string()
        };
        if !out.status.success() {
            return Err(EngineError::invalid(format!(
                "command {program} failed ({}): {}",
                out.status,
                tail(if out.stderr.is_empty() {
                    &out.stdout
                } else {
                    &out.stderr
                })
            )));
        }
        passed.push(format!("command {program} passed"));
    }
    if let Some(h) = &v.http {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| EngineError::Internal(format!("HTTP client: {e}")))?;
        let resp = client
            .get(&h.url)
            .send()
            .await
            .map_err(|e| EngineError::invalid(format!("GET {}: {e}", h.url)))?;
        let status = resp.status().as_u16();
        let ok = match h.expect_status {
            Some(want) => status == want,
            None => (200..300).contains(&status),
        };
        if !ok {
            return Err(EngineError::invalid(format!(
                "GET {} answered {status}, expected {}",
                h.url,
                h.expect_status.map_or("2xx".to_string(), |s| s.to_string())
            )));
        }
        passed.push(format!("GET {} answered {status}", h.url));
    }
    Ok(passed.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_read_in_their_time_zone() {
        let w = Window {
            days: vec!["Mon".into()],
            from: "09:00".into(),
            to: "10:00".into(),
            timezone: Some("Europe/Berlin".into()),
        };
        // Monday 2026-11-23 08:30 UTC is 09:30 in Berlin (CET, +1).
        let t: jiff::Timestamp = "2026-11-23T08:30:00Z".parse().unwrap();
        assert!(in_window(std::slice::from_ref(&w), t).is_ok());
        let utc = Window {
            timezone: None,
            ..w
        };
        let e = in_window(&[utc], t).unwrap_err();
        assert!(e.to_string().contains("Mon 09:00-10:00 UTC"), "{e}");
        assert!(in_window(&[], t).is_ok());
    }

    #[tokio::test]
    async fn a_failing_command_fails_with_its_output() {
        let v = Verification {
            command: vec![
                "sh".into(),
                "-c".into(),
                "echo checking $STAGE; echo broken >&2; exit 3".into(),
            ],
            http: None,
            timeout: None,
        };
        let e = verify(&v, &[("STAGE", "staging".into())])
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("broken") && e.to_string().contains("exit status: 3"),
            "{e}"
        );
        let ok = Verification {
            command: vec!["sh".into(), "-c".into(), "test \"$STAGE\" = staging".into()],
            ..v
        };
        assert_eq!(
            verify(&ok, &[("STAGE", "staging".into())]).await.unwrap(),
            "command sh passed"
        );
    }
}
