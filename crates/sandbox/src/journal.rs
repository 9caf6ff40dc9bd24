//! Durability for `--data`: every change is appended to a journal as it is made (under the
//! store lock, so the journal is in resourceVersion order), and a write request is answered
//! only after an `fdatasync` covering it. Concurrent requests share fsyncs (group commit):
//! whoever syncs covers everything written so far. A periodic snapshot
//! (`sandbox-state.json`, written atomically) bounds the journal; on start the snapshot is
//! loaded and the journals replayed, a torn last line (a write never acknowledged) ignored.
//!
//! Line format: `{"rv":N,"k":[group,plural,namespace,name],"put":{object}}` or
//! `{"rv":N,"k":[...],"del":true}`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The journal being appended to.
pub struct Journal {
    dir: PathBuf,
    file: Mutex<File>,
    /// Bytes appended to the current file (written, maybe not yet synced).
    written: AtomicU64,
    /// Serializes fsyncs; holds the byte count known durable.
    synced: Mutex<u64>,
    /// A write failed: answers can no longer promise durability.
    failed: AtomicBool,
    /// Bump for each rotation, so a sync never compares counts of different files.
    generation: AtomicU64,
}

const PREFIX: &str = "journal-";

fn journal_path(dir: &Path, start_rv: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{start_rv:020}.log"))
}

/// The journal files of `dir`, oldest first.
pub fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(".log"))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    // Zero-padded start versions sort as numbers.
    out.sort();
    Ok(out)
}

/// Makes a rename or a new file in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Starts a new journal file for changes after `rv`.
    pub fn create(dir: &Path, rv: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let file = File::create(journal_path(dir, rv + 1))?;
        sync_dir(dir)?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            file: Mutex::new(file),
            written: AtomicU64::new(0),
            synced: Mutex::new(0),
            failed: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        })
    }

    /// Appends one change (called under the store lock, in resourceVersion order).
    pub fn append(&self, rv: u64, key: [&str; 4], object: Option<&[u8]>) {
        let mut line = Vec::with_capacity(object.map_or(0, <[u8]>::len) + 96);
        line.extend_from_slice(format!("{{\"rv\":{rv},\"k\":").as_bytes());
        serde_json::to_writer(&mut line, &key).expect("strings serialize");
        match object {
            Some(o) => {
                line.extend_from_slice(b",\"put\":");
                line.extend_from_slice(o);
            }
            None => line.extend_from_slice(b",\"del\":true"),
        }
        line.extend_from_slice(b"}\n");
        let mut file = self.file.lock().expect("journal file");
        match file.write_all(&line) {
            Ok(()) => {
                self.written.fetch_add(line.len() as u64, Ordering::SeqCst);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot append to the sandbox journal");
                self.failed.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Blocks until everything appended so far is on disk (one fsync shared by all callers
    /// waiting at the same time).
    pub fn sync(&self) -> std::io::Result<()> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(std::io::Error::other(
                "the sandbox journal could not be written",
            ));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let target = self.written.load(Ordering::SeqCst);
        // A handle of the file as it is now; a rotation meanwhile syncs it itself. (Taken
        // before `synced`: `rotate` locks the file first, then `synced`.)
        let file = self.file.lock().expect("journal file").try_clone()?;
        let mut synced = self.synced.lock().expect("journal sync");
        if generation != self.generation.load(Ordering::SeqCst) || *synced >= target {
            return Ok(());
        }
        // Everything counted now was written before this fsync starts.
        let now = self.written.load(Ordering::SeqCst);
        file.sync_data()?;
        *synced = now;
        Ok(())
    }

    /// Bytes in the current journal file.
    pub fn len(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Continues in a new file for changes after `rv` (called under the store lock, right
    /// after the snapshot of `rv` was taken); the older files stay until that snapshot is
    /// durable.
    pub fn rotate(&self, rv: u64) -> std::io::Result<()> {
        let new = File::create(journal_path(&self.dir, rv + 1))?;
        let mut file = self.file.lock().expect("journal file");
        // What the old file holds must be durable before it can be left behind.
        file.sync_data()?;
        *file = new;
        let mut synced = self.synced.lock().expect("journal sync");
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.written.store(0, Ordering::SeqCst);
        *synced = 0;
        sync_dir(&self.dir)
    }

    /// Removes the journal files older than the current one (their changes are in a durable
    /// snapshot).
    pub fn remove_older_than(&self, rv: u64) -> std::io::Result<()> {
        let current = journal_path(&self.dir, rv + 1);
        for f in files(&self.dir)? {
            if f < current {
                std::fs::remove_file(f)?;
            }
        }
        Ok(())
    }
}

/// One replayed change.
pub struct Entry {
    pub rv: u64,
    pub key: [String; 4],
    /// The object, or `None` for a deletion.
    pub object: Option<serde_json::Value>,
}

/// Reads the changes of the journal files in `dir` in order. A line that does not parse is
/// accepted only at the very end of the last file (a write cut by a crash, never answered).
pub fn read(dir: &Path) -> Result<Vec<Entry>, String> {
    #[derive(serde::Deserialize)]
    struct Line {
        rv: u64,
        k: [String; 4],
        put: Option<serde_json::Value>,
        #[serde(default)]
        del: bool,
    }
    let files = files(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let last_file = i + 1 == files.len();
        let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
        for (n, raw) in lines.iter().enumerate() {
            if raw.is_empty() {
                continue;
            }
            // Only the final line can be torn (split leaves "" after a complete last line).
            let torn_tail = last_file && n + 1 == lines.len();
            match serde_json::from_slice::<Line>(raw) {
                Ok(l) if l.put.is_some() || l.del => out.push(Entry {
                    rv: l.rv,
                    key: l.k,
                    object: l.put,
                }),
                _ if torn_tail => break,
                _ => {
                    return Err(format!(
                        "{}: line {} is not a journal entry",
                        path.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    Ok(out)
}
