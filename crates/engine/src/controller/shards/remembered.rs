//! What a new owner takes over from the status the last owner stored: a rollback's pin and
//! a pause of self-heal (both otherwise live in the owner's memory only).

use std::time::Duration;

use crate::AppStatus;

/// A rollback's pin as the last owner recorded it in the status. The branch head it was
/// taken at is not recorded; the head last seen stands for it (the last owner kept the pin
/// because the branch had not moved past it), so the pin holds until the branch moves on.
pub(super) fn pin_of(status: &AppStatus) -> Option<crate::controller::Pin> {
    let pinned = status.pinned.as_ref()?;
    Some(crate::controller::Pin {
        revision: pinned.revision.clone(),
        head: status
            .sync
            .head
            .clone()
            .unwrap_or_else(|| pinned.revision.clone()),
        actor: pinned.by.clone(),
    })
}

/// A pause of self-heal as the last owner recorded it, less the time since it did.
pub(super) fn pause_of(status: &AppStatus, now_ms: i64) -> Option<(tokio::time::Instant, String)> {
    let pause = status.heal_paused.as_ref()?;
    let remaining_ms = i64::try_from(pause.remaining_seconds).ok()? * 1000;
    let since = now_ms - status.reconciled_at_ms.unwrap_or(now_ms);
    let left = u64::try_from(remaining_ms - since.max(0))
        .ok()
        .filter(|l| *l > 0)?;
    Some((
        tokio::time::Instant::now() + Duration::from_millis(left),
        pause.reason.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn status(v: serde_json::Value) -> crate::AppStatus {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_pin_and_a_pause_carry_over_to_the_next_owner() {
        let recorded = status(json!({
            "sync": {"head": "c3"},
            "pinned": {"revision": "c1", "by": "alice"},
            "healPaused": {"reason": "incident 42", "remainingSeconds": 100},
            "reconciledAtMs": 1_000_000,
        }));
        let pin = super::pin_of(&recorded).unwrap();
        assert_eq!(
            (pin.revision.as_str(), pin.head.as_str(), pin.actor.as_str()),
            ("c1", "c3", "alice")
        );
        // 40 s after the last owner recorded it: 60 s of the pause are left.
        let (until, why) = super::pause_of(&recorded, 1_040_000).unwrap();
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            left > std::time::Duration::from_secs(59) && left <= std::time::Duration::from_secs(60),
            "{left:?}"
        );
        assert_eq!(why, "incident 42");
        // Over by now, or never there.
        assert!(super::pause_of(&recorded, 1_200_000).is_none());
        assert!(super::pin_of(&status(json!({"sync": {}}))).is_none());
        assert!(super::pause_of(&crate::AppStatus::default(), 0).is_none());
    }
}
