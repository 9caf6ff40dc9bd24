//! [`GitTree`]: the tree of one commit of a mirror, read straight from the object database
//! (no work tree, no checkout) as a [`SourceTree`]. Content ids are Git's own tree and blob
//! ids, which is what makes the render cache cheap: an unchanged directory has the same id.
//!
//! A commit's tree never changes, so decoded directories are memoized per `GitTree` (a lookup
//! in a 1,000-entry `apps/` directory is a hash-map hit, not a scan), and thread-local
//! repository handles are pooled instead of re-created per call.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use driftless_core::source::{NodeKind, SourceError, SourceTree};
use gix::bstr::ByteSlice;
use gix::object::tree::EntryKind;

use crate::GitError;

/// A decoded directory: name → (kind, object id).
type Dir = Arc<HashMap<String, (EntryKind, gix::ObjectId)>>;

pub struct GitTree {
    repo: gix::ThreadSafeRepository,
    commit: gix::ObjectId,
    tree: gix::ObjectId,
    url: String,
    dirs: Mutex<HashMap<String, Dir>>,
    pool: Mutex<Vec<gix::Repository>>,
}

fn io(path: &str, e: impl std::fmt::Display) -> SourceError {
    SourceError::Io {
        path: path.to_string(),
        message: e.to_string(),
    }
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

impl GitTree {
    /// The tree of `commit` (a full or abbreviated id) in the bare repository at `dir`.
    pub fn open(dir: &Path, url: &str, commit: &str) -> Result<Self, GitError> {
        let repo =
            gix::open_opts(dir, gix::open::Options::isolated()).map_err(|e| GitError::Read {
                url: url.to_string(),
                commit: commit.to_string(),
                message: e.to_string(),
            })?;
        Self::from_repo(repo, url, commit)
    }

    /// The tree of `commit` in an already opened repository.
    pub fn from_repo(mut repo: gix::Repository, url: &str, commit: &str) -> Result<Self, GitError> {
        let read_err = |m: String| GitError::Read {
            url: url.to_string(),
            commit: commit.to_string(),
            message: m,
        };
        repo.object_cache_size_if_unset(4 * 1024 * 1024);
        let id = repo
            .rev_parse_single(commit)
            .map_err(|_| read_err("no such commit in the mirror".into()))?;
        let (commit_id, tree) = {
            let c = repo
                .find_object(id)
                .map_err(|e| read_err(e.to_string()))?
                .peel_to_commit()
                .map_err(|e| read_err(e.to_string()))?;
            (
                c.id,
                c.tree_id().map_err(|e| read_err(e.to_string()))?.detach(),
            )
        };
        Ok(GitTree {
            repo: repo.clone().into_sync(),
            commit: commit_id,
            tree,
            url: url.to_string(),
            dirs: Mutex::new(HashMap::new()),
            pool: Mutex::new(vec![repo]),
        })
    }

    pub fn commit(&self) -> String {
        self.commit.to_hex().to_string()
    }

    /// Runs `f` with a pooled thread-local repository handle.
    fn with_repo<T>(&self, f: impl FnOnce(&gix::Repository) -> T) -> T {
        let repo = self
            .pool
            .lock()
            .expect("pool lock")
            .pop()
            .unwrap_or_else(|| {
                let mut r = self.repo.to_thread_local();
                r.object_cache_size_if_unset(4 * 1024 * 1024);
                r
            });
        let out = f(&repo);
        self.pool.lock().expect("pool lock").push(repo);
        out
    }

    /// The decoded directory at `path` (memoized); `None` when `path` is not a directory.
    fn dir(&self, path: &str) -> Result<Option<Dir>, SourceError> {
        if let Some(d) = self.dirs.lock().expect("dir memo lock").get(path) {
            return Ok(Some(d.clone()));
        }
        let id = if path.is_empty() {
            self.tree
        } else {
            let (parent, name) = split(path);
            match self.dir(parent)?.and_then(|d| d.get(name).copied()) {
                Some((EntryKind::Tree, id)) => id,
                _ => return Ok(None),
            }
        };
        let entries = self.with_repo(
            |repo| -> Result<HashMap<String, (EntryKind, gix::ObjectId)>, SourceError> {
                let tree = repo.find_tree(id).map_err(|e| io(path, e))?;
                let mut map = HashMap::new();
                for e in tree.iter() {
                    let e = e.map_err(|e| io(path, e))?;
                    map.insert(
                        e.filename().to_str_lossy().into_owned(),
                        (e.mode().kind(), e.object_id()),
                    );
                }
                Ok(map)
            },
        )?;
        let d: Dir = Arc::new(entries);
        self.dirs
            .lock()
            .expect("dir memo lock")
            .insert(path.to_string(), d.clone());
        Ok(Some(d))
    }

    fn entry(&self, path: &str) -> Result<Option<(EntryKind, gix::ObjectId)>, SourceError> {
        if path.is_empty() {
            return Ok(Some((EntryKind::Tree, self.tree)));
        }
        let (parent, name) = split(path);
        Ok(self.dir(parent)?.and_then(|d| d.get(name).copied()))
    }

    /// Paths that differ between this tree and `other`: files and directories added, removed
    /// or changed, found by descending only into subtrees whose ids differ.
    pub fn changed_paths(&self, other: &GitTree) -> Result<Vec<String>, SourceError> {
        let mut out = Vec::new();
        self.diff_dir(other, "", &mut out)?;
        out.sort();
        Ok(out)
    }

    fn diff_dir(
        &self,
        other: &GitTree,
        path: &str,
        out: &mut Vec<String>,
    ) -> Result<(), SourceError> {
        let (a, b) = (
            self.dir(path)?.unwrap_or_default(),
            other.dir(path)?.unwrap_or_default(),
        );
        let join = |n: &str| {
            if path.is_empty() {
                n.to_string()
            } else {
                format!("{path}/{n}")
            }
        };
        for (name, (kind, id)) in a.iter() {
            match b.get(name) {
                Some((k2, id2)) if id2 == id && k2 == kind => {}
                Some((EntryKind::Tree, _)) if *kind == EntryKind::Tree => {
                    self.diff_dir(other, &join(name), out)?
                }
                _ => out.push(join(name)),
            }
        }
        out.extend(b.keys().filter(|n| !a.contains_key(*n)).map(|n| join(n)));
        Ok(())
    }
}

impl SourceTree for GitTree {
    fn describe(&self) -> String {
        format!("{}@{}", self.url, &self.commit.to_hex().to_string()[..12])
    }

    fn lstat(&self, path: &str) -> Result<Option<NodeKind>, SourceError> {
        Ok(match self.entry(path)? {
            None => None,
            Some((EntryKind::Tree, _)) => Some(NodeKind::Dir),
            Some((EntryKind::Blob | EntryKind::BlobExecutable, _)) => Some(NodeKind::File),
            Some((EntryKind::Link, id)) => {
                let target = self.with_repo(|repo| {
                    repo.find_blob(id)
                        .map(|b| b.data.to_str_lossy().into_owned())
                        .map_err(|e| io(path, e))
                })?;
                Some(NodeKind::Symlink(target))
            }
            // A submodule's content is not in this repository.
            Some((EntryKind::Commit, _)) => None,
        })
    }

    fn read_raw(&self, path: &str, max_bytes: usize) -> Result<Vec<u8>, SourceError> {
        let Some((_, id)) = self.entry(path)? else {
            return Err(SourceError::NotFound { path: path.into() });
        };
        self.with_repo(|repo| {
            let size = repo.find_header(id).map_err(|e| io(path, e))?.size();
            if size as usize > max_bytes {
                return Err(SourceError::TooLarge {
                    path: path.into(),
                    limit: max_bytes,
                });
            }
            Ok(repo.find_blob(id).map_err(|e| io(path, e))?.detach().data)
        })
    }

    fn list_raw(&self, path: &str) -> Result<Vec<String>, SourceError> {
        let d = self
            .dir(path)?
            .ok_or_else(|| SourceError::NotADirectory { path: path.into() })?;
        let mut names: Vec<String> = d.keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    fn content_id(&self, path: &str) -> Result<String, SourceError> {
        match self.entry(path)? {
            Some((_, id)) => Ok(id.to_hex().to_string()),
            None => Err(SourceError::NotFound { path: path.into() }),
        }
    }
}
