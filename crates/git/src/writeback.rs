//! Write-back: build a commit with gix on top of a branch of the mirror, push it with the
//! `git` CLI, and on a non-fast-forward rejection fetch, re-apply the change to the new tip
//! and try again (bounded). Never force-pushes.
//!
//! The change is a function of the tree it applies to, so a retry re-reads the files (another
//! commit may have changed them) instead of replaying stale content. Credentials reach `git`
//! through its environment (an askpass script that reads them from variables, `GIT_CONFIG_*`
//! for a bearer header, `GIT_SSH_COMMAND` for keys), never argv.

use std::io::Write;
use std::process::Command;

use gix::object::tree::EntryKind;

use crate::url::redact;
use crate::{Credentials, GitError, GitTree, Mirror};

/// One file change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    Put { path: String, content: Vec<u8> },
    Delete { path: String },
}

/// Who the commit is by.
#[derive(Debug, Clone)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// A pushed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The new commit, or the unchanged tip when the change was already there.
    pub commit: String,
    /// How many push attempts it took (0 when there was nothing to push).
    pub attempts: u32,
}

fn wb_err(mirror: &Mirror, message: impl std::fmt::Display) -> GitError {
    GitError::Push {
        url: redact(mirror.url()),
        message: message.to_string(),
        spurious: false,
    }
}

/// Writes a commit of `changes(tree at branch tip)` onto `branch` and pushes it.
pub fn commit_and_push<F>(
    mirror: &Mirror,
    creds: &Credentials,
    branch: &str,
    author: &Author,
    message: &str,
    max_attempts: u32,
    changes: F,
) -> Result<Pushed, GitError>
where
    F: FnMut(&GitTree) -> Result<Vec<FileChange>, GitError>,
{
    commit_and_push_from(
        mirror,
        creds,
        branch,
        branch,
        author,
        message,
        max_attempts,
        changes,
    )
}

/// Like [`commit_and_push`], onto `branch` — created from `base`'s tip when it does not
/// exist yet (a branch left for a pull request).
#[allow(clippy::too_many_arguments)]
pub fn commit_and_push_from<F>(
    mirror: &Mirror,
    creds: &Credentials,
    base: &str,
    branch: &str,
    author: &Author,
    message: &str,
    max_attempts: u32,
    mut changes: F,
) -> Result<Pushed, GitError>
where
    F: FnMut(&GitTree) -> Result<Vec<FileChange>, GitError>,
{
    let mut attempt = 0;
    loop {
        mirror.fetch(creds, &Default::default())?;
        let tip = match mirror.resolve(&format!("refs/heads/{branch}")) {
            Ok(tip) => tip,
            Err(_) if base != branch => mirror.resolve(&format!("refs/heads/{base}"))?,
            Err(e) => return Err(e),
        };
        let tree = mirror.tree_at(&tip)?;
        let edits = changes(&tree)?;
        let commit = build_commit(mirror, &tip, &edits, author, message)?;
        if commit == tip {
            return Ok(Pushed {
                commit,
                attempts: attempt,
            });
        }
        attempt += 1;
        match push(mirror, creds, &commit, branch) {
            Ok(()) => {
                return Ok(Pushed {
                    commit,
                    attempts: attempt,
                });
            }
            Err(GitError::PushRejected { message, .. }) if attempt < max_attempts => {
                tracing::info!(url = %redact(mirror.url()), branch, attempt, %message, "push rejected (non-fast-forward); re-applying on the new tip");
            }
            Err(e) => return Err(e),
        }
    }
}

/// Builds a commit on `parent` with `edits`; returns `parent` itself when nothing changes.
fn build_commit(
    mirror: &Mirror,
    parent: &str,
    edits: &[FileChange],
    author: &Author,
    message: &str,
) -> Result<String, GitError> {
    let repo = gix::open_opts(mirror.dir(), gix::open::Options::isolated())
        .map_err(|e| wb_err(mirror, e))?;
    let parent_id = repo
        .rev_parse_single(parent)
        .map_err(|e| wb_err(mirror, e))?
        .detach();
    let parent_tree = repo
        .find_commit(parent_id)
        .map_err(|e| wb_err(mirror, e))?
        .tree_id()
        .map_err(|e| wb_err(mirror, e))?
        .detach();
    let mut editor = repo.edit_tree(parent_tree).map_err(|e| wb_err(mirror, e))?;
    for edit in edits {
        match edit {
            FileChange::Put { path, content } => {
                driftless_core::source::normalize(path).map_err(|e| wb_err(mirror, e))?;
                let blob = repo
                    .write_blob(content)
                    .map_err(|e| wb_err(mirror, e))?
                    .detach();
                editor
                    .upsert(path.as_str(), EntryKind::Blob, blob)
                    .map_err(|e| wb_err(mirror, e))?;
            }
            FileChange::Delete { path } => {
                editor
                    .remove(path.as_str())
                    .map_err(|e| wb_err(mirror, e))?;
            }
        }
    }
    let tree = editor.write().map_err(|e| wb_err(mirror, e))?.detach();
    if tree == parent_tree {
        return Ok(parent_id.to_hex().to_string());
    }
    let sig = gix::actor::Signature {
        name: author.name.as_str().into(),
        email: author.email.as_str().into(),
        time: gix::date::Time::now_local_or_utc(),
    };
    let commit = gix::objs::Commit {
        tree,
        parents: [parent_id].into_iter().collect(),
        author: sig.clone(),
        committer: sig,
        encoding: None,
        message: message.into(),
        extra_headers: Vec::new(),
    };
    Ok(repo
        .write_object(&commit)
        .map_err(|e| wb_err(mirror, e))?
        .detach()
        .to_hex()
        .to_string())
}

/// `git push <url> <commit>:refs/heads/<branch>` from the mirror, credentials via environment.
fn push(mirror: &Mirror, creds: &Credentials, commit: &str, branch: &str) -> Result<(), GitError> {
    let scratch = tempfile::tempdir().map_err(|e| wb_err(mirror, e))?;
    let mut cmd = Command::new("git");
    cmd.current_dir(mirror.dir())
        .args([
            "-c",
            "gc.auto=0",
            "push",
            "--porcelain",
            "--",
            mirror.url(),
            &format!("{commit}:refs/heads/{branch}"),
        ])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_ASKPASS", "/bin/false")
        .env_remove("SSH_ASKPASS");
    if let Some(ca) = mirror.ca_file() {
        cmd.env("GIT_SSL_CAINFO", ca);
    }
    match creds {
        Credentials::None => {}
        Credentials::Basic { username, password } => {
            let script = scratch.path().join("askpass");
            let mut f = std::fs::File::create(&script).map_err(|e| wb_err(mirror, e))?;
            // The script holds no secret: it echoes variables git passes down to it.
            f.write_all(b"#!/bin/sh\ncase \"$1\" in\n  Username*) printf '%s' \"$DRIFTLESS_GIT_USERNAME\" ;;\n  *) printf '%s' \"$DRIFTLESS_GIT_PASSWORD\" ;;\nesac\n")
                .map_err(|e| wb_err(mirror, e))?;
            drop(f);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| wb_err(mirror, e))?;
            }
            cmd.env("GIT_ASKPASS", &script)
                .env("DRIFTLESS_GIT_USERNAME", username)
                .env("DRIFTLESS_GIT_PASSWORD", password.expose());
        }
        Credentials::Bearer { token } => {
            cmd.env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env(
                    "GIT_CONFIG_VALUE_0",
                    format!("Authorization: Bearer {}", token.expose()),
                );
        }
        Credentials::SshKey {
            private_key,
            known_hosts,
        } => {
            let q = |p: &std::path::Path| {
                format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
            };
            cmd.env(
                "GIT_SSH_COMMAND",
                format!("ssh -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes", q(private_key), q(known_hosts)),
            );
        }
    }
    let out = cmd
        .output()
        .map_err(|e| wb_err(mirror, format!("cannot run git: {e}")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        return Ok(());
    }
    let url = redact(mirror.url());
    let first = text
        .lines()
        .find(|l| l.contains("rejected") || l.starts_with("fatal") || l.starts_with("error"))
        .unwrap_or("push failed")
        .trim()
        .to_string();
    if text.contains("non-fast-forward")
        || text.contains("fetch first")
        || text.contains("[rejected]")
    {
        Err(GitError::PushRejected {
            url,
            message: first,
        })
    } else {
        let spurious = [
            "Could not resolve host",
            "Connection refused",
            "timed out",
            "early EOF",
            "unexpected disconnect",
        ]
        .iter()
        .any(|w| text.contains(w));
        Err(GitError::Push {
            url,
            message: first,
            spurious,
        })
    }
}
