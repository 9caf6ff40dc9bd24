//! Server-filled metadata: uids, RFC 3339 timestamps (second precision, as the API server
//! writes them), and the continue tokens of paginated lists.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

pub fn uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `2026-11-22T22:24:30Z` for now.
pub fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Civil-from-days (Howard Hinnant's algorithm): no date crate needed for one format.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The real server's continue token: base64url of `{"v":"meta.k8s.io/v1","rv":N,"start":"ns/name\u0000"}`.
pub fn continue_token(rv: u64, last_key: &str) -> String {
    let doc = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{last_key}\u{0}")});
    URL_SAFE_NO_PAD.encode(doc.to_string())
}

/// The key to continue after, from a token; `None` when the token is malformed.
pub fn continue_start(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(doc["start"].as_str()?.trim_end_matches('\u{0}').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_seconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_386_270), "2026-11-22T22:24:30Z");
    }

    #[test]
    fn continue_tokens_round_trip_like_the_recorded_one() {
        // From transcript 19: the server's token for rv 355 after kube-node-lease/kube-root-ca.crt.
        let recorded = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MzU1LCJzdGFydCI6Imt1YmUtbm9kZS1sZWFzZS9rdWJlLXJvb3QtY2EuY3J0XHUwMDAwIn0";
        assert_eq!(
            continue_start(recorded).unwrap(),
            "kube-node-lease/kube-root-ca.crt"
        );
        assert_eq!(continue_start(&continue_token(355, "a/b")).unwrap(), "a/b");
    }
}
