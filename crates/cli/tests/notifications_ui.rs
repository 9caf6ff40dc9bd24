//! The UI's Notifications page in headless Chromium: a message Slack refused is listed as
//! failed with Slack's error, and "Send again" delivers it once Slack takes it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use driftless_testkit::browser::Browser;

use crate::notifications::{Api, Slack, commit_color, up, write_config};

const WAIT: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_notification_is_listed_and_sent_again_from_the_ui() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let slack = Slack::start().await;
    slack.refuse.store(true, Ordering::SeqCst);
    commit_color(&r.join("repo"), "red");
    write_config(
        &r.join("config"),
        &r.join("repo"),
        &slack.url,
        "    notifications.argoproj.io/subscribe.on-sync-succeeded.slack: nowhere\n",
    );
    let (_engine, base) = up(r);
    let api = Api::new(r, base.clone());
    // Slack's "channel_not_found" is permanent: failed at the first attempt.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let failed = api.get("/api/v1/notifications?status=failed").await;
        if failed["items"].as_array().is_some_and(|i| i.len() == 1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{failed:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let token = std::fs::read_to_string(r.join("data/api-token")).unwrap();
    let b = Browser::start().await;
    b.goto(&format!("{base}/ui/#/notifications")).await;
    b.wait_for("the login form", "document.getElementById('token')", WAIT)
        .await;
    b.type_into("#token", token.trim()).await;
    b.click("#login button[type=submit]").await;
    b.wait_for(
        "the failed notification with Slack's error",
        "[...document.querySelectorAll('#nrows tr')].some(r => r.textContent.includes('failed') && r.textContent.includes('channel_not_found') && r.textContent.includes('slack:nowhere'))",
        WAIT,
    )
    .await;
    slack.refuse.store(false, Ordering::SeqCst);
    b.click("#nrows button[data-resend]").await;
    let got = slack
        .wait_for("the message sent again", |m| !m.is_empty())
        .await;
    assert_eq!(got[0]["channel"], "nowhere");
    // Once the outbox says sent, the page (loaded again) says so too.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while api.get("/api/v1/notifications?status=sent").await["items"]
        .as_array()
        .is_none_or(|i| i.is_empty())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "never recorded as sent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.goto(&format!("{base}/ui/?again#/notifications")).await;
    b.wait_for(
        "the row shows it sent",
        "[...document.querySelectorAll('#nrows tr')].some(r => r.textContent.includes('sent') && !r.textContent.includes('channel_not_found'))",
        WAIT,
    )
    .await;
    assert_eq!(slack.messages().len(), 1);
}
