//! The in-process outbox: the same rules as the SQL one (unique dedupe key, leases, fencing
//! tokens), behind a mutex. Used by tests and by single-process runs without a database.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use futures_util::future::{BoxFuture, FutureExt};
use jiff::Timestamp;

use super::{
    ClaimRequest, Enqueued, ListFilter, NewMessage, Outbox, OutboxError, OutboxMessage, Outcome,
    Status,
};

#[derive(Default)]
struct State {
    next_id: i64,
    messages: BTreeMap<i64, OutboxMessage>,
    keys: HashSet<String>,
}

/// An [`Outbox`] in memory.
#[derive(Default)]
pub struct MemoryOutbox {
    state: Mutex<State>,
}

impl MemoryOutbox {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, OutboxError> {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| OutboxError("lock poisoned".into()))?;
        Ok(f(&mut guard))
    }
}

fn due(m: &OutboxMessage, now: Timestamp) -> bool {
    match m.status {
        Status::Pending => m.next_attempt_at <= now,
        Status::Sending => m.lease_until.is_none_or(|until| until <= now),
        Status::Sent | Status::Failed => false,
    }
}

impl Outbox for MemoryOutbox {
    fn enqueue<'a>(
        &'a self,
        messages: &'a [NewMessage],
    ) -> BoxFuture<'a, Result<Enqueued, OutboxError>> {
        let result = self.with(|s| {
            let mut count = Enqueued::default();
            for m in messages {
                if !s.keys.insert(m.dedupe_key.clone()) {
                    count.duplicates += 1;
                    continue;
                }
                s.next_id += 1;
                let stored = OutboxMessage {
                    id: s.next_id,
                    destination: m.destination(),
                    message: m.clone(),
                    status: Status::Pending,
                    attempts: 0,
                    next_attempt_at: m.created_at,
                    last_error: None,
                    sent_at: None,
                    lease_owner: None,
                    lease_until: None,
                    claim_token: 0,
                };
                s.messages.insert(stored.id, stored);
                count.inserted += 1;
            }
            count
        });
        async move { result }.boxed()
    }

    fn claim<'a>(
        &'a self,
        r: &'a ClaimRequest,
    ) -> BoxFuture<'a, Result<Vec<OutboxMessage>, OutboxError>> {
        let result = self.with(|s| {
            let mut candidates: Vec<&OutboxMessage> = s
                .messages
                .values()
                .filter(|m| due(m, r.now) && !r.exclude.contains(&m.destination))
                .collect();
            candidates.sort_by_key(|m| (m.next_attempt_at, m.id));
            let mut per_dest: BTreeMap<&str, usize> = BTreeMap::new();
            let mut ids = Vec::new();
            for m in candidates {
                let n = per_dest.entry(m.destination.as_str()).or_default();
                if *n < r.per_destination && ids.len() < r.limit {
                    *n += 1;
                    ids.push(m.id);
                }
            }
            ids.into_iter()
                .filter_map(|id| {
                    let m = s.messages.get_mut(&id)?;
                    m.status = Status::Sending;
                    m.lease_owner = Some(r.owner.clone());
                    m.lease_until = Some(r.lease_until);
                    m.claim_token += 1;
                    Some(m.clone())
                })
                .collect()
        });
        async move { result }.boxed()
    }

    fn complete<'a>(
        &'a self,
        id: i64,
        token: i64,
        outcome: Outcome,
    ) -> BoxFuture<'a, Result<bool, OutboxError>> {
        let result = self.with(|s| {
            let Some(m) = s.messages.get_mut(&id) else {
                return false;
            };
            if m.claim_token != token || m.status != Status::Sending {
                return false;
            }
            m.lease_owner = None;
            m.lease_until = None;
            match outcome {
                Outcome::Sent { at } => {
                    m.status = Status::Sent;
                    m.attempts += 1;
                    m.sent_at = Some(at);
                    m.last_error = None;
                }
                Outcome::Retry {
                    error,
                    next_attempt_at,
                } => {
                    m.status = Status::Pending;
                    m.attempts += 1;
                    m.next_attempt_at = next_attempt_at;
                    m.last_error = Some(error);
                }
                Outcome::Failed { error } => {
                    m.status = Status::Failed;
                    m.attempts += 1;
                    m.last_error = Some(error);
                }
                Outcome::Deferred { until } => {
                    m.status = Status::Pending;
                    m.next_attempt_at = until;
                }
            }
            true
        });
        async move { result }.boxed()
    }

    fn list<'a>(
        &'a self,
        f: &'a ListFilter,
    ) -> BoxFuture<'a, Result<Vec<OutboxMessage>, OutboxError>> {
        let result = self.with(|s| {
            s.messages
                .values()
                .rev()
                .filter(|m| f.status.is_none_or(|st| st == m.status))
                .filter(|m| f.app.as_ref().is_none_or(|a| *a == m.message.app))
                .filter(|m| f.service.as_ref().is_none_or(|x| *x == m.message.service))
                .take(f.limit.unwrap_or(usize::MAX))
                .cloned()
                .collect()
        });
        async move { result }.boxed()
    }

    fn resend<'a>(&'a self, id: i64, now: Timestamp) -> BoxFuture<'a, Result<bool, OutboxError>> {
        let result = self.with(|s| match s.messages.get_mut(&id) {
            Some(m) if matches!(m.status, Status::Sent | Status::Failed) => {
                m.status = Status::Pending;
                m.next_attempt_at = now;
                m.sent_at = None;
                true
            }
            _ => false,
        });
        async move { result }.boxed()
    }
}
