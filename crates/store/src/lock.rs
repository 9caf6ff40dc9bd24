//! One engine per data directory: an exclusive lock (`flock`) on `DIR/engine.lock`, held for
//! the life of the process. The kernel drops it when the holder exits, however it exits, so
//! a stale lock of a dead process is simply taken; while the holder lives, a second engine
//! fails at once naming it (pid, host, start time, written into the file by the holder).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the data directory {dir} is in use by another engine ({holder}); stop it, or give this one its own --data-dir"
    )]
    Held { dir: PathBuf, holder: String },
    #[error("cannot lock the data directory {dir}: {message}")]
    Io { dir: PathBuf, message: String },
}

/// Held while alive; dropping it (or the process ending) releases the directory.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    path: PathBuf,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown host".into())
}

impl DataDirLock {
    /// Locks `dir` (created when missing) for this process.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
        let io = |e: std::io::Error| LockError::Io {
            dir: dir.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join("engine.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "holder not yet recorded".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // Ours now: say who holds it (a dead holder's line is overwritten).
        let started = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now());
        let line = format!(
            "pid {} on {}, started {started}\n",
            std::process::id(),
            host()
        );
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(DataDirLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DataDirLock {
    fn drop(&mut self) {
        // Unlocking is implicit on close; clearing the line avoids naming a gone holder.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}
