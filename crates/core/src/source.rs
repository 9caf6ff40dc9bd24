//! The read-only file tree a renderer works on: a commit of a Git mirror, or a local directory.
//!
//! Implementations only answer raw questions about one path ([`SourceTree::lstat`],
//! [`SourceTree::read_raw`], [`SourceTree::list_raw`]); [`Tree`] on top of them resolves paths
//! and symlinks so that **nothing can leave the root**: absolute paths, `..` above the root,
//! absolute symlink targets and targets that step out of the root (even to come back in) are
//! refused, whatever the tree's backing store. Environment variables are never expanded.

use std::collections::VecDeque;

/// What a path is, without following a symlink at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    File,
    Dir,
    /// A symlink and its raw target.
    Symlink(String),
}

/// Why a path could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("path `{path}` is absolute; paths are relative to the repository root")]
    Absolute { path: String },
    #[error("path `{path}` leaves the repository root")]
    Escapes { path: String },
    #[error(
        "symlink `{link}` points outside the repository (absolute or escaping target); refusing the source"
    )]
    SymlinkEscape { link: String },
    #[error("too many symlinks while resolving `{path}` (loop?)")]
    SymlinkLoop { path: String },
    #[error("`{path}` does not exist")]
    NotFound { path: String },
    #[error("`{path}` is not a directory")]
    NotADirectory { path: String },
    #[error("`{path}` is a directory, not a file")]
    IsADirectory { path: String },
    #[error("`{path}` is larger than the {limit}-byte file limit")]
    TooLarge { path: String, limit: usize },
    #[error("reading `{path}`: {message}")]
    Io { path: String, message: String },
}

/// Raw access to a tree. Paths are normalized, relative, `/`-separated, `""` for the root, and
/// every parent component is a real directory (already resolved by [`Tree`]).
pub trait SourceTree: Send + Sync {
    /// Where this tree comes from, for messages (`https://host/repo@1a2b3c4`, `/srv/app`).
    fn describe(&self) -> String;
    fn lstat(&self, path: &str) -> Result<Option<NodeKind>, SourceError>;
    /// Reads a regular file, refusing files over `max_bytes`.
    fn read_raw(&self, path: &str, max_bytes: usize) -> Result<Vec<u8>, SourceError>;
    /// Names of a directory's entries, sorted.
    fn list_raw(&self, path: &str) -> Result<Vec<String>, SourceError>;
    /// A content hash of a file or a whole directory (a Git tree/blob id), for render caching.
    fn content_id(&self, path: &str) -> Result<String, SourceError>;
}

const MAX_SYMLINK_HOPS: usize = 40;

/// Splits a relative path into components, applying `.` and `..` lexically; refuses absolute
/// paths and `..` above the root.
pub fn normalize(path: &str) -> Result<Vec<String>, SourceError> {
    if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        return Err(SourceError::Absolute { path: path.into() });
    }
    let mut out: Vec<String> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(SourceError::Escapes { path: path.into() });
                }
            }
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

/// Joins `rel` onto directory `base` (both relative to the root) and normalizes the result.
pub fn join(base: &str, rel: &str) -> Result<String, SourceError> {
    if rel.starts_with('/') {
        return Err(SourceError::Absolute { path: rel.into() });
    }
    let joined = if base.is_empty() {
        rel.to_string()
    } else {
        format!("{base}/{rel}")
    };
    let parts = normalize(&joined).map_err(|e| match e {
        SourceError::Escapes { .. } => SourceError::Escapes { path: rel.into() },
        e => e,
    })?;
    Ok(parts.join("/"))
}

/// Safe, symlink-resolving access to a [`SourceTree`].
#[derive(Clone, Copy)]
pub struct Tree<'a> {
    raw: &'a dyn SourceTree,
}

impl<'a> Tree<'a> {
    pub fn new(raw: &'a dyn SourceTree) -> Self {
        Tree { raw }
    }

    pub fn describe(&self) -> String {
        self.raw.describe()
    }

    /// Resolves every symlink in `path`; the result is a real path inside the root.
    pub fn resolve(&self, path: &str) -> Result<(String, NodeKind), SourceError> {
        let mut queue: VecDeque<String> = normalize(path)?.into();
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0;
        let mut kind = NodeKind::Dir;
        while let Some(c) = queue.pop_front() {
            let mut candidate = resolved.clone();
            candidate.push(c);
            let cpath = candidate.join("/");
            match self.raw.lstat(&cpath)? {
                None => return Err(SourceError::NotFound { path: path.into() }),
                Some(NodeKind::Symlink(target)) => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(SourceError::SymlinkLoop { path: path.into() });
                    }
                    if target.starts_with('/') || target.is_empty() {
                        return Err(SourceError::SymlinkEscape { link: cpath });
                    }
                    // Apply the target lexically from the link's directory; stepping above
                    // the root at any point is an escape, even if a later component comes back.
                    let mut next = resolved.clone();
                    for t in target.split('/') {
                        match t {
                            "" | "." => {}
                            ".." => {
                                if next.pop().is_none() {
                                    return Err(SourceError::SymlinkEscape { link: cpath });
                                }
                            }
                            t => next.push(t.to_string()),
                        }
                    }
                    for c in next.into_iter().rev() {
                        queue.push_front(c);
                    }
                    resolved.clear();
                }
                Some(NodeKind::File) => {
                    if !queue.is_empty() {
                        return Err(SourceError::NotADirectory { path: cpath });
                    }
                    resolved = candidate;
                    kind = NodeKind::File;
                }
                Some(NodeKind::Dir) => {
                    resolved = candidate;
                    kind = NodeKind::Dir;
                }
            }
        }
        Ok((resolved.join("/"), kind))
    }

    /// What `path` is after following symlinks; `None` when it does not exist.
    pub fn kind(&self, path: &str) -> Result<Option<NodeKind>, SourceError> {
        match self.resolve(path) {
            Ok((_, k)) => Ok(Some(k)),
            Err(SourceError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn is_dir(&self, path: &str) -> Result<bool, SourceError> {
        Ok(self.kind(path)? == Some(NodeKind::Dir))
    }

    pub fn is_file(&self, path: &str) -> Result<bool, SourceError> {
        Ok(self.kind(path)? == Some(NodeKind::File))
    }

    pub fn read(&self, path: &str, max_bytes: usize) -> Result<Vec<u8>, SourceError> {
        match self.resolve(path)? {
            (real, NodeKind::File) => self
                .raw
                .read_raw(&real, max_bytes)
                .map_err(|e| rename(e, &real, path)),
            _ => Err(SourceError::IsADirectory { path: path.into() }),
        }
    }

    pub fn read_string(&self, path: &str, max_bytes: usize) -> Result<String, SourceError> {
        String::from_utf8(self.read(path, max_bytes)?).map_err(|_| SourceError::Io {
            path: path.into(),
            message: "not valid UTF-8".into(),
        })
    }

    /// Entries of a directory as (name, path relative to the root) pairs, sorted by name.
    /// Each entry's path is the un-resolved one under `dir`, so messages name what the user wrote.
    pub fn list(&self, dir: &str) -> Result<Vec<(String, String)>, SourceError> {
        match self.resolve(dir)? {
            (real, NodeKind::Dir) => {
                let names = self.raw.list_raw(&real)?;
                Ok(names
                    .into_iter()
                    .map(|n| {
                        let p = if dir.is_empty() {
                            n.clone()
                        } else {
                            format!("{}/{n}", normalize(dir).unwrap_or_default().join("/"))
                        };
                        (n, p)
                    })
                    .collect())
            }
            _ => Err(SourceError::NotADirectory { path: dir.into() }),
        }
    }

    /// Content id of the resolved path.
    pub fn content_id(&self, path: &str) -> Result<String, SourceError> {
        let (real, _) = self.resolve(path)?;
        self.raw.content_id(&real)
    }
}

fn rename(e: SourceError, real: &str, shown: &str) -> SourceError {
    match e {
        SourceError::NotFound { path } if path == real => {
            SourceError::NotFound { path: shown.into() }
        }
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// An in-memory tree: path → node.
    struct MemTree(BTreeMap<String, (NodeKind, Vec<u8>)>);

    impl MemTree {
        fn new(entries: &[(&str, NodeKind, &str)]) -> Self {
            let mut m = BTreeMap::new();
            for (p, k, c) in entries {
                m.insert(p.to_string(), (k.clone(), c.as_bytes().to_vec()));
            }
            MemTree(m)
        }
    }

    impl SourceTree for MemTree {
        fn describe(&self) -> String {
            "memory".into()
        }
        fn lstat(&self, path: &str) -> Result<Option<NodeKind>, SourceError> {
            Ok(self.0.get(path).map(|(k, _)| k.clone()))
        }
        fn read_raw(&self, path: &str, _max: usize) -> Result<Vec<u8>, SourceError> {
            Ok(self.0[path].1.clone())
        }
        fn list_raw(&self, path: &str) -> Result<Vec<String>, SourceError> {
            let prefix = format!("{path}/");
            Ok(self
                .0
                .keys()
                .filter_map(|k| k.strip_prefix(&prefix))
                .filter(|k| !k.contains('/'))
                .map(String::from)
                .collect())
        }
        fn content_id(&self, path: &str) -> Result<String, SourceError> {
            Ok(path.to_string())
        }
    }

    fn tree() -> MemTree {
        MemTree::new(&[
            ("app", NodeKind::Dir, ""),
            ("app/a.yaml", NodeKind::File, "a: 1"),
            ("app/link.yaml", NodeKind::Symlink("a.yaml".into()), ""),
            ("app/base", NodeKind::Symlink("../base".into()), ""),
            ("base", NodeKind::Dir, ""),
            ("base/b.yaml", NodeKind::File, "b: 2"),
            ("app/abs", NodeKind::Symlink("/etc/passwd".into()), ""),
            ("app/out", NodeKind::Symlink("../../secrets".into()), ""),
            (
                "app/roundtrip",
                NodeKind::Symlink("../../repo/base".into()),
                "",
            ),
            ("app/loop", NodeKind::Symlink("loop".into()), ""),
        ])
    }

    #[test]
    fn relative_paths_normalize_and_escapes_are_refused() {
        assert_eq!(join("app/overlays/dev", "../../base").unwrap(), "app/base");
        assert_eq!(
            join("app", "../../etc"),
            Err(SourceError::Escapes {
                path: "../../etc".into()
            })
        );
        assert!(matches!(
            join("app", "/etc/passwd"),
            Err(SourceError::Absolute { .. })
        ));
        assert!(matches!(
            normalize("C:/x"),
            Err(SourceError::Absolute { .. })
        ));
    }

    #[test]
    fn in_repo_symlinks_are_followed() {
        let t = tree();
        let tree = Tree::new(&t);
        assert_eq!(tree.read("app/link.yaml", 100).unwrap(), b"a: 1");
        assert_eq!(tree.read("app/base/b.yaml", 100).unwrap(), b"b: 2");
        assert_eq!(
            tree.list("app/base").unwrap(),
            vec![("b.yaml".to_string(), "app/base/b.yaml".to_string())]
        );
    }

    #[test]
    fn absolute_escaping_and_round_trip_symlinks_are_refused() {
        let t = tree();
        let tree = Tree::new(&t);
        for p in ["app/abs", "app/out/x", "app/roundtrip/b.yaml"] {
            let err = tree.read(p, 100).unwrap_err();
            assert!(
                matches!(err, SourceError::SymlinkEscape { .. }),
                "{p}: {err:?}"
            );
            assert!(
                !err.to_string().contains("passwd"),
                "target must not be echoed: {err}"
            );
        }
        assert!(matches!(
            tree.read("app/loop", 100),
            Err(SourceError::SymlinkLoop { .. })
        ));
    }

    #[test]
    fn variables_are_never_expanded() {
        let t = tree();
        let tree = Tree::new(&t);
        assert_eq!(
            tree.read("$HOME/.ssh/id_rsa", 100),
            Err(SourceError::NotFound {
                path: "$HOME/.ssh/id_rsa".into()
            })
        );
        assert!(matches!(
            tree.read("app/$X/../../..", 100),
            Err(SourceError::Escapes { .. })
        ));
    }
}
