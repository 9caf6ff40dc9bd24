//! The dispatcher: claims due messages from the outbox with a lease, delivers them, and records
//! the outcome under the claim's fencing token.
//!
//! - Retries with exponential backoff (`initial * 2^(attempt-1)`, capped, at least the
//!   receiver's `Retry-After`), until `max_attempts`; permanent errors fail at once.
//! - Per destination (service + recipient): messages go out in order, one at a time, through a
//!   token bucket; after a retryable failure the destination pauses until its retry time and its
//!   other claimed messages are deferred unattempted. So a dead endpoint costs one attempt per
//!   backoff period, never a slot that other destinations wait for.
//! - Destinations are served concurrently; one being sent to is excluded from further claims.
//!
//! Time comes from tokio's clock (anchored to the wall clock at start), so tests pause it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::outbox::{ClaimRequest, Outbox, OutboxError, OutboxMessage, Outcome};
use crate::ratelimit::{RateLimit, TokenBucket};
use crate::service::{SendError, Services};

/// Retry policy.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            initial: Duration::from_secs(10),
            max: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempt`-th failed attempt (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Dispatcher settings.
#[derive(Clone, Debug)]
pub struct DispatcherOptions {
    /// This replica's identity in leases.
    pub owner: String,
    pub lease: Duration,
    pub batch: usize,
    pub per_destination: usize,
    /// How long one send may take before it counts as a (retryable) failure.
    pub send_timeout: Duration,
    /// How often `run` polls when nothing wakes it.
    pub poll: Duration,
    pub retry: RetryPolicy,
    pub rate: RateLimit,
}

impl Default for DispatcherOptions {
    fn default() -> Self {
        Self {
            owner: "driftless".into(),
            lease: Duration::from_secs(300),
            batch: 200,
            per_destination: 10,
            send_timeout: Duration::from_secs(30),
            poll: Duration::from_secs(2),
            retry: RetryPolicy::default(),
            rate: RateLimit::default(),
        }
    }
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundReport {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    pub deferred: usize,
}

struct Shared {
    outbox: Arc<dyn Outbox>,
    services: Services,
    options: DispatcherOptions,
    anchor: (Timestamp, Instant),
    buckets: Mutex<HashMap<String, TokenBucket>>,
    /// Destination -> paused until (after a retryable failure).
    paused: Mutex<HashMap<String, Instant>>,
    in_flight: Mutex<HashSet<String>>,
    metrics: Metrics,
    wake: Notify,
    /// Set by `run` at shutdown: finish the message in hand, release the rest.
    stopping: AtomicBool,
}

/// Delivers outbox messages. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher(Arc<Shared>);

impl Dispatcher {
    pub fn new(outbox: Arc<dyn Outbox>, services: Services, options: DispatcherOptions) -> Self {
        Self(Arc::new(Shared {
            outbox,
            services,
            options,
            anchor: (Timestamp::now(), Instant::now()),
            buckets: Mutex::default(),
            paused: Mutex::default(),
            in_flight: Mutex::default(),
            metrics: Metrics::default(),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
        }))
    }

    /// Counts into `metrics` (shared with the engine's `/metrics`) instead of its own.
    /// Call right after [`Dispatcher::new`], before the dispatcher is cloned.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.0) {
            shared.metrics = metrics;
        }
        self
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Wall time as tokio's clock sees it.
    pub fn now(&self) -> Timestamp {
        let (ts, at) = self.0.anchor;
        ts.checked_add(at.elapsed()).unwrap_or(ts)
    }

    /// Wakes `run` (call after enqueueing).
    pub fn wake(&self) {
        self.0.wake.notify_one();
    }

    /// Claims due messages and delivers them, returning when every destination is done.
    pub async fn run_once(&self) -> Result<RoundReport, OutboxError> {
        let (claimed, mut tasks) = self.start_round().await?;
        let mut report = RoundReport {
            claimed,
            ..Default::default()
        };
        while let Some(done) = tasks.join_next().await {
            if let Ok(r) = done {
                report.sent += r.sent;
                report.retried += r.retried;
                report.failed += r.failed;
                report.deferred += r.deferred;
            }
        }
        Ok(report)
    }

    /// Delivers until `shutdown` resolves; slow destinations never hold up the others.
    /// At shutdown no new message is started: each destination finishes (and records) the
    /// message in hand and releases the rest, so a clean stop never leaves a message to be
    /// resent after its lease.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tasks = JoinSet::new();
        loop {
            match self.start_round().await {
                Ok((_, mut round)) => {
                    // The round's destinations finish on their own; nobody waits for them here.
                    // (Dropping a JoinSet would abort them, so a task owns it.)
                    tasks.spawn(async move { while round.join_next().await.is_some() {} });
                }
                Err(e) => tracing::warn!(error = %e, "notification outbox: claim failed"),
            }
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.0.wake.notified() => {}
                _ = tokio::time::sleep(self.0.options.poll) => {}
            }
        }
        self.0.stopping.store(true, Ordering::SeqCst);
        while tasks.join_next().await.is_some() {}
    }

    async fn start_round(&self) -> Result<(usize, JoinSet<RoundReport>), OutboxError> {
        let o = &self.0.options;
        let now = self.now();
        let exclude: Vec<String> = self
            .0
            .in_flight
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        let request = ClaimRequest {
            owner: o.owner.clone(),
            now,
            lease_until: now.checked_add(o.lease).unwrap_or(now),
            limit: o.batch,
            per_destination: o.per_destination,
            exclude,
        };
        // Sends must end before the lease does, or another replica could claim the message
        // while it is still in hand; a destination releases what it cannot finish in time.
        let lease_deadline = Instant::now() + o.lease;
        let claimed = self.0.outbox.claim(&request).await?;
        let count = claimed.len();
        let mut groups: BTreeMap<String, Vec<OutboxMessage>> = BTreeMap::new();
        for m in claimed {
            groups.entry(m.destination.clone()).or_default().push(m);
        }
        let mut tasks = JoinSet::new();
        for (destination, messages) in groups {
            if let Ok(mut set) = self.0.in_flight.lock() {
                set.insert(destination.clone());
            }
            let this = self.clone();
            tasks.spawn(async move {
                let report = this
                    .deliver_destination(&destination, messages, lease_deadline)
                    .await;
                if let Ok(mut set) = this.0.in_flight.lock() {
                    set.remove(&destination);
                }
                report
            });
        }
        Ok((count, tasks))
    }

    /// Sends one destination's messages in order.
    async fn deliver_destination(
        &self,
        destination: &str,
        messages: Vec<OutboxMessage>,
        lease_deadline: Instant,
    ) -> RoundReport {
        let mut report = RoundReport::default();
        for m in messages {
            let out_of_lease = Instant::now() + self.0.options.send_timeout >= lease_deadline;
            if self.0.stopping.load(Ordering::SeqCst) || out_of_lease {
                self.complete(&m, Outcome::Deferred { until: self.now() })
                    .await;
                report.deferred += 1;
                continue;
            }
            if let Some(until) = self.paused_until(destination) {
                let until_ts = self.to_timestamp(until);
                self.complete(&m, Outcome::Deferred { until: until_ts })
                    .await;
                report.deferred += 1;
                continue;
            }
            self.wait_for_token(destination).await;
            if Instant::now() + self.0.options.send_timeout >= lease_deadline {
                self.complete(&m, Outcome::Deferred { until: self.now() })
                    .await;
                report.deferred += 1;
                continue;
            }
            let outcome = self.attempt(&m).await;
            match &outcome {
                Outcome::Sent { .. } => report.sent += 1,
                Outcome::Retry { .. } => report.retried += 1,
                Outcome::Failed { .. } => report.failed += 1,
                Outcome::Deferred { .. } => report.deferred += 1,
            }
            self.complete(&m, outcome).await;
        }
        report
    }

    async fn attempt(&self, m: &OutboxMessage) -> Outcome {
        let o = &self.0.options;
        let service_type = m.message.service_type.as_str();
        let result = match self.0.services.get(&m.message.service) {
            None => Err(SendError::permanent(format!(
                "service `{}` is not configured",
                m.message.service
            ))),
            Some(service) => match tokio::time::timeout(o.send_timeout, service.send(m)).await {
                Ok(r) => r,
                Err(_) => Err(SendError::retryable(format!(
                    "no answer within {:?}",
                    o.send_timeout
                ))),
            },
        };
        let attempt = m.attempts + 1;
        match result {
            Ok(()) => {
                self.0.metrics.record(service_type, "sent");
                Outcome::Sent { at: self.now() }
            }
            Err(e) if e.retryable && attempt < o.retry.max_attempts => {
                self.0.metrics.record(service_type, "retried");
                let wait = o
                    .retry
                    .backoff(attempt)
                    .max(e.retry_after.unwrap_or_default());
                let resume = Instant::now() + wait;
                if let Ok(mut paused) = self.0.paused.lock() {
                    paused.insert(m.destination.clone(), resume);
                }
                tracing::info!(id = m.id, destination = %m.destination, attempt, error = %e.message, "notification failed; will retry");
                Outcome::Retry {
                    error: e.message,
                    next_attempt_at: self.to_timestamp(resume),
                }
            }
            Err(e) => {
                self.0.metrics.record(service_type, "failed");
                tracing::warn!(id = m.id, destination = %m.destination, attempt, error = %e.message, "notification failed; giving up");
                Outcome::Failed {
                    error: format!("after {attempt} attempt(s): {}", e.message),
                }
            }
        }
    }

    async fn complete(&self, m: &OutboxMessage, outcome: Outcome) {
        match self.0.outbox.complete(m.id, m.claim_token, outcome).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                id = m.id,
                "notification claim was lost (lease expired); outcome not recorded"
            ),
            Err(e) => tracing::warn!(id = m.id, error = %e, "notification outcome not recorded"),
        }
    }

    fn paused_until(&self, destination: &str) -> Option<Instant> {
        let mut paused = self.0.paused.lock().ok()?;
        match paused.get(destination) {
            Some(until) if *until > Instant::now() => Some(*until),
            Some(_) => {
                paused.remove(destination);
                None
            }
            None => None,
        }
    }

    async fn wait_for_token(&self, destination: &str) {
        loop {
            let wait = {
                let Ok(mut buckets) = self.0.buckets.lock() else {
                    return;
                };
                let rate = self.0.options.rate;
                buckets
                    .entry(destination.to_owned())
                    .or_insert_with(|| TokenBucket::new(rate))
                    .take(Instant::now())
            };
            match wait {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    fn to_timestamp(&self, at: Instant) -> Timestamp {
        let (ts, anchor) = self.0.anchor;
        ts.checked_add(at.saturating_duration_since(anchor))
            .unwrap_or(ts)
    }
}
