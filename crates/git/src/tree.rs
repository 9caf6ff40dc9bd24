//! [`GitTree`]: the tree of one commit of a mirror, read straight from the object database
//! (no work tree, no checkout) as a [`SourceTree`]. Content ids are Git's own tree and blob
//! ids, which is what makes the render cache cheap: an unchanged directory has the same id.

use std::path::Path;

use driftless_core::source::{NodeKind, SourceError, SourceTree};
use gix::bstr::ByteSlice;
use gix::object::tree::EntryKind;

use crate::GitError;

pub struct GitTree {
    repo: gix::ThreadSafeRepository,
    commit: gix::ObjectId,
    tree: gix::ObjectId,
    url: String,
}

fn io(path: &str, e: impl std::fmt::Display) -> SourceError {
    SourceError::Io {
        path: path.to_string(),
        message: e.to_string(),
    }
}

impl GitTree {
    /// The tree of `commit` (a full or abbreviated id) in the bare repository at `dir`.
    pub fn open(dir: &Path, url: &str, commit: &str) -> Result<Self, GitError> {
        let read_err = |m: String| GitError::Read {
            url: url.to_string(),
            commit: commit.to_string(),
            message: m,
        };
        let mut repo = gix::open_opts(dir, gix::open::Options::isolated())
            .map_err(|e| read_err(e.to_string()))?;
        repo.object_cache_size_if_unset(16 * 1024 * 1024);
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
            repo: repo.into_sync(),
            commit: commit_id,
            tree,
            url: url.to_string(),
        })
    }

    pub fn commit(&self) -> String {
        self.commit.to_hex().to_string()
    }

    fn entry(
        &self,
        repo: &gix::Repository,
        path: &str,
    ) -> Result<Option<(EntryKind, gix::ObjectId)>, SourceError> {
        if path.is_empty() {
            return Ok(Some((EntryKind::Tree, self.tree)));
        }
        let tree = repo.find_tree(self.tree).map_err(|e| io(path, e))?;
        let entry = tree.lookup_entry_by_path(path).map_err(|e| io(path, e))?;
        Ok(entry.map(|e| (e.mode().kind(), e.object_id())))
    }
}

impl SourceTree for GitTree {
    fn describe(&self) -> String {
        format!("{}@{}", self.url, &self.commit.to_hex().to_string()[..12])
    }

    fn lstat(&self, path: &str) -> Result<Option<NodeKind>, SourceError> {
        let repo = self.repo.to_thread_local();
        Ok(match self.entry(&repo, path)? {
            None => None,
            Some((EntryKind::Tree, _)) => Some(NodeKind::Dir),
            Some((EntryKind::Blob | EntryKind::BlobExecutable, _)) => Some(NodeKind::File),
            Some((EntryKind::Link, id)) => {
                let blob = repo.find_blob(id).map_err(|e| io(path, e))?;
                Some(NodeKind::Symlink(blob.data.to_str_lossy().into_owned()))
            }
            // A submodule's content is not in this repository.
            Some((EntryKind::Commit, _)) => None,
        })
    }

    fn read_raw(&self, path: &str, max_bytes: usize) -> Result<Vec<u8>, SourceError> {
        let repo = self.repo.to_thread_local();
        let Some((_, id)) = self.entry(&repo, path)? else {
            return Err(SourceError::NotFound { path: path.into() });
        };
        let size = repo.find_header(id).map_err(|e| io(path, e))?.size();
        if size as usize > max_bytes {
            return Err(SourceError::TooLarge {
                path: path.into(),
                limit: max_bytes,
            });
        }
        Ok(repo.find_blob(id).map_err(|e| io(path, e))?.detach().data)
    }

    fn list_raw(&self, path: &str) -> Result<Vec<String>, SourceError> {
        let repo = self.repo.to_thread_local();
        let Some((EntryKind::Tree, id)) = self.entry(&repo, path)? else {
            return Err(SourceError::NotADirectory { path: path.into() });
        };
        let tree = repo.find_tree(id).map_err(|e| io(path, e))?;
        let mut names = Vec::new();
        for e in tree.iter() {
            let e = e.map_err(|e| io(path, e))?;
            names.push(e.filename().to_str_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn content_id(&self, path: &str) -> Result<String, SourceError> {
        let repo = self.repo.to_thread_local();
        match self.entry(&repo, path)? {
            Some((_, id)) => Ok(id.to_hex().to_string()),
            None => Err(SourceError::NotFound { path: path.into() }),
        }
    }
}
