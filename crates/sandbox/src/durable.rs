//! The `--data` directory: a snapshot (`sandbox-state.json`, replaced atomically) plus the
//! journal of every change since (`crate::journal`). Opening loads the snapshot, replays the
//! journal, writes a fresh snapshot and starts a new journal; a background task syncs
//! controller writes and compacts the journal into a new snapshot once it grows.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::journal::{self, Journal};
use crate::server::App;
use crate::store::{State, Store};

const STATE_FILE: &str = "sandbox-state.json";
/// A journal this long is folded into a new snapshot (replay on start stays quick).
const COMPACT_BYTES: u64 = 16 << 20;
/// A journal with anything in it is folded in at least this often.
const COMPACT_EVERY: Duration = Duration::from_secs(60);

/// Writes `state` as the snapshot: to a temporary file, synced, renamed over the old one,
/// directory synced, so a crash leaves either snapshot whole.
pub fn save_state(dir: &Path, state: &State) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&state.encode())?;
    f.sync_all()?;
    std::fs::rename(tmp, dir.join(STATE_FILE))?;
    journal::sync_dir(dir)
}

/// The cluster kept in `dir` (snapshot plus journal), now journaling into a new file.
pub fn open(dir: &Path) -> std::io::Result<(Store, Arc<Journal>)> {
    let path = dir.join(STATE_FILE);
    let mut store = if path.exists() {
        let bytes = std::fs::read(&path)?;
        let state: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        Store::from_state(&state)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?
    } else {
        Store::new()
    };
    store.replay(journal::read(dir).map_err(std::io::Error::other)?);
    store.wake_all();
    // Fold what was replayed into a snapshot, so the old journals can go.
    save_state(dir, &store.snapshot_state())?;
    let j = Arc::new(Journal::create(dir, store.resource_version())?);
    j.remove_older_than(store.resource_version())?;
    store.journal = Some(j.clone());
    Ok((store, j))
}

/// Snapshot of the store, journal rotated past it, then the older journals removed.
pub fn compact(app: &App, dir: &Path, j: &Journal) -> std::io::Result<()> {
    let (state, rv) = {
        let store = app.store.lock().expect("store");
        let rv = store.resource_version();
        j.rotate(rv)?;
        (store.snapshot_state(), rv)
    };
    save_state(dir, &state)?;
    j.remove_older_than(rv)
}

/// Syncs what the controllers wrote (no request waits on those) and compacts when due.
pub fn spawn_maintenance(app: Weak<App>, dir: PathBuf, j: Arc<Journal>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut last_compaction = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { return };
            let len = j.len();
            if len == 0 {
                continue;
            }
            let due = len >= COMPACT_BYTES || last_compaction.elapsed() >= COMPACT_EVERY;
            let (dir2, j2) = (dir.clone(), j.clone());
            let result = tokio::task::spawn_blocking(move || {
                if due {
                    compact(&app, &dir2, &j2)
                } else {
                    j2.sync()
                }
            })
            .await;
            match result {
                Ok(Ok(())) if due => last_compaction = tokio::time::Instant::now(),
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot persist the sandbox state")
                }
                Err(e) => tracing::warn!(error = %e, "the sandbox persistence task failed"),
            }
        }
    });
}
