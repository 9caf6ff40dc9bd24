//! The dispatcher's timing rules with tokio's clock paused (no sleeps): retries with exponential
//! backoff and Retry-After, giving up, per-destination rate limits; and, in real time against real
//! sockets, a dead endpoint with 1,000 queued messages not holding up another destination.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant};

use driftless_notify::outbox::memory::MemoryOutbox;
use driftless_notify::outbox::{ListFilter, Status};
use driftless_notify::service::{HttpClient, SendError, Service, Services};
use driftless_notify::{
    Dispatcher, DispatcherOptions, NewMessage, Outbox, OutboxMessage, RateLimit, RetryPolicy,
};
use futures_util::future::{BoxFuture, FutureExt};
use serde_json::json;
use tokio::time::Instant;

use crate::common::{Receiver, crypto};

/// A service that answers from a script and records when it was called.
#[derive(Default)]
struct Scripted {
    script: Mutex<VecDeque<Result<(), SendError>>>,
    calls: Mutex<Vec<(Instant, String)>>,
}

impl Service for Scripted {
    fn send<'a>(&'a self, m: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>> {
        self.calls
            .lock()
            .unwrap()
            .push((Instant::now(), m.message.recipient.clone()));
        let answer = self.script.lock().unwrap().pop_front().unwrap_or(Ok(()));
        async move { answer }.boxed()
    }
}

fn message(n: usize, service: &str, recipient: &str, created: jiff::Timestamp) -> NewMessage {
    NewMessage {
        dedupe_key: format!("{service}-{recipient}-{n}"),
        event_id: format!("ev-{n}"),
        app: "shop".into(),
        trigger: "on-sync-failed".into(),
        template: "app-sync-failed".into(),
        service: service.into(),
        service_type: "webhook".into(),
        recipient: recipient.into(),
        payload: json!({"message": format!("message {n}"), "webhook": {"method": "POST", "body": format!("{{\"n\": {n}}}")}}),
        created_at: created,
    }
}

fn options(retry: RetryPolicy, rate: RateLimit) -> DispatcherOptions {
    DispatcherOptions {
        retry,
        rate,
        ..Default::default()
    }
}

fn scripted(answers: Vec<Result<(), SendError>>) -> (Arc<Scripted>, Services) {
    let service = Arc::new(Scripted {
        script: Mutex::new(answers.into()),
        ..Default::default()
    });
    let mut services = Services::default();
    services.insert("scripted", service.clone());
    (service, services)
}

/// Runs rounds, a second of (paused) time apart, until nothing is pending.
async fn drain(d: &Dispatcher, outbox: &MemoryOutbox, max_seconds: u64) {
    for _ in 0..max_seconds {
        d.run_once().await.unwrap();
        let pending = outbox
            .list(&ListFilter {
                status: Some(Status::Pending),
                ..Default::default()
            })
            .await
            .unwrap();
        if pending.is_empty() {
            return;
        }
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    panic!("messages still pending after {max_seconds} s");
}

fn offsets(calls: &[(Instant, String)], start: Instant) -> Vec<u64> {
    calls
        .iter()
        .map(|(at, _)| (*at - start).as_secs())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_exponentially_up_to_the_cap() {
    let failing = || Err(SendError::retryable("HTTP 503"));
    let (service, services) = scripted(vec![failing(), failing(), failing(), failing()]);
    let outbox = Arc::new(MemoryOutbox::new());
    let retry = RetryPolicy {
        max_attempts: 5,
        initial: Duration::from_secs(10),
        max: Duration::from_secs(60),
    };
    let d = Dispatcher::new(
        outbox.clone(),
        services,
        options(retry, RateLimit::default()),
    );
    let start = Instant::now();
    outbox
        .enqueue(&[message(1, "scripted", "a", d.now())])
        .await
        .unwrap();
    drain(&d, &outbox, 300).await;
    // 10 s, 20 s, 40 s, then capped at 60 s.
    assert_eq!(
        offsets(&service.calls.lock().unwrap(), start),
        vec![0, 10, 30, 70, 130]
    );
    let sent = outbox.list(&ListFilter::default()).await.unwrap();
    assert_eq!((sent[0].status, sent[0].attempts), (Status::Sent, 5));
    assert_eq!(d.metrics().count("webhook", "retried"), 4);
    assert_eq!(d.metrics().count("webhook", "sent"), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_and_attempts_run_out() {
    let mut limited = SendError::retryable("HTTP 429 Too Many Requests");
    limited.retry_after = Some(Duration::from_secs(120));
    let (service, services) = scripted(vec![
        Err(limited),
        Err(SendError::retryable("HTTP 502")),
        Err(SendError::retryable("HTTP 502")),
    ]);
    let outbox = Arc::new(MemoryOutbox::new());
    let retry = RetryPolicy {
        max_attempts: 3,
        initial: Duration::from_secs(10),
        max: Duration::from_secs(60),
    };
    let d = Dispatcher::new(
        outbox.clone(),
        services,
        options(retry, RateLimit::default()),
    );
    let start = Instant::now();
    outbox
        .enqueue(&[message(1, "scripted", "a", d.now())])
        .await
        .unwrap();
    drain(&d, &outbox, 300).await;
    assert_eq!(
        offsets(&service.calls.lock().unwrap(), start),
        vec![0, 120, 140]
    );
    let failed = outbox.list(&ListFilter::default()).await.unwrap();
    assert_eq!((failed[0].status, failed[0].attempts), (Status::Failed, 3));
    assert_eq!(
        failed[0].last_error.as_deref(),
        Some("after 3 attempt(s): HTTP 502")
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_fails_at_once_and_does_not_pause_the_destination() {
    let (service, services) = scripted(vec![Err(SendError::permanent("HTTP 404 Not Found"))]);
    let outbox = Arc::new(MemoryOutbox::new());
    let d = Dispatcher::new(
        outbox.clone(),
        services,
        options(
            RetryPolicy::default(),
            RateLimit {
                burst: 10,
                per: Duration::from_secs(1),
            },
        ),
    );
    let now = d.now();
    outbox
        .enqueue(&[
            message(1, "scripted", "a", now),
            message(2, "scripted", "a", now),
        ])
        .await
        .unwrap();
    let round = d.run_once().await.unwrap();
    assert_eq!((round.failed, round.sent), (1, 1));
    assert_eq!(service.calls.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_per_destination() {
    let (service, services) = scripted(vec![]);
    let outbox = Arc::new(MemoryOutbox::new());
    let d = Dispatcher::new(
        outbox.clone(),
        services,
        options(
            RetryPolicy::default(),
            RateLimit {
                burst: 2,
                per: Duration::from_secs(2),
            },
        ),
    );
    let start = Instant::now();
    let now = d.now();
    let mut batch: Vec<NewMessage> = (0..5)
        .map(|n| message(n, "scripted", "busy", now))
        .collect();
    batch.extend((5..7).map(|n| message(n, "scripted", "quiet", now)));
    outbox.enqueue(&batch).await.unwrap();
    assert_eq!(d.run_once().await.unwrap().sent, 7);
    let calls = service.calls.lock().unwrap().clone();
    let of = |r: &str| {
        let only: Vec<_> = calls.iter().filter(|(_, to)| to == r).cloned().collect();
        offsets(&only, start)
    };
    // A burst of 2, then one per second; the other destination is not affected.
    assert_eq!(of("busy"), vec![0, 0, 1, 2, 3]);
    assert_eq!(of("quiet"), vec![0, 0]);
}

/// Accepts connections and never answers: a hung endpoint.
async fn black_hole() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (url, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_with_1000_queued_messages_does_not_hold_up_others() {
    crypto();
    let live = Receiver::start(200, "ok").await;
    let (dead_url, accepted) = black_hole().await;
    let yaml = format!(
        "data:\n  service.webhook.dead: |\n    url: {dead_url}\n  service.webhook.live: |\n    url: {}\n",
        live.url
    );
    let config = driftless_notify::config::argocd::parse_configmap(&yaml, "cm").unwrap();
    let services = Services::build(
        &config,
        &driftless_notify::StaticSecrets::default(),
        &HttpClient::new(Duration::from_secs(2)).unwrap(),
    )
    .unwrap();
    let outbox = Arc::new(MemoryOutbox::new());
    let opts = DispatcherOptions {
        send_timeout: Duration::from_secs(2),
        poll: Duration::from_millis(20),
        rate: RateLimit {
            burst: 100,
            per: Duration::from_secs(1),
        },
        ..Default::default()
    };
    let d = Dispatcher::new(outbox.clone(), services, opts);
    let queued = StdInstant::now();
    let created = d.now();
    let dead: Vec<NewMessage> = (0..1000)
        .map(|n| message(n, "dead", "x", created))
        .collect();
    outbox.enqueue(&dead).await.unwrap();
    let enqueue_1000 = queued.elapsed();
    let live_batch: Vec<NewMessage> = (0..20).map(|n| message(n, "live", "x", created)).collect();
    outbox.enqueue(&live_batch).await.unwrap();

    let started = StdInstant::now();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = d.clone();
    let task = tokio::spawn(async move {
        runner
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    for _ in 0..20 {
        live.next().await;
    }
    let live_done = started.elapsed();
    // The dead endpoint got one attempt (still hanging), not one per queued message.
    let dead_attempts = accepted.load(Ordering::SeqCst);
    let _ = stop.send(());
    task.await.unwrap();
    eprintln!(
        "BENCH dead endpoint: enqueue 1000 = {enqueue_1000:?}; 20 live messages delivered in {live_done:?} with 1000 queued for a hung endpoint ({dead_attempts} connection(s) to it)"
    );
    assert!(
        live_done < Duration::from_secs(2),
        "live destination waited for the dead one: {live_done:?}"
    );
    assert!(
        dead_attempts <= 1,
        "{dead_attempts} attempts on the dead endpoint"
    );
    // The clean stop let the hanging attempt time out and be recorded: one attempt for one
    // message, every other dead message untouched and still pending.
    let dead = outbox
        .list(&ListFilter {
            service: Some("dead".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(dead.len(), 1000);
    assert!(
        dead.iter().all(|m| m.status == Status::Pending),
        "all dead messages wait for a retry"
    );
    assert_eq!(dead.iter().map(|m| m.attempts).sum::<u32>(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_destination_releases_what_it_cannot_send_within_its_lease() {
    let (service, services) = scripted(vec![]);
    let outbox = Arc::new(MemoryOutbox::new());
    let options = DispatcherOptions {
        lease: Duration::from_secs(10),
        send_timeout: Duration::from_secs(2),
        rate: RateLimit {
            burst: 1,
            per: Duration::from_secs(4),
        },
        ..Default::default()
    };
    let d = Dispatcher::new(outbox.clone(), services, options);
    let start = Instant::now();
    let now = d.now();
    let batch: Vec<NewMessage> = (0..5)
        .map(|n| message(n, "scripted", "slow", now))
        .collect();
    outbox.enqueue(&batch).await.unwrap();
    let round = d.run_once().await.unwrap();
    // Sends at 0 s and 4 s; at 8 s a send could outlast the 10 s lease: the rest go back.
    assert_eq!((round.sent, round.deferred), (2, 3));
    assert_eq!(offsets(&service.calls.lock().unwrap(), start), vec![0, 4]);
    let pending = outbox
        .list(&ListFilter {
            status: Some(Status::Pending),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        pending
            .iter()
            .all(|m| m.attempts == 0 && m.lease_owner.is_none())
    );
    // Later rounds send them, each message once.
    drain(&d, &outbox, 60).await;
    assert_eq!(service.calls.lock().unwrap().len(), 5);
}
