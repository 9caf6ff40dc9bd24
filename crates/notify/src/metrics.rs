//! Counters: notifications sent, retried and failed, per service type, for `/metrics`
//! (`driftless_notifications_total{service, outcome}`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// The dispatcher's counters. Clones share them.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    outcomes: Family<Labels, Counter>,
}

impl Metrics {
    /// Registers `driftless_notifications_total` in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "driftless_notifications",
            "Notification delivery attempts by service type and outcome (sent, retried, failed)",
            self.outcomes.clone(),
        );
    }

    pub(crate) fn record(&self, service: &str, outcome: &str) {
        self.outcomes.get_or_create(&labels(service, outcome)).inc();
    }

    /// The current count, for tests and the CLI.
    pub fn count(&self, service: &str, outcome: &str) -> u64 {
        self.outcomes.get_or_create(&labels(service, outcome)).get()
    }
}

fn labels(service: &str, outcome: &str) -> Labels {
    vec![
        ("service".into(), service.into()),
        ("outcome".into(), outcome.into()),
    ]
}
