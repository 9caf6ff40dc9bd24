//! Webhook payloads. The API's extraction (`repo_urls` in crates/api/src/webhook.rs) is private;
//! this target runs the same steps on public pieces — JSON parse of the verified body, the
//! providers' URL pointers — until the lead makes that function public (see the report).
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const POINTERS: &[&str] = &[
    "/repository/clone_url",
    "/repository/ssh_url",
    "/repository/html_url",
    "/project/git_http_url",
    "/project/git_ssh_url",
    "/project/web_url",
    "/repository/links/html/href",
    "/repoURL",
];

fuzz_target!(|data: &[u8]| {
    if data.len() > 1 << 20 {
        return;
    }
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        for p in POINTERS {
            if let Some(url) = v.pointer(p).and_then(Value::as_str) {
                let _ = driftless_core::trust::host_of_url(url);
            }
        }
    }
});
