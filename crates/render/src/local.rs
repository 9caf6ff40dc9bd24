//! [`LocalTree`]: a directory on disk as a [`SourceTree`] (for `driftless render ./path`, tests
//! and plugins' working copies). Symlinks are reported, never followed here: [`Tree`] resolves
//! them and refuses any that leave the root.
//!
//! [`Tree`]: driftless_core::source::Tree

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use driftless_core::source::{NodeKind, SourceError, SourceTree};
use sha2::{Digest, Sha256};

pub struct LocalTree {
    root: PathBuf,
}

impl LocalTree {
    /// A tree rooted at `root` (which must be a directory).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, SourceError> {
        let root = root.into();
        let root = root
            .canonicalize()
            .map_err(|e| io_error(&root.display().to_string(), &e))?;
        if !root.is_dir() {
            return Err(SourceError::NotADirectory {
                path: root.display().to_string(),
            });
        }
        Ok(LocalTree { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn full(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        }
    }

    fn hash_into(&self, path: &str, h: &mut Sha256) -> Result<(), SourceError> {
        match self.lstat(path)? {
            Some(NodeKind::File) => {
                h.update(b"f");
                h.update(fs::read(self.full(path)).map_err(|e| io_error(path, &e))?);
            }
            Some(NodeKind::Symlink(t)) => {
                h.update(b"l");
                h.update(t.as_bytes());
            }
            Some(NodeKind::Dir) => {
                h.update(b"d");
                for name in self.list_raw(path)? {
                    h.update(name.as_bytes());
                    h.update([0]);
                    let child = if path.is_empty() {
                        name
                    } else {
                        format!("{path}/{name}")
                    };
                    self.hash_into(&child, h)?;
                }
                h.update(b"e");
            }
            None => return Err(SourceError::NotFound { path: path.into() }),
        }
        Ok(())
    }
}

fn io_error(path: &str, e: &std::io::Error) -> SourceError {
    match e.kind() {
        std::io::ErrorKind::NotFound => SourceError::NotFound { path: path.into() },
        _ => SourceError::Io {
            path: path.into(),
            message: e.kind().to_string(),
        },
    }
}

impl SourceTree for LocalTree {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn lstat(&self, path: &str) -> Result<Option<NodeKind>, SourceError> {
        match fs::symlink_metadata(self.full(path)) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(self.full(path)).map_err(|e| io_error(path, &e))?;
                Ok(Some(NodeKind::Symlink(
                    target.to_string_lossy().into_owned(),
                )))
            }
            Ok(m) if m.is_dir() => Ok(Some(NodeKind::Dir)),
            Ok(m) if m.is_file() => Ok(Some(NodeKind::File)),
            // Sockets, devices, fifos: never readable as manifests.
            Ok(_) => Err(SourceError::Io {
                path: path.into(),
                message: "not a regular file or directory".into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(path, &e)),
        }
    }

    fn read_raw(&self, path: &str, max_bytes: usize) -> Result<Vec<u8>, SourceError> {
        let f = fs::File::open(self.full(path)).map_err(|e| io_error(path, &e))?;
        let mut buf = Vec::new();
        f.take(max_bytes as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|e| io_error(path, &e))?;
        if buf.len() > max_bytes {
            return Err(SourceError::TooLarge {
                path: path.into(),
                limit: max_bytes,
            });
        }
        Ok(buf)
    }

    fn list_raw(&self, path: &str) -> Result<Vec<String>, SourceError> {
        let mut names: Vec<String> = fs::read_dir(self.full(path))
            .map_err(|e| io_error(path, &e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    fn content_id(&self, path: &str) -> Result<String, SourceError> {
        let mut h = Sha256::new();
        self.hash_into(path, &mut h)?;
        Ok(hex::encode(h.finalize()))
    }
}
