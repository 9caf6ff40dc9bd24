//! Notifications in the engine: the loaded configuration (triggers, templates, services) and
//! the dispatcher that delivers from the store's outbox.
//!
//! The controller raises typed events centrally ([`events`]): every recorded application event
//! is mapped to a notification event when it has one, planned against the configuration, and
//! written with its messages in ONE store transaction. Events the controller does not record
//! (sync running, deployed, health degraded, app created/deleted, heal paused) are enqueued on
//! their own; their ids are stable, so the outbox's dedupe key keeps them once however often a
//! reconcile or a restart raises them again. Status transitions live in [`status`]; the drift
//! report for `GET /api/v1/drift/report` and the CLI in [`report`].

use crate::error::{EngineError, EngineResult};
pub mod events;
pub mod mapping;
pub mod report;
pub mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use driftless_notify::config::argocd;
use driftless_notify::service::HttpClient;
use driftless_notify::service::Services;
use driftless_notify::{
    ConfigError, Dispatcher, DispatcherOptions, Notifier, NotifyConfig, SecretResolver,
    StaticSecrets,
};
use serde_json::Value;

/// A configuration ready to plan and send.
pub struct Loaded {
    pub notifier: Notifier,
    pub services: Services,
}

/// What the engine remembers per application to see transitions (`status`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    /// Read from the store once per process (the status and events a previous process left).
    pub initialized: bool,
    pub health: String,
    /// The revision a `deployed` event was raised for.
    pub deployed: Option<String>,
    /// The open drift episode: (id, the detection event's data).
    pub episode: Option<(String, Value)>,
}

/// The notification handle of a controller. Without a configuration nothing is planned and
/// events are recorded exactly as before.
#[derive(Default)]
pub struct Notifications {
    loaded: RwLock<Option<Arc<Loaded>>>,
    dispatcher: RwLock<Option<Dispatcher>>,
    options: RwLock<Option<DispatcherOptions>>,
    pub(crate) seen: Mutex<HashMap<String, Seen>>,
    /// Counters shared with every dispatcher this handle starts (`/metrics`).
    metrics: driftless_notify::metrics::Metrics,
}

impl Notifications {
    /// Uses `config` from now on, its services built with secrets from `secrets`.
    pub fn configure(
        &self,
        config: NotifyConfig,
        secrets: &dyn SecretResolver,
    ) -> Result<(), ConfigError> {
        let http = HttpClient::new(Duration::from_secs(30))
            .map_err(|e| ConfigError::new("notification services", "http client", e.to_string()))?;
        let services = Services::build(&config, secrets, &http)?;
        self.set(Loaded {
            notifier: Notifier::new(config),
            services,
        });
        Ok(())
    }

    /// Uses an already built configuration (tests inject services this way).
    pub fn set(&self, loaded: Loaded) {
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(loaded));
    }

    /// Dispatcher settings (lease, retry, rate); the defaults otherwise.
    pub fn set_dispatcher_options(&self, options: DispatcherOptions) {
        *self.options.write().unwrap_or_else(|e| e.into_inner()) = Some(options);
    }

    pub fn loaded(&self) -> Option<Arc<Loaded>> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Configuration documents of `up --config`: at most one `NotificationConfig` or
    /// `argocd-notifications-cm`, and an `argocd-notifications-secret` for its `$secrets`.
    /// Returns the number of services configured; errors name the document and key.
    pub fn configure_documents(&self, docs: &[(Value, String)]) -> EngineResult<usize> {
        let mut config: Option<(NotifyConfig, &str)> = None;
        let mut secrets = StaticSecrets::default();
        for (doc, origin) in docs {
            // JSON is YAML: the notify crate's parsers take the document as text.
            let text = doc.to_string();
            match driftless_core::object::kind(doc) {
                Some("Secret") => {
                    secrets = argocd::parse_secret(&text, origin)?;
                }
                kind => {
                    let parsed = if kind == Some("ConfigMap") {
                        argocd::parse_configmap(&text, origin)
                    } else {
                        driftless_notify::config::native::parse(&text, origin)
                    }?;
                    if let Some((_, first)) = &config {
                        return Err(EngineError::invalid(format!(
                            "{origin}: a second notification configuration (the first is {first}); keep one"
                        )));
                    }
                    config = Some((parsed, origin));
                }
            }
        }
        let Some((config, _)) = config else {
            return Ok(0);
        };
        let services = config.services.len();
        self.configure(config, &secrets)?;
        Ok(services)
    }

    /// Starts the dispatcher on `store`'s outbox until `shutdown` turns true; `None` when no
    /// configuration is loaded. At shutdown it finishes the message in hand and stops.
    pub(crate) fn start(
        &self,
        store: &driftless_store::Store,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let loaded = self.loaded()?;
        let options = self
            .options
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        let dispatcher = Dispatcher::new(
            Arc::new(store.notification_outbox()),
            loaded.services.clone(),
            options,
        )
        .with_metrics(self.metrics.clone());
        *self.dispatcher.write().unwrap_or_else(|e| e.into_inner()) = Some(dispatcher.clone());
        Some(tokio::spawn(async move {
            dispatcher
                .run(async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                })
                .await;
        }))
    }

    /// Tells the dispatcher new messages are due (it also polls).
    pub(crate) fn wake(&self) {
        if let Some(d) = self
            .dispatcher
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            d.wake();
        }
    }

    /// `driftless_notifications_total{service,outcome}` in the text exposition format,
    /// appended to the engine's metrics (before their `# EOF`).
    pub fn append_metrics(&self, engine: String) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        self.metrics.register(&mut registry);
        let mut ours = String::new();
        if prometheus_client::encoding::text::encode(&mut ours, &registry).is_err() {
            return engine;
        }
        let body = engine.strip_suffix("# EOF\n").unwrap_or(&engine);
        format!("{body}{ours}")
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl crate::controller::Controller {
    /// The outbox's messages matching `filter`, newest first (`GET /notifications`).
    pub async fn list_notifications(
        &self,
        filter: &driftless_notify::outbox::ListFilter,
    ) -> EngineResult<Vec<driftless_notify::outbox::OutboxMessage>> {
        use driftless_notify::Outbox;
        Ok(self.store.notification_outbox().list(filter).await?)
    }

    /// "Send again": a sent or failed notification becomes pending now; audited with who
    /// asked. `false` when there is no such message (or it is still pending/sending).
    pub async fn resend_notification(&self, id: i64, actor: &str) -> EngineResult<bool> {
        use driftless_notify::Outbox;
        let done = self
            .store
            .notification_outbox()
            .resend(id, jiff::Timestamp::now())
            .await?;
        if done {
            self.store
                .audit(
                    actor,
                    "notification.resend",
                    &format!("notification/{id}"),
                    &serde_json::json!({}),
                )
                .await?;
            self.notifications.wake();
        }
        Ok(done)
    }

    /// Sends a test message to `service`/`recipient` now, outside the outbox
    /// (`driftless notifications test`). The error is the service's, secrets scrubbed.
    pub async fn test_notification(&self, service: &str, recipient: &str) -> EngineResult<()> {
        let loaded = self
            .notifications
            .loaded()
            .ok_or_else(|| {
                EngineError::conflict(
                    "notifications are not configured (add a NotificationConfig or argocd-notifications-cm to --config)",
                )
            })?;
        let message = loaded
            .notifier
            .test_message(service, recipient, jiff::Timestamp::now())
            .map_err(EngineError::invalid)?;
        loaded
            .services
            .send_now(&message)
            .await
            .map_err(|e| EngineError::Unavailable(format!("{service}: {e}")))
    }
}
