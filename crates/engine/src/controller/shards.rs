//! Several replicas sharing the applications of one store.
//!
//! Each replica is a member (its lease `member/REPLICA`, held by the binary) and owns the
//! applications rendezvous hashing gives it among the live members ([`assign`]). Ownership
//! is a row per application in the store ([`driftless_store::shards`]): a replica claims an
//! app once the previous owner released it (after finishing what it was doing with it) or
//! was reaped after its lease expired — which fences its store writes, while its cluster
//! writes stopped at its lease's local deadline. The work queue only hands out owned apps
//! ([`Ownership::owns`]), so an app is never reconciled by two replicas at once.
//!
//! A user's sync asked of a replica that does not own the app is left in the store for
//! the owner, which picks it up at its next tick.

use crate::error::EngineResult;
pub mod assign;
mod definitions;
mod forward;
mod remembered;
use remembered::{pause_of, pin_of};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use driftless_store::{MemberReport, Operation, OperationPhase};

use super::{Controller, Reason};

/// Stored definitions are read every this many ticks.
const DEFINITIONS_EVERY: u64 = 5;

#[derive(Default)]
struct Owned {
    /// Apps this replica owns in the store (under its current token).
    apps: BTreeSet<String>,
    /// Owned apps being handed over: no new work; released once idle.
    releasing: BTreeSet<String>,
    /// Leaving (SIGTERM): no new work at all.
    stopping: bool,
}

/// This replica's share: what it owns, and its counters.
pub struct Ownership {
    replica: String,
    token: i64,
    state: Mutex<Owned>,
    renewals: AtomicU64,
    taken_over: AtomicU64,
    handed_over: AtomicU64,
    members: AtomicU64,
    /// This replica is the one the hash gives [`COORDINATOR_KEY`]: it drives promotions.
    coordinator: std::sync::atomic::AtomicBool,
    started_ms: i64,
}

/// The work only one replica does (the promotion driver) goes to this key's owner.
const COORDINATOR_KEY: &str = "coordinator/promotions";

impl Ownership {
    /// The share of `replica`, a member under lease token `token`.
    pub fn new(replica: &str, token: i64) -> Arc<Ownership> {
        Arc::new(Ownership {
            replica: replica.to_string(),
            token,
            state: Mutex::default(),
            renewals: AtomicU64::new(0),
            taken_over: AtomicU64::new(0),
            handed_over: AtomicU64::new(0),
            members: AtomicU64::new(0),
            coordinator: std::sync::atomic::AtomicBool::new(false),
            started_ms: jiff::Timestamp::now().as_millisecond(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Owned> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// May this replica work on `app` now?
    pub fn owns(&self, app: &str) -> bool {
        let s = self.state();
        !s.stopping && s.apps.contains(app) && !s.releasing.contains(app)
    }

    pub fn replica(&self) -> &str {
        &self.replica
    }

    pub fn owned(&self) -> usize {
        self.state().apps.len()
    }

    /// The member lease was renewed (counted for metrics).
    pub fn renewed(&self) {
        self.renewals.fetch_add(1, Ordering::Relaxed);
    }

    /// Hand-overs in and out since start.
    pub fn handovers(&self) -> (u64, u64) {
        (
            self.taken_over.load(Ordering::Relaxed),
            self.handed_over.load(Ordering::Relaxed),
        )
    }

    /// Prometheus text lines for this replica.
    pub fn metrics_lines(&self) -> String {
        let (taken, handed) = self.handovers();
        let r = &self.replica;
        format!(
            "# HELP driftless_shard_owned_apps Applications this replica owns.\n\
             # TYPE driftless_shard_owned_apps gauge\n\
             driftless_shard_owned_apps{{replica=\"{r}\"}} {}\n\
             # HELP driftless_shard_members Live replicas sharing the store.\n\
             # TYPE driftless_shard_members gauge\n\
             driftless_shard_members{{replica=\"{r}\"}} {}\n\
             # HELP driftless_shard_lease_renewals Member lease renewals.\n\
             # TYPE driftless_shard_lease_renewals counter\n\
             driftless_shard_lease_renewals_total{{replica=\"{r}\"}} {}\n\
             # HELP driftless_shard_handovers Applications taken over from or handed to another replica.\n\
             # TYPE driftless_shard_handovers counter\n\
             driftless_shard_handovers_total{{replica=\"{r}\",direction=\"in\"}} {taken}\n\
             driftless_shard_handovers_total{{replica=\"{r}\",direction=\"out\"}} {handed}\n",
            self.owned(),
            self.members.load(Ordering::Relaxed),
            self.renewals.load(Ordering::Relaxed),
        )
    }
}

/// `text` (an OpenMetrics exposition ending in `# EOF`) with `lines` added before the end.
pub(crate) fn with_lines(text: String, lines: &str) -> String {
    match text.strip_suffix("# EOF\n") {
        Some(body) => format!("{body}{lines}# EOF\n"),
        None => text + lines,
    }
}

impl Controller {
    /// Shares this controller's work with other replicas through `own`: from now on only
    /// owned applications are reconciled.
    pub fn share(&self, own: Arc<Ownership>) {
        let filter = own.clone();
        self.queue
            .set_filter(Arc::new(move |app: &str| filter.owns(app)));
        let _ = self.shards.set(own);
    }

    /// The replica sharing this controller's work, if any.
    pub fn ownership(&self) -> Option<&Arc<Ownership>> {
        self.shards.get()
    }

    /// Every replica sharing the store (its lease and last report) and every application's
    /// owner row, as any replica reads them (`GET /shards`, `driftless shards`).
    pub async fn shard_members(
        &self,
    ) -> EngineResult<(Vec<driftless_store::Member>, Vec<driftless_store::AppOwner>)> {
        Ok((self.store.members().await?, self.store.app_owners().await?))
    }

    /// Keeps this replica's share right until `stop`: every `interval`, reaps expired
    /// members, claims what it should own, hands over what it should not, picks up requests
    /// forwarded to it and reports itself. Errors are logged and retried at the next tick.
    pub async fn run_shards(
        self: Arc<Self>,
        own: Arc<Ownership>,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        for tick in 0u64.. {
            // Definitions made through another replica's API: every few ticks (a full read).
            if tick % DEFINITIONS_EVERY == 0
                && let Err(e) = self.adopt_stored_definitions().await
            {
                tracing::warn!(replica = %own.replica, "reading stored definitions: {e}");
            }
            if let Err(e) = self.shard_tick(&own).await {
                tracing::warn!(replica = %own.replica, "sharing the work: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    async fn shard_tick(&self, own: &Ownership) -> EngineResult<()> {
        for gone in self.store.reap_expired_members(&own.replica).await? {
            tracing::warn!(replica = %own.replica, "member {gone} let its lease expire: its applications are taken over");
        }
        let live = self.store.live_members().await?;
        own.members.store(live.len() as u64, Ordering::Relaxed);
        let coordinator = assign::owner(COORDINATOR_KEY, &live) == Some(own.replica.as_str());
        own.coordinator
            .store(coordinator && !own.state().stopping, Ordering::SeqCst);
        let owners: BTreeMap<String, (String, i64)> = self
            .store
            .app_owners()
            .await?
            .into_iter()
            .map(|o| (o.app, (o.replica, o.token)))
            .collect();
        let mine: BTreeSet<String> = owners
            .iter()
            .filter(|(_, (r, t))| *r == own.replica && *t == own.token)
            .map(|(a, _)| a.clone())
            .collect();
        let apps: Vec<String> = self.apps.lock().await.keys().cloned().collect();
        let target = assign::assign(apps.iter().map(String::as_str), &live);
        // The store is the truth: what it no longer has us own, we do not.
        own.state().apps.retain(|a| mine.contains(a));
        // Not live ourselves (a renewal late): change nothing until we are again.
        if live.contains(&own.replica) {
            let (stopping, kept_again) = {
                let mut s = own.state();
                let stopping = s.stopping;
                let releasing: BTreeSet<String> = s
                    .apps
                    .iter()
                    .filter(|a| stopping || target.get(*a) != Some(&own.replica))
                    .cloned()
                    .collect();
                let kept_again: Vec<String> = s.releasing.difference(&releasing).cloned().collect();
                s.releasing = releasing;
                (stopping, kept_again)
            };
            // Ours again before they were released (a member came and went): queued again,
            // as the queue dropped them meanwhile.
            for a in kept_again {
                self.queue.enqueue(&a, Reason::Definition);
            }
            self.hand_over(own).await?;
            let wanted: Vec<&String> = target
                .iter()
                .filter(|(app, to)| **to == own.replica && !mine.contains(*app))
                .map(|(app, _)| app)
                .collect();
            if !stopping && !wanted.is_empty() {
                // Operations a previous owner left Running, read once for all the claims.
                let running = self.store.running_operations().await?;
                for app in wanted {
                    let left: Vec<&Operation> = running.iter().filter(|o| o.app == *app).collect();
                    self.take(own, app, owners.get(app), &left).await?;
                }
            }
        }
        self.forwarded(own).await?;
        self.store
            .report_member(&MemberReport {
                replica: own.replica.clone(),
                token: own.token,
                owned: own.owned() as i64,
                queue_depth: self.queue.len() as i64,
                renewals: own.renewals.load(Ordering::Relaxed) as i64,
                handovers: (own.taken_over.load(Ordering::Relaxed)
                    + own.handed_over.load(Ordering::Relaxed)) as i64,
                started_ms: own.started_ms,
            })
            .await?;
        Ok(())
    }

    /// Apps something is writing for now: a reconcile (the queue's, or one an operation ran
    /// on its end) or a sync operation, which runs as a task of its own.
    async fn busy(&self) -> std::collections::BTreeSet<String> {
        self.apps
            .lock()
            .await
            .iter()
            .filter(|(name, s)| {
                s.operation.is_some()
                    || s.reconciling.try_lock().is_err()
                    || self.queue.is_running(name)
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Releases the apps being handed over that nothing is busy with (the queue no longer
    /// hands them out and no operation starts for them, so once idle they stay idle).
    async fn hand_over(&self, own: &Ownership) -> EngineResult<()> {
        let busy = self.busy().await;
        let idle: Vec<String> = own
            .state()
            .releasing
            .iter()
            .filter(|a| !busy.contains(*a) && !self.queue.is_running(a))
            .cloned()
            .collect();
        for app in idle {
            self.store
                .release_app(&app, &own.replica, own.token)
                .await?;
            let mut s = own.state();
            s.releasing.remove(&app);
            s.apps.remove(&app);
            drop(s);
            own.handed_over.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Claims `app`; on success closes operations a previous owner left running, reloads
    /// what the store remembers of it, and queues it.
    async fn take(
        &self,
        own: &Ownership,
        app: &str,
        previous: Option<&(String, i64)>,
        left_running: &[&Operation],
    ) -> EngineResult<()> {
        if !self.store.claim_app(app, &own.replica, own.token).await? {
            return Ok(());
        }
        for op in left_running {
            let message = format!(
                "the replica that ran this {} (revision {}) left before it ended; {} took the application over and compares again",
                op.kind, op.revision, own.replica
            );
            let result = json!({"message": message});
            self.store
                .finish_operation(op.id, OperationPhase::Interrupted, &result)
                .await?;
            self.event(
                app,
                crate::EventKind::OperationInterrupted,
                crate::Severity::Warning,
                &message,
                &json!({"operation": op.id}),
            )
            .await?;
        }
        self.reload_remembered(app).await;
        if previous.is_some() {
            own.taken_over.fetch_add(1, Ordering::Relaxed);
        }
        own.state().apps.insert(app.to_string());
        self.queue.enqueue(app, Reason::Definition);
        Ok(())
    }

    /// What the previous owner recorded (last sync attempted and succeeded), so the new
    /// owner does not retry a failed sync in a loop nor forget when it last synced.
    async fn reload_remembered(&self, app: &str) {
        let Ok(status) = self.stored_status(app).await else {
            return;
        };
        let pinned = pin_of(&status);
        let paused = pause_of(&status, jiff::Timestamp::now().as_millisecond());
        if let Some(s) = self.apps.lock().await.get_mut(app) {
            s.last_attempt = status.operation.attempt.as_ref().map(|r| r.to_string());
            s.last_good = status.operation.good.as_ref().map(|r| r.to_string());
            s.last_synced_ms = status.last_sync_at_ms;
            s.sync_requested = None;
            s.drift_since = None;
            s.pinned = pinned;
            s.heal_paused = paused;
        }
    }

    /// The promotion driver, run by one replica at a time: the coordinator (the others
    /// wait, looking again at each interval). Promotions are records in the store, so the
    /// next coordinator carries on where the last one stopped.
    pub(crate) async fn coordinated_promotion_loop(&self, own: Arc<Ownership>) {
        loop {
            if own.coordinator.load(Ordering::SeqCst) {
                self.promotion_pass().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.promotion_interval) => {}
                _ = self.promotions.wake.notified() => {}
            }
        }
    }

    /// Leaving (SIGTERM): takes no new work, waits up to `grace` for the operations in
    /// flight, then releases every app and the membership so the others take over at once.
    /// An operation still running after `grace` is closed as Interrupted by its next owner.
    /// `stop_writes` is called once the wait is over and before anything is released: from
    /// then on an operation still running cannot write to a cluster the next owner syncs.
    pub async fn leave(
        &self,
        own: &Ownership,
        grace: Duration,
        stop_writes: impl FnOnce(),
    ) -> EngineResult<()> {
        own.state().stopping = true;
        own.coordinator.store(false, Ordering::SeqCst);
        let until = tokio::time::Instant::now() + grace;
        loop {
            let now_busy = self.busy().await;
            let busy = own
                .state()
                .apps
                .iter()
                .filter(|a| now_busy.contains(*a))
                .count();
            if busy == 0 || tokio::time::Instant::now() >= until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop_writes();
        let handed = own.owned() as u64;
        self.store.leave(&own.replica, own.token).await?;
        own.state().apps.clear();
        own.handed_over.fetch_add(handed, Ordering::Relaxed);
        Ok(())
    }
}
