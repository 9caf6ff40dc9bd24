//! The controller's long-running tasks: reconcile workers taking apps off the queue, the live
//! cache's changes queued as drift, a jittered periodic resync, the promotion driver and the
//! notification dispatcher — all stopped by one shutdown signal.

use std::sync::Arc;

use tokio::sync::watch;

use super::{Controller, Reason};

impl Controller {
    /// Runs until `shutdown` turns true: workers, the drift listener, the periodic resync.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        // Delivery beside the workers: it stops on the same signal, finishing the message
        // in hand (never aborted mid-send, so a clean stop leaves nothing to resend).
        let dispatcher = self.notifications.start(&self.store, shutdown.clone());
        let mut tasks = Vec::new();
        for _ in 0..self.config.workers.max(1) {
            let c = self.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let (name, reason) = c.queue.next().await;
                    if let Err(e) = c.reconcile(&name, reason).await {
                        tracing::warn!(app = %name, error = %e, "reconcile failed");
                    }
                    c.queue.done(&name);
                }
            }));
        }
        let c = self.clone();
        tasks.push(tokio::spawn(async move {
            let mut changes = c.cache.subscribe();
            loop {
                match changes.recv().await {
                    Ok(ch) => {
                        if c.apps.lock().await.contains_key(&ch.app) {
                            c.queue.enqueue(&ch.app, Reason::Drift);
                        }
                    }
                    // Missed changes: look at every app again.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        for name in c.apps.lock().await.keys() {
                            c.queue.enqueue(name, Reason::Drift);
                        }
                    }
                    Err(_) => return,
                }
            }
        }));
        let c = self.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let jitter = c.config.resync.mul_f64(rand_fraction() * 0.1);
                tokio::time::sleep(c.config.resync + jitter).await;
                for name in c.apps.lock().await.keys() {
                    c.queue.enqueue(name, Reason::Periodic);
                }
            }
        }));
        let c = self.clone();
        tasks.push(tokio::spawn(async move {
            // Replicas sharing the store: one of them drives promotions.
            match c.shards.get().cloned() {
                Some(own) => c.coordinated_promotion_loop(own).await,
                None => c.promotion_loop().await,
            }
        }));
        let _ = shutdown.wait_for(|stop| *stop).await;
        for t in tasks {
            t.abort();
        }
        // Operations in flight stop too (a replica leaving waited for them first).
        for t in self
            .operation_tasks
            .lock()
            .expect("operation tasks lock")
            .drain(..)
        {
            t.abort();
        }
        if let Some(d) = dispatcher {
            let _ = d.await;
        }
    }
}

/// A fraction in [0, 1) from the clock (jitter needs no cryptographic randomness).
fn rand_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}
