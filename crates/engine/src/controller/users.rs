//! The API's per-user token table, kept by the controller and replaceable while it runs: a token removed from the users'
//! definitions (or a `{file: ...}` token that was rotated) stops working at the next reload,
//! seconds later, without a restart. [`Users::watch`] re-reads the definition directories
//! on a short period and swaps the table when what it resolves to changed; every swap
//! bumps a version others can wait on ([`Users::changed`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use driftless_core::users::{Caller, User};

/// Tokens shorter than this are refused: they could be guessed.
pub const MIN_TOKEN: usize = 16;

/// Tokens with who they belong to.
pub type Table = Vec<(String, Caller)>;

pub struct Users {
    table: RwLock<Arc<Table>>,
    version: tokio::sync::watch::Sender<u64>,
}

impl From<Table> for Users {
    fn from(t: Table) -> Users {
        Users {
            table: RwLock::new(Arc::new(t)),
            version: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Default for Users {
    fn default() -> Users {
        Users::from(Vec::new())
    }
}

impl Users {
    /// The table as it is now (a cheap clone of an `Arc`).
    pub fn snapshot(&self) -> Arc<Table> {
        self.table
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Swaps in a new table; false (and no new version) when it is the same.
    pub fn replace(&self, t: Table) -> bool {
        let mut cur = self
            .table
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if **cur == t {
            return false;
        }
        *cur = Arc::new(t);
        drop(cur);
        self.version.send_modify(|v| *v += 1);
        true
    }

    /// Wakes on every replacement of the table.
    pub fn changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Re-reads `dirs` every `period` until the table is dropped elsewhere (the task holds a
    /// weak reference only).
    pub fn watch(self: &Arc<Self>, dirs: Vec<PathBuf>, period: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut files = Arc::new(std::sync::Mutex::new(UserFiles::default()));
            loop {
                tick.tick().await;
                let Some(users) = weak.upgrade() else { return };
                let dirs = dirs.clone();
                let kept = files.clone();
                let loaded = tokio::task::spawn_blocking(move || {
                    kept.lock().expect("user files lock").load(&dirs)
                })
                .await;
                let Ok((table, problems)) = loaded else {
                    // The blocking task panicked: start again from nothing.
                    files = Arc::default();
                    continue;
                };
                if users.replace(table) {
                    tracing::info!(
                        users = users.snapshot().len(),
                        "API users reloaded from their definitions"
                    );
                    for p in problems {
                        tracing::warn!("{p}");
                    }
                }
            }
        });
    }
}

/// The users defined in the YAML files of `dirs`, with their resolved tokens, and a line per
/// user that cannot log in (never with the token).
pub fn load(dirs: &[PathBuf]) -> (Table, Vec<String>) {
    UserFiles::default().load(dirs)
}

/// The users each YAML file defines, kept while the file's length and modification time stay
/// the same. The definition directories also hold every application file: parsing a thousand
/// of them every two seconds to find a handful of users was most of an idle engine's CPU.
/// Tokens are resolved at every load all the same (a rotated `{file: ...}` token counts).
#[derive(Default)]
pub struct UserFiles {
    files: HashMap<PathBuf, Parsed>,
}

struct Parsed {
    stamp: (SystemTime, u64),
    users: Vec<User>,
}

impl UserFiles {
    /// As [`load`], parsing only the files that changed since the last call.
    pub fn load(&mut self, dirs: &[PathBuf]) -> (Table, Vec<String>) {
        let mut table = Vec::new();
        let mut problems = Vec::new();
        let mut present = HashSet::new();
        for dir in dirs {
            for f in yaml_files(dir) {
                let Some(users) = self.users_of(&f, &mut problems) else {
                    continue;
                };
                for u in users {
                    match u.token.resolve() {
                        Ok(t) if t.len() >= MIN_TOKEN => table.push((t, u.caller())),
                        Ok(_) => problems.push(format!(
                            "user {}: the token is shorter than {MIN_TOKEN} characters (skipped)",
                            u.name
                        )),
                        Err(e) => problems.push(format!("user {}: token: {e} (skipped)", u.name)),
                    }
                }
                present.insert(f);
            }
        }
        self.files.retain(|f, _| present.contains(f));
        (table, problems)
    }

    /// The users `file` defines, parsed again only if it changed; `None` (with the problem
    /// noted) when it cannot be read.
    fn users_of(&mut self, file: &Path, problems: &mut Vec<String>) -> Option<&[User]> {
        let stamp = std::fs::metadata(file).and_then(|m| Ok((m.modified()?, m.len())));
        let stamp = match stamp {
            Ok(stamp) => stamp,
            Err(e) => {
                problems.push(format!("{}: {e}", file.display()));
                return None;
            }
        };
        if self.files.get(file).is_none_or(|p| p.stamp != stamp) {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(format!("{}: {e}", file.display()));
                    return None;
                }
            };
            let mut defs = driftless_core::definitions::Definitions::default();
            defs.add_file(&text, &file.display().to_string());
            let users = defs.users;
            self.files
                .insert(file.to_path_buf(), Parsed { stamp, users });
        }
        self.files.get(file).map(|p| p.users.as_slice())
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|e| {
            e.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(name: &str) -> Caller {
        Caller {
            name: name.into(),
            roles: vec!["admin".into()],
        }
    }

    /// Defect 9: a token removed from the table is gone for the next lookup, and waiters
    /// are told; replacing with the same table is no change.
    #[tokio::test]
    async fn defect_09_a_revoked_token_is_gone_at_once_without_a_restart() {
        let users = Users::from(vec![
            ("tok-a-0123456789abcdef".into(), caller("a")),
            ("tok-b-0123456789abcdef".into(), caller("b")),
        ]);
        let mut changed = users.changed();
        assert!(!users.replace(users.snapshot().as_ref().clone()));
        assert!(!changed.has_changed().unwrap());
        assert!(users.replace(vec![("tok-a-0123456789abcdef".into(), caller("a"))]));
        changed.changed().await.unwrap();
        let now = users.snapshot();
        assert!(now.iter().all(|(t, _)| t != "tok-b-0123456789abcdef"));
        assert_eq!(now.len(), 1);
    }

    /// An unchanged file is not parsed again; a changed one is, and a removed one's users go.
    #[test]
    fn only_changed_definition_files_are_parsed_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("u.yaml");
        let user = |name: &str| {
            format!(
                "apiVersion: driftless.dev/v1alpha1\nkind: User\nmetadata: {{name: {name}}}\nspec: {{token: tok-{name}-0123456789abcdef, roles: [admin]}}\n"
            )
        };
        let names = |files: &mut UserFiles| -> Vec<String> {
            let (table, problems) = files.load(&[dir.path().to_path_buf()]);
            assert!(problems.is_empty(), "{problems:?}");
            table.into_iter().map(|(_, c)| c.name).collect()
        };
        let stamp = |t: SystemTime| {
            let f = std::fs::File::options().write(true).open(&file).unwrap();
            f.set_modified(t).unwrap();
        };
        std::fs::write(&file, user("a")).unwrap();
        let mut files = UserFiles::default();
        assert_eq!(names(&mut files), ["a"]);
        let first = std::fs::metadata(&file).unwrap().modified().unwrap();
        // Same length and time: what was parsed stands (the file is not read again).
        std::fs::write(&file, user("b")).unwrap();
        stamp(first);
        assert_eq!(names(&mut files), ["a"]);
        // Touched: parsed again.
        stamp(first + Duration::from_secs(1));
        assert_eq!(names(&mut files), ["b"]);
        // Removed: its users are gone, and so is what was kept of it.
        std::fs::remove_file(&file).unwrap();
        assert!(names(&mut files).is_empty());
        assert!(files.files.is_empty());
    }

    #[test]
    fn short_or_unreadable_tokens_are_refused_and_reported_without_the_token() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("u.yaml"),
            "apiVersion: driftless.dev/v1alpha1\nkind: User\nmetadata: {name: s}\nspec: {token: short-secret, roles: [admin]}\n---\napiVersion: driftless.dev/v1alpha1\nkind: User\nmetadata: {name: f}\nspec: {token: {file: /nonexistent/tok}, roles: [admin]}\n",
        )
        .unwrap();
        let (table, problems) = load(&[dir.path().to_path_buf()]);
        assert!(table.is_empty());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems.iter().all(|p| !p.contains("short-secret")),
            "{problems:?}"
        );
    }
}
