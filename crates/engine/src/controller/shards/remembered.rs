//! What a new owner takes over from the status the last owner stored: a rollback's pin and
//! a pause of self-heal (both otherwise live in the owner's memory only).

use std::time::Duration;

/// A rollback's pin as the last owner recorded it in the status. The branch head it was
/// taken at is not recorded; the head last seen stands for it (the last owner kept the pin
/// because the branch had not moved past it), so the pin holds until the branch moves on.
pub(super) fn pin_of(status: &serde_json::Value) -> Option<crate::controller::Pin> {
    let revision = status["pinned"]["revision"].as_str()?;
    Some(crate::controller::Pin {
        revision: revision.to_string(),
        head: status["sync"]["head"]
            .as_str()
            .unwrap_or(revision)
            .to_string(),
        actor: status["pinned"]["by"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

/// A pause of self-heal as the last owner recorded it, less the time since it did.
pub(super) fn pause_of(
    status: &serde_json::Value,
    now_ms: i64,
) -> Option<(tokio::time::Instant, String)> {
    let pause = &status["healPaused"];
    let remaining_ms = pause["remainingSeconds"].as_i64()? * 1000;
    let since = now_ms - status["reconciledAtMs"].as_i64().unwrap_or(now_ms);
    let left = u64::try_from(remaining_ms - since.max(0))
        .ok()
        .filter(|l| *l > 0)?;
    let reason = pause["reason"].as_str().unwrap_or_default().to_string();
    Some((
        tokio::time::Instant::now() + Duration::from_millis(left),
        reason,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_pin_and_a_pause_carry_over_to_the_next_owner() {
        let status = json!({
            "sync": {"head": "c3"},
            "pinned": {"revision": "c1", "by": "alice"},
            "healPaused": {"reason": "incident 42", "remainingSeconds": 100},
            "reconciledAtMs": 1_000_000,
        });
        let pin = super::pin_of(&status).unwrap();
        assert_eq!(
            (pin.revision.as_str(), pin.head.as_str(), pin.actor.as_str()),
            ("c1", "c3", "alice")
        );
        // 40 s after the last owner recorded it: 60 s of the pause are left.
        let (until, why) = super::pause_of(&status, 1_040_000).unwrap();
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            left > std::time::Duration::from_secs(59) && left <= std::time::Duration::from_secs(60),
            "{left:?}"
        );
        assert_eq!(why, "incident 42");
        // Over by now, or never there.
        assert!(super::pause_of(&status, 1_200_000).is_none());
        assert!(super::pin_of(&json!({"sync": {}})).is_none());
        assert!(super::pause_of(&json!({}), 0).is_none());
    }
}
