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

/// Which applications this queue may hand out (several replicas: the owned ones).
pub type Filter = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

#[derive(Default)]
pub struct WorkQueue {
    state: Mutex<State>,
    ready: Notify,
    filter: std::sync::OnceLock<Filter>,
}

impl WorkQueue {
    /// From now on only apps `filter` admits are queued and handed out; one checked when it
    /// was queued but not any more when its turn comes is dropped (it was handed over).
    pub fn set_filter(&self, filter: Filter) {
        let _ = self.filter.set(filter);
    }

    fn admits(&self, app: &str) -> bool {
        self.filter.get().is_none_or(|f| f(app))
    }

    /// Is a worker busy with `app`?
    pub fn is_running(&self, app: &str) -> bool {
        self.state.lock().expect("queue lock").running.contains(app)
    }

    pub fn enqueue(&self, app: &str, reason: Reason) {
        if !self.admits(app) {
            return;
        }
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
                // Checked and marked running under one lock, so whoever stops admitting an
                // app and then sees it not running knows no worker will start on it.
                while let Some(app) = s.order.pop_front() {
                    let reason = s.queued.remove(&app).unwrap_or(Reason::Periodic);
                    if !self.admits(&app) {
                        continue;
                    }
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

    #[tokio::test]
    async fn a_filtered_queue_hands_out_only_admitted_apps() {
        let q = WorkQueue::default();
        let admitted = std::sync::Arc::new(Mutex::new(HashSet::from(["a", "b"])));
        let f = admitted.clone();
        q.set_filter(std::sync::Arc::new(move |app: &str| {
            f.lock().unwrap().contains(app)
        }));
        q.enqueue("x", Reason::Drift);
        assert!(q.is_empty(), "an app not admitted was queued");
        q.enqueue("a", Reason::Drift);
        q.enqueue("b", Reason::Drift);
        // Handed over while queued: dropped when its turn comes.
        admitted.lock().unwrap().remove("a");
        let (b, _) = q.next().await;
        assert_eq!(b, "b");
        assert!(q.is_running("b") && !q.is_running("a"));
        q.done("b");
        assert!(!q.is_running("b") && q.is_empty());
    }
}
