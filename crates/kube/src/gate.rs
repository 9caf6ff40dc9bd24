//! Permission to change clusters. An engine that shares its store with others holds a lease
//! (see `driftless_store::lease`); it opens this gate until the lease's deadline on the local
//! monotonic clock and pushes that deadline on at each renewal. A paused or partitioned
//! engine finds the gate shut when it resumes — before it could contact the store to learn
//! it lost — so it changes no cluster object after another engine may have taken over.
//! Reads are never gated. Without coordination (one engine, tests) the gate is open.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

#[derive(Debug, Clone)]
enum State {
    Open,
    Until(Instant),
    Closed(String),
}

/// Shared by every cluster of an engine; cheap to clone.
#[derive(Debug, Clone)]
pub struct WriteGate(Arc<Mutex<State>>);

impl Default for WriteGate {
    fn default() -> Self {
        WriteGate(Arc::new(Mutex::new(State::Open)))
    }
}

static ENGINE_GATE: OnceLock<WriteGate> = OnceLock::new();

impl WriteGate {
    /// A gate shut until the first [`WriteGate::open_until`].
    pub fn closed(why: &str) -> WriteGate {
        WriteGate(Arc::new(Mutex::new(State::Closed(why.to_string()))))
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Writes are allowed until `deadline`.
    pub fn open_until(&self, deadline: Instant) {
        self.with(|s| *s = State::Until(deadline));
    }

    /// No more writes, for `why`.
    pub fn close(&self, why: &str) {
        self.with(|s| *s = State::Closed(why.to_string()));
    }

    /// `Err` with the reason when a write may not happen now.
    pub fn check(&self) -> Result<(), String> {
        self.with(|s| match s {
            State::Open => Ok(()),
            State::Until(d) if Instant::now() < *d => Ok(()),
            State::Until(_) => Err(
                "this engine's write lease ran out before it could renew it (paused or cut off from the store); it changes nothing until it holds the lease again".to_string(),
            ),
            State::Closed(why) => Err(why.clone()),
        })
    }

    /// Makes `self` the gate of every [`crate::KubeCluster`] created from now on in this
    /// process (the engine's, once, at start). False when one was installed already.
    pub fn install_for_engine(&self) -> bool {
        ENGINE_GATE.set(self.clone()).is_ok()
    }

    /// The engine's gate, or an open one.
    pub(crate) fn for_engine() -> WriteGate {
        ENGINE_GATE.get().cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::WriteGate;

    #[test]
    fn a_gate_shuts_at_its_deadline_and_on_close() {
        let g = WriteGate::default();
        assert!(g.check().is_ok());
        g.open_until(std::time::Instant::now() + Duration::from_secs(60));
        assert!(g.check().is_ok());
        g.open_until(std::time::Instant::now());
        assert!(g.check().unwrap_err().contains("lease"));
        g.close("lost the lease to engine-b");
        assert_eq!(g.check().unwrap_err(), "lost the lease to engine-b");
        assert!(WriteGate::closed("not yet").check().is_err());
    }
}
