//! Repository definitions the engine fetches with: for a source URL, the definition that
//! applies (its own, else the longest credential-template prefix), the credentials it
//! gives (secrets resolved at fetch time, so a rotated file or variable is picked up), and
//! the URL policy (plain HTTP only where the definition says `insecure`).
//!
//! SSH keys given as text are written owner-only under `<data>/keys/`, the only form the
//! ssh client takes; host keys are always checked, against the definition's `knownHosts`
//! or the engine's `<data>/known_hosts`.

use crate::error::{EngineError, EngineResult};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use driftless_core::repository::Repository;
use driftless_git::{Credentials, Secret, UrlPolicy};

use super::normalize_repo_url;

/// How to fetch one URL.
#[derive(Debug, Clone)]
pub struct Access {
    pub credentials: Credentials,
    pub policy: UrlPolicy,
    /// CA bundle to trust for HTTPS (the definition's `ca`), written owner-only.
    pub ca_file: Option<PathBuf>,
}

pub struct Repositories {
    defs: RwLock<BTreeMap<String, Repository>>,
    data_dir: PathBuf,
}

impl Repositories {
    pub fn new(data_dir: &Path) -> Self {
        Repositories {
            defs: RwLock::new(BTreeMap::new()),
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Adds or replaces a definition; returns the one it replaced.
    pub fn set(&self, repo: Repository) -> EngineResult<Option<Repository>> {
        repo.validate().map_err(EngineError::Invalid)?;
        Ok(self
            .defs
            .write()
            .expect("repositories lock")
            .insert(repo.name.clone(), repo))
    }

    pub fn remove(&self, name: &str) -> Option<Repository> {
        self.defs.write().expect("repositories lock").remove(name)
    }

    pub fn get(&self, name: &str) -> Option<Repository> {
        self.defs
            .read()
            .expect("repositories lock")
            .get(name)
            .cloned()
    }

    pub fn list(&self) -> Vec<Repository> {
        self.defs
            .read()
            .expect("repositories lock")
            .values()
            .cloned()
            .collect()
    }

    /// The definition for `url`: one for exactly that repository, else the credential
    /// template with the longest matching prefix.
    pub fn for_url(&self, url: &str) -> Option<Repository> {
        let wanted = normalize_repo_url(url);
        let defs = self.defs.read().expect("repositories lock");
        if let Some(r) = defs
            .values()
            .find(|r| !r.prefix && normalize_repo_url(&r.url) == wanted)
        {
            return Some(r.clone());
        }
        defs.values()
            .filter(|r| r.prefix && covers(&normalize_repo_url(&r.url), &wanted))
            .max_by_key(|r| normalize_repo_url(&r.url).len())
            .cloned()
    }

    /// The URL to fetch `url` from: rewritten by the definitions' `insteadOf` rules (Git's
    /// `url.<base>.insteadOf`, longest prefix first), else `url` itself.
    pub fn rewrite(&self, url: &str) -> String {
        let defs = self.defs.read().expect("repositories lock");
        let rules = defs.values().flat_map(|r| {
            r.instead_of
                .iter()
                .map(|p| driftless_core::url_rewrite::Rule {
                    base: r.url.as_str(),
                    instead_of: p.as_str(),
                })
        });
        driftless_core::url_rewrite::rewrite(url, rules).unwrap_or_else(|| url.to_string())
    }

    /// Does the definition named `name` cover `url`?
    pub fn covers(repo: &Repository, url: &str) -> bool {
        let (base, wanted) = (normalize_repo_url(&repo.url), normalize_repo_url(url));
        if repo.prefix {
            covers(&base, &wanted)
        } else {
            base == wanted
        }
    }

    /// Credentials, URL policy and CA for fetching `url`; `base` is the engine's policy.
    pub fn access(&self, url: &str, base: UrlPolicy) -> EngineResult<Access> {
        let Some(repo) = self.for_url(url) else {
            return Ok(Access {
                credentials: Credentials::None,
                policy: base,
                ca_file: None,
            });
        };
        let dir = self.data_dir.join("keys");
        let file = safe_name(&repo.name);
        let policy = UrlPolicy {
            allow_insecure: base.allow_insecure || repo.insecure,
            ..base
        };
        let secret = |what: &str, v: &driftless_core::repository::SecretValue| {
            v.resolve().map_err(|e| {
                EngineError::invalid(format!("repository {}: spec.{what}: {e}", repo.name))
            })
        };
        let creds = if let Some(p) = &repo.password {
            Credentials::Basic {
                username: repo.username.clone().unwrap_or_default(),
                password: Secret::new(secret("password", p)?),
            }
        } else if let Some(t) = &repo.bearer_token {
            Credentials::Bearer {
                token: Secret::new(secret("bearerToken", t)?),
            }
        } else if let Some(k) = &repo.ssh_private_key {
            let mut key = secret("sshPrivateKey", k)?;
            if !key.ends_with('\n') {
                key.push('\n'); // OpenSSH refuses a key without its final newline
            }
            let private_key = dir.join(format!("{file}.key"));
            write_private(&private_key, &key).map_err(|e| {
                EngineError::Internal(format!(
                    "repository {}: writing its SSH key: {e}",
                    repo.name
                ))
            })?;
            let known_hosts = match &repo.known_hosts {
                Some(lines) => {
                    let p = dir.join(format!("{file}.known_hosts"));
                    write_private(&p, lines).map_err(|e| {
                        EngineError::Internal(format!(
                            "repository {}: writing its known_hosts: {e}",
                            repo.name
                        ))
                    })?;
                    p
                }
                None => self.data_dir.join("known_hosts"),
            };
            Credentials::SshKey {
                private_key,
                known_hosts,
            }
        } else {
            Credentials::None
        };
        let ca_file = match &repo.ca {
            Some(pem) => {
                let p = dir.join(format!("{file}.ca.pem"));
                write_private(&p, pem).map_err(|e| {
                    EngineError::Internal(format!("repository {}: writing its CA: {e}", repo.name))
                })?;
                Some(p)
            }
            None => None,
        };
        Ok(Access {
            credentials: creds,
            policy,
            ca_file,
        })
    }
}

/// Is `url` (normalized) under the prefix `base` (normalized), on a path boundary or as a
/// plain string prefix ending in `/`?
fn covers(base: &str, url: &str) -> bool {
    url == base
        || url
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/') || base.ends_with('/'))
}

pub(crate) fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `text` readable by the owner only; unchanged content is not rewritten.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_core::repository::SecretValue;

    fn repo(name: &str, url: &str, prefix: bool) -> Repository {
        Repository {
            name: name.into(),
            url: url.into(),
            prefix,
            username: Some("bot".into()),
            password: Some(SecretValue::Value(format!("pw-{name}"))),
            ..Repository::default()
        }
    }

    fn password(c: &Credentials) -> String {
        match c {
            Credentials::Basic { password, .. } => password.expose().to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn own_definition_then_longest_template_then_nothing() {
        let dir = std::env::temp_dir().join(format!("drepos-{}", std::process::id()));
        let r = Repositories::new(&dir);
        r.set(repo("org", "https://git.example.com/acme", true))
            .unwrap();
        r.set(repo("team", "https://git.example.com/acme/team", true))
            .unwrap();
        r.set(repo(
            "exact",
            "https://git.example.com/acme/team/app.git",
            false,
        ))
        .unwrap();
        let base = UrlPolicy {
            allow_local: true,
            allow_insecure: false,
        };
        let pw = |url: &str| password(&r.access(url, base).unwrap().credentials);
        assert_eq!(pw("https://git.example.com/acme/team/app"), "pw-exact");
        assert_eq!(pw("https://git.example.com/acme/team/other.git"), "pw-team");
        assert_eq!(pw("https://git.example.com/acme/x.git"), "pw-org");
        // `acme-evil` is not under `acme`.
        let a = r
            .access("https://git.example.com/acme-evil/x.git", base)
            .unwrap();
        assert!(matches!(a.credentials, Credentials::None));
        assert!(r.remove("exact").is_some());
        assert_eq!(pw("https://git.example.com/acme/team/app"), "pw-team");
    }

    #[test]
    fn instead_of_rules_send_public_urls_to_a_mirror_with_its_credentials() {
        let dir = std::env::temp_dir().join(format!("drepos-rw-{}", std::process::id()));
        let r = Repositories::new(&dir);
        let mut mirror = repo("mirror", "http://127.0.0.1:9/", true);
        mirror.instead_of = vec!["https://github.com/".into()];
        r.set(mirror).unwrap();
        let fetch = r.rewrite("https://github.com/company/k8s-dev");
        assert_eq!(fetch, "http://127.0.0.1:9/company/k8s-dev");
        assert_eq!(r.for_url(&fetch).unwrap().name, "mirror");
        assert_eq!(
            r.rewrite("https://gitlab.com/x/y"),
            "https://gitlab.com/x/y"
        );
    }

    #[test]
    fn ssh_keys_are_written_owner_only_and_secrets_resolve_late() {
        let dir = std::env::temp_dir().join(format!("drepos-ssh-{}", std::process::id()));
        let r = Repositories::new(&dir);
        let key_file = dir.join("source-key");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&key_file, "KEY-ONE").unwrap();
        r.set(Repository {
            name: "private.config".into(),
            url: "git@git.example.com:team/config.git".into(),
            ssh_private_key: Some(SecretValue::File {
                file: key_file.display().to_string(),
            }),
            known_hosts: Some("git.example.com ssh-ed25519 AAAA\n".into()),
            insecure: true,
            ..Repository::default()
        })
        .unwrap();
        let base = UrlPolicy {
            allow_local: false,
            allow_insecure: false,
        };
        let a = r
            .access("ssh://git@git.example.com/team/config", base)
            .unwrap();
        assert!(a.policy.allow_insecure);
        let c = a.credentials;
        let Credentials::SshKey {
            private_key,
            known_hosts,
        } = c
        else {
            panic!("{c:?}")
        };
        assert_eq!(private_key, dir.join("keys/private.config.key"));
        assert_eq!(std::fs::read_to_string(&private_key).unwrap(), "KEY-ONE\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private_key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
        assert!(
            std::fs::read_to_string(known_hosts)
                .unwrap()
                .contains("ssh-ed25519")
        );
        // A rotated key file is used on the next fetch.
        std::fs::write(&key_file, "KEY-TWO").unwrap();
        r.access("git@git.example.com:team/config.git", base)
            .unwrap();
        assert_eq!(std::fs::read_to_string(&private_key).unwrap(), "KEY-TWO\n");
        std::fs::remove_file(&key_file).unwrap();
        let e = r
            .access("git@git.example.com:team/config.git", base)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("repository private.config: spec.sshPrivateKey: cannot read"),
            "{e}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
