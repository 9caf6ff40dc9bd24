//! `up` on a shared Postgres store: this process joins the replicas sharing the work.
//!
//! It takes the member lease `member/REPLICA` (a process with the same replica id already
//! holding it makes this one wait as its standby), keeps the clusters' write gate open only
//! while that lease is surely held, and counts renewals for the metrics. Which applications
//! it then owns is the engine's business ([`driftless_engine::controller::shards`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use driftless_engine::controller::shards::Ownership;
use driftless_kube::WriteGate;
use tokio::sync::watch;

/// A joined member: its share, the write gate, and its lease's local deadline (`None` once
/// the lease was lost).
pub struct Member {
    pub own: Arc<Ownership>,
    pub gate: WriteGate,
    pub deadline: watch::Receiver<Option<std::time::Instant>>,
}

/// The replica id: `--replica-id`, else this host's (pod's) name made a valid id.
pub fn replica_id(arg: Option<&str>) -> anyhow::Result<String> {
    if let Some(id) = arg {
        driftless_store::shards::validate_replica_id(id).map_err(anyhow::Error::msg)?;
        return Ok(id.to_string());
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let id: String = host
        .to_ascii_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            _ => '-',
        })
        .take(63)
        .collect();
    driftless_store::shards::validate_replica_id(&id)
        .map_err(anyhow::Error::msg)
        .context("this host's name is no replica id; pass --replica-id")?;
    Ok(id)
}

/// Joins as replica `id` with a lease of `ttl`, waiting while another process with that id
/// holds it.
pub async fn join(
    store: &driftless_store::Store,
    id: &str,
    ttl: Duration,
) -> anyhow::Result<Member> {
    let gate = WriteGate::closed("this replica has not joined yet");
    gate.install_for_engine();
    let me = format!(
        "{id} pid {} started {}",
        std::process::id(),
        jiff::Timestamp::now()
    );
    let lease = driftless_store::shards::member_lease(id);
    let coord = Arc::new(driftless_store::StoreLease::new(
        store.clone(),
        &lease,
        &me,
        ttl,
    ));
    let said = std::sync::atomic::AtomicBool::new(false);
    let holding = driftless_store::hold(coord, |holder| {
        if !said.swap(true, std::sync::atomic::Ordering::SeqCst) {
            println!(
                "standby: replica {id} is {}; waiting",
                holder.map_or("held by another process".to_string(), |f| format!(
                    "held by {}",
                    f.holder
                ))
            );
        }
    })
    .await?;
    println!(
        "replica {id}: joined (member lease token {})",
        holding.fence.token
    );
    let own = Ownership::new(id, holding.fence.token);
    let mut deadline = holding.deadline;
    let watched = deadline.clone();
    let (g, counted) = (gate.clone(), own.clone());
    tokio::spawn(async move {
        let mut first = true;
        loop {
            match *deadline.borrow_and_update() {
                Some(d) => {
                    g.open_until(d);
                    if !std::mem::take(&mut first) {
                        counted.renewed();
                    }
                }
                None => {
                    g.close(
                        "this replica lost its membership (its lease expired and was taken over)",
                    );
                    return;
                }
            }
            if deadline.changed().await.is_err() {
                g.close("the member lease is no longer renewed");
                return;
            }
        }
    });
    Ok(Member {
        own,
        gate,
        deadline: watched,
    })
}

/// Completes on SIGINT or SIGTERM (what Kubernetes sends before it kills a pod).
pub async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                eprintln!("warning: cannot watch SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
