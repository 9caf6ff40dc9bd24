//! Prometheus metrics of the engine (prometheus-client), encoded by the API at `/metrics`.
//! Counters and histograms are updated where things happen; gauges that mirror state
//! (queue depth, live cache) are set at scrape time.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

fn seconds_histogram() -> Histogram {
    // 5 ms .. ~160 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    reconcile: Family<Labels, Histogram>,
    fetch: Family<Labels, Histogram>,
    render: Family<Labels, Histogram>,
    syncs: Family<Labels, Counter>,
    drift: Family<Labels, Counter>,
    loads: Family<Labels, Counter>,
    app_info: Family<Labels, Gauge>,
    queue_depth: Gauge,
    cache_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    cache_objects: Gauge,
    info_labels: Mutex<HashMap<String, Labels>>,
    promotions: Family<Labels, Counter>,
    dora: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("driftless");
        let reconcile = Family::<Labels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        let fetch = Family::<Labels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        let render = Family::<Labels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        let syncs = Family::<Labels, Counter>::default();
        let drift = Family::<Labels, Counter>::default();
        let loads = Family::<Labels, Counter>::default();
        let app_info = Family::<Labels, Gauge>::default();
        let queue_depth = Gauge::default();
        let cache_age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let cache_objects = Gauge::default();
        registry.register(
            "reconcile_duration_seconds",
            "Time of one reconcile of one application",
            reconcile.clone(),
        );
        registry.register(
            "git_fetch_duration_seconds",
            "Time of a Git fetch (and tree read) for an application",
            fetch.clone(),
        );
        registry.register(
            "render_duration_seconds",
            "Time of rendering an application's manifests",
            render.clone(),
        );
        registry.register(
            "syncs",
            "Syncs by application, trigger and result",
            syncs.clone(),
        );
        registry.register(
            "drift_events",
            "Drift detected, by application and impact",
            drift.clone(),
        );
        registry.register(
            "live_loads",
            "Live state reads of a reconcile, from the live cache or by listing",
            loads.clone(),
        );
        registry.register(
            "app_info",
            "One series per application with its sync and health status",
            app_info.clone(),
        );
        registry.register(
            "queue_depth",
            "Applications waiting in the work queue",
            queue_depth.clone(),
        );
        registry.register(
            "live_cache_age_seconds",
            "Time since the oldest full list of a watched kind",
            cache_age.clone(),
        );
        registry.register(
            "live_cache_objects",
            "Tracked objects held by the live cache",
            cache_objects.clone(),
        );
        let promotions = Family::<Labels, Counter>::default();
        let dora = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "promotions",
            "Promotions that ended, by pipeline, target stage and phase",
            promotions.clone(),
        );
        registry.register(
            "dora",
            "DORA figures of each pipeline's production stage over the last 30 days (figure: deployment_frequency_per_day, lead_time_seconds, change_failure_rate, time_to_restore_seconds)",
            dora.clone(),
        );
        Metrics {
            promotions,
            dora,
            registry,
            reconcile,
            fetch,
            render,
            syncs,
            drift,
            loads,
            app_info,
            queue_depth,
            cache_age,
            cache_objects,
            info_labels: Mutex::new(HashMap::new()),
        }
    }
}

impl Metrics {
    pub(crate) fn reconciled(&self, app: &str, seconds: f64) {
        self.reconcile
            .get_or_create(&vec![("app", app.to_string())])
            .observe(seconds);
    }

    pub(crate) fn sourced(&self, app: &str, fetch_seconds: Option<f64>, render_seconds: f64) {
        let l = vec![("app", app.to_string())];
        if let Some(f) = fetch_seconds {
            self.fetch.get_or_create(&l).observe(f);
        }
        self.render.get_or_create(&l).observe(render_seconds);
    }

    pub(crate) fn synced(&self, app: &str, trigger: &str, result: &str) {
        self.syncs
            .get_or_create(&vec![
                ("app", app.to_string()),
                ("trigger", trigger.to_string()),
                ("result", result.to_string()),
            ])
            .inc();
    }

    pub(crate) fn drifted(&self, app: &str, impact: &str) {
        self.drift
            .get_or_create(&vec![
                ("app", app.to_string()),
                ("impact", impact.to_string()),
            ])
            .inc();
    }

    pub(crate) fn loaded(&self, app: &str, from_cache: bool) {
        let source = if from_cache { "cache" } else { "list" };
        self.loads
            .get_or_create(&vec![
                ("app", app.to_string()),
                ("source", source.to_string()),
            ])
            .inc();
    }

    /// Replaces the app's info series (the old sync/health combination disappears).
    pub(crate) fn app_status(&self, app: &str, sync: &str, health: &str) {
        let labels = vec![
            ("app", app.to_string()),
            ("sync", sync.to_string()),
            ("health", health.to_string()),
        ];
        let mut info = self.info_labels.lock().expect("metrics lock");
        if let Some(old) = info.insert(app.to_string(), labels.clone())
            && old != labels
        {
            self.app_info.remove(&old);
        }
        self.app_info.get_or_create(&labels).set(1);
    }

    pub(crate) fn promotion_ended(&self, pipeline: &str, to: &str, phase: &str) {
        self.promotions
            .get_or_create(&vec![
                ("pipeline", pipeline.to_string()),
                ("to", to.to_string()),
                ("phase", phase.to_string()),
            ])
            .inc();
    }

    /// Sets a pipeline's DORA gauges (a figure without data is NaN).
    pub(crate) fn dora(&self, pipeline: &str, d: &crate::dora::Dora) {
        for (figure, value) in [
            (
                "deployment_frequency_per_day",
                Some(d.deployment_frequency_per_day),
            ),
            ("lead_time_seconds", d.lead_time_seconds),
            ("change_failure_rate", d.change_failure_rate),
            ("time_to_restore_seconds", d.mean_time_to_restore_seconds),
        ] {
            self.dora
                .get_or_create(&vec![
                    ("pipeline", pipeline.to_string()),
                    ("figure", figure.to_string()),
                ])
                .set(value.unwrap_or(f64::NAN));
        }
    }

    /// The text exposition, with the state gauges set now.
    pub fn encode(
        &self,
        queue_depth: usize,
        cache_age: Option<f64>,
        cache_objects: usize,
    ) -> String {
        self.queue_depth.set(queue_depth as i64);
        self.cache_age.set(cache_age.unwrap_or(f64::NAN));
        self.cache_objects.set(cache_objects as i64);
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
