//! The work queue: application names, coalesced (an app queued twice runs once), never run
//! twice at the same time (a request that arrives while it runs re-queues it once after),
//! in arrival order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;

/// Why an application was queued (kept for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Definition,
    Periodic,
    SourceChanged,
    Drift,
    User,
    AfterSync,
}

#[derive(Default)]
struct State {
    order: VecDeque<String>,
    queued: HashMap<String, Reason>,
    running: HashSet<String>,
    again: HashMap<String, Reason>,
}

#[derive(Default)]
pub struct WorkQueue {
    state: Mutex<State>,
    ready: Notify,
}

impl WorkQueue {
    pub fn enqueue(&self, app: &str, reason: Reason) {
        let mut s = self.state.lock().expect("queue lock");
        if s.running.contains(app) {
            s.again.entry(app.to_string()).or_insert(reason);
            return;
        }
        if s.queued.contains_key(app) {
            return;
        }
        s.queued.insert(app.to_string(), reason);
        s.order.push_back(app.to_string());
        drop(s);
        self.ready.notify_one();
    }

    /// The next application to reconcile; it counts as running until [`WorkQueue::done`].
    pub async fn next(&self) -> (String, Reason) {
        loop {
            let ready = self.ready.notified();
            {
                let mut s = self.state.lock().expect("queue lock");
                if let Some(app) = s.order.pop_front() {
                    let reason = s.queued.remove(&app).unwrap_or(Reason::Periodic);
                    s.running.insert(app.clone());
                    return (app, reason);
                }
            }
            ready.await;
        }
    }

    pub fn done(&self, app: &str) {
        let again = {
            let mut s = self.state.lock().expect("queue lock");
            s.running.remove(app);
            s.again.remove(app)
        };
        if let Some(reason) = again {
            self.enqueue(app, reason);
        }
    }

    pub fn len(&self) -> usize {
        self.state.lock().expect("queue lock").order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn apps_are_coalesced_and_never_run_twice_at_once() {
        let q = WorkQueue::default();
        q.enqueue("a", Reason::Drift);
        q.enqueue("b", Reason::Periodic);
        q.enqueue("a", Reason::Periodic);
        assert_eq!(q.len(), 2);
        let (a, why) = q.next().await;
        assert_eq!((a.as_str(), why), ("a", Reason::Drift));
        q.enqueue("a", Reason::User);
        assert_eq!(q.len(), 1, "a is running: it waits for done()");
        assert_eq!(q.next().await.0, "b");
        q.done("a");
        assert_eq!(q.next().await, ("a".to_string(), Reason::User));
    }
}
