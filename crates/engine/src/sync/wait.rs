//! Waiting on the cluster through watches (never polling): an applied object until its
//! health settles, a hook until it completes, a pruned object until it is gone. Transient
//! API errors are retried with the request's backoff.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use driftless_core::cluster::{Cluster, ClusterError};
use driftless_core::{Gvk, ResourceKey};
use driftless_health::{Assessor, Health, HealthStatus};

use super::RetryPolicy;

/// Runs `f` again on transient errors (and on `retry_also`), with exponential backoff.
pub async fn with_retry<T, F, Fut>(
    policy: &RetryPolicy,
    retry_also: impl Fn(&ClusterError) -> bool,
    mut f: F,
) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClusterError>>,
{
    let mut delay = policy.backoff;
    let mut attempt = 0;
    loop {
        match f().await {
            Err(e) if (e.is_transient() || retry_also(&e)) && attempt < policy.limit => {
                tracing::debug!(error = %e, attempt, "retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * policy.factor).min(policy.max_backoff);
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Health that will not change by waiting (anything but Progressing; kinds without
/// health count as Healthy once they exist).
fn settled(assessor: &Assessor, obj: Option<&Value>) -> bool {
    match obj {
        None => false,
        Some(v) => !matches!(
            assessor.assess(Some(v)),
            Some(Health {
                status: HealthStatus::Progressing,
                ..
            })
        ),
    }
}

/// Waits for an object's health to settle; returns it (Healthy for kinds without health).
pub async fn health<C: Cluster>(
    cluster: &C,
    assessor: &Assessor,
    gvk: &Gvk,
    key: &ResourceKey,
    timeout: Duration,
    retry: &RetryPolicy,
) -> Result<Health, ClusterError> {
    let done = |o: Option<&Value>| settled(assessor, o);
    let last = with_retry(
        retry,
        |_| false,
        || cluster.wait_until(gvk, key, timeout, &done),
    )
    .await;
    let last = match last {
        Ok(v) => v,
        Err(ClusterError::Timeout { .. }) => {
            let now = cluster.get(gvk, key).await?;
            let h = assess(assessor, now.as_ref());
            return Ok(Health::new(
                HealthStatus::Progressing,
                format!("still {} after {timeout:?}: {}", h.status, h.message),
            ));
        }
        Err(e) => return Err(e),
    };
    Ok(assess(assessor, last.as_ref()))
}

pub fn assess(assessor: &Assessor, obj: Option<&Value>) -> Health {
    assessor.assess(obj).unwrap_or_else(Health::healthy)
}

/// Waits until an object is gone.
pub async fn gone<C: Cluster>(
    cluster: &C,
    gvk: &Gvk,
    key: &ResourceKey,
    timeout: Duration,
    retry: &RetryPolicy,
) -> Result<(), ClusterError> {
    let done = |o: Option<&Value>| o.is_none();
    with_retry(
        retry,
        |_| false,
        || cluster.wait_until(gvk, key, timeout, &done),
    )
    .await
    .map(|_| ())
}
