//! Notifications: the right people hear about syncs, drift, health and approvals, exactly once.
//!
//! Data flow: the engine raises a typed [`NotifyEvent`] → [`Notifier::plan`] (pure) matches it
//! against triggers and subscriptions and renders one [`NewMessage`] per destination, each with a
//! deduplication key → the store enqueues them in the same transaction as the event
//! ([`Outbox::enqueue`]) → the [`Dispatcher`] claims due messages with a lease, delivers them
//! through a [`service::Service`] with retries, backoff and a per-destination rate limit, and
//! marks them sent or failed.

pub mod condition;
pub mod event;
pub mod secret;
pub mod template;

pub use event::{
    AppInfo, Destination, Drift, EventKind, NotifyEvent, Operation, Promotion, PromotionStage,
};
pub use secret::{Secret, SecretResolver, StaticSecrets};
pub mod config;
pub mod notifier;
pub mod outbox;
pub mod service;
pub mod subscription;

pub use config::{ConfigError, NotifyConfig};
pub use notifier::{Notifier, Plan};
pub use outbox::{NewMessage, Outbox, OutboxMessage};
pub mod dispatch;
pub mod metrics;
pub mod ratelimit;

pub use dispatch::{Dispatcher, DispatcherOptions, RetryPolicy, RoundReport};
pub use ratelimit::RateLimit;
pub mod report;

pub use report::{DriftReport, DriftRow, drift_report};
