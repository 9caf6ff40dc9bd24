//! Bare mirrors: one per repository URL under the data directory, fetched with gix.
//!
//! A fetch mirrors `refs/heads/*` and `refs/tags/*` exactly (forced updates, deleted branches
//! pruned), so the mirror is what the server had at the last successful fetch. A failed fetch
//! leaves the previous refs untouched: the last good state is kept. Credentials reach gix only
//! through the credentials callback (HTTP) or an in-memory `core.sshCommand` (SSH key and the
//! managed known_hosts with strict host key checking); nothing is written to the mirror's config.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::bstr::ByteSlice;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::remote::Direction;
use sha2::{Digest, Sha256};

use crate::revision::{self, RefEntry};
use crate::tree::GitTree;
use crate::url::{self, UrlPolicy};
use crate::{Credentials, GitError};

/// Options of one fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Shallow fetch of this many commits per ref (None: full history).
    pub depth: Option<NonZeroU32>,
}

/// What a fetch changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// Refs and commits the remote advertised (heads and tags).
    pub refs: Vec<RefEntry>,
    /// The remote's default branch (its HEAD), when advertised.
    pub default_branch: Option<String>,
    /// Refs removed because the remote no longer has them.
    pub pruned: Vec<String>,
}

/// A bare mirror of one repository.
pub struct Mirror {
    url: String,
    dir: PathBuf,
    policy: UrlPolicy,
    /// Extra PEM CA bundle trusted for this repository (a private Git server's CA).
    ca_file: Option<PathBuf>,
    /// The repository opened once for reads (refs, resolve, trees): opening reads the config
    /// and pack indexes, which a reconcile per app would otherwise pay three times. Refs are
    /// read from disk on every use and new packs are found on a miss, so fetches show.
    reader: std::sync::OnceLock<gix::ThreadSafeRepository>,
}

fn mirror_err(dir: &Path, e: impl std::fmt::Display) -> GitError {
    GitError::Mirror {
        path: dir.display().to_string(),
        message: e.to_string(),
    }
}

/// Lists `HEAD` too (the default branch) while still filtering the advertisement to heads and
/// tags (a GitHub remote also advertises thousands of `refs/pull/*`).
fn ref_map_options() -> Result<gix::remote::ref_map::Options, GitError> {
    let head = gix::refspec::parse("HEAD".into(), gix::refspec::parse::Operation::Fetch)
        .map_err(|e| GitError::Mirror {
            path: String::new(),
            message: e.to_string(),
        })?
        .to_owned();
    Ok(gix::remote::ref_map::Options {
        extra_refspecs: vec![head],
        ..Default::default()
    })
}

/// A fetch failure before classification: gix's error text needs the ssh log to be classified.
enum FetchFailure {
    Gix(String),
    Other(GitError),
}

impl FetchFailure {
    fn gix(e: gix::Error) -> Self {
        FetchFailure::Gix(format!("{e:#}"))
    }
}

impl From<GitError> for FetchFailure {
    fn from(e: GitError) -> Self {
        FetchFailure::Other(e)
    }
}

/// Single-quotes a path for the shell that runs `core.sshCommand`.
fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// Classifies a gix fetch error from its message chain (gix reports transport failures as text).
fn classify(url: &str, e: &gix::Error) -> GitError {
    classify_text(url, &format!("{e:#}"), "")
}

/// Classifies from gix's message chain plus what the ssh client wrote to stderr (host key and
/// publickey failures only show there). Only the classification uses `ssh_stderr`; it is never
/// put into a message.
fn classify_text(url: &str, text: &str, ssh_stderr: &str) -> GitError {
    let text = text.to_string();
    let lower = format!("{text}\n{ssh_stderr}").to_ascii_lowercase();
    let url = url::redact(url);
    if lower.contains("host key verification failed")
        || lower.contains("remote host identification has changed")
        || lower.contains("no matching host key")
    {
        GitError::HostKey { url }
    } else if lower.contains("401")
        || lower.contains("403")
        || lower.contains("authentication")
        || lower.contains("permission denied (publickey")
        || lower.contains("credentials")
    {
        GitError::Auth { url }
    } else if lower.contains("404")
        || lower.contains("not found")
        || lower.contains("does not appear to be a git repository")
        || lower.contains("does not exist")
    {
        GitError::NotFound { url }
    } else {
        let spurious = [
            "connection refused",
            "timed out",
            "reset by peer",
            "broken pipe",
            "unexpected eof",
            "unexpectedeof",
            "end of file",
            "connection closed",
            "i/o error",
            "failed to fill whole buffer",
            "failed to consume the pack",
        ]
        .iter()
        .any(|w| lower.contains(w));
        GitError::Fetch {
            url,
            message: first_message(&text),
            spurious,
        }
    }
}

/// The outermost message of a gix error chain, without its debug wrapping. Later lines may
/// carry server output, so only this one is kept.
fn first_message(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("Message { message: \"")
        .and_then(|l| l.strip_suffix("\" }"))
        .unwrap_or(line)
        .to_string()
}

impl Mirror {
    /// Opens (or creates) the mirror of `url` under `data_dir/mirrors/`, after checking the URL
    /// against `policy`.
    pub fn open(data_dir: &Path, url: &str, policy: UrlPolicy) -> Result<Self, GitError> {
        url::check(url, &policy)?;
        let name = hex::encode(&Sha256::digest(url.as_bytes())[..12]);
        let dir = data_dir.join("mirrors").join(format!("{name}.git"));
        if !dir.join("HEAD").exists() {
            std::fs::create_dir_all(&dir).map_err(|e| mirror_err(&dir, e))?;
            gix::init_bare(&dir).map_err(|e| mirror_err(&dir, e))?;
        }
        Ok(Mirror {
            url: url.to_string(),
            dir,
            policy,
            ca_file: None,
            reader: std::sync::OnceLock::new(),
        })
    }

    /// A handle for reading the mirror (no credentials: nothing leaves the machine).
    fn reader(&self) -> Result<gix::Repository, GitError> {
        if let Some(r) = self.reader.get() {
            return Ok(r.to_thread_local());
        }
        let repo = self.repo(&Credentials::None)?;
        let _ = self.reader.set(repo.clone().into_sync());
        Ok(repo)
    }

    /// Trusts the PEM certificates in `ca_file` (in addition to the system roots) for HTTPS.
    pub fn with_ca_file(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(ca_file.into());
        self
    }

    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn repo(&self, creds: &Credentials) -> Result<gix::Repository, GitError> {
        self.repo_with_ssh_log(creds, None)
    }

    fn repo_with_ssh_log(
        &self,
        creds: &Credentials,
        ssh_log: Option<&Path>,
    ) -> Result<gix::Repository, GitError> {
        // In-memory overrides only: nothing of this reaches the mirror's config file.
        let mut overrides = vec![
            "http.followRedirects=false".to_string(),
            "http.lowSpeedLimit=1".to_string(),
            "http.lowSpeedTime=60".to_string(),
            "gitoxide.http.connectTimeout=15000".to_string(),
            "credential.helper=".to_string(),
            "gc.auto=0".to_string(),
        ];
        if let Credentials::SshKey {
            private_key,
            known_hosts,
        } = creds
        {
            // `core.sshCommand` runs through sh, which accepts the redirection mid-command.
            let log = ssh_log
                .map(|p| format!(" 2>>{}", sh_quote(p)))
                .unwrap_or_default();
            overrides.push(format!(
                "core.sshCommand=ssh -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=15{log}",
                sh_quote(private_key),
                sh_quote(known_hosts)
            ));
        }
        if let Credentials::Bearer { token } = creds {
            overrides.push(format!(
                "http.extraHeader=Authorization: Bearer {}",
                token.expose()
            ));
        }
        let opts = gix::open::Options::isolated().config_overrides(overrides);
        let mut repo = gix::open_opts(&self.dir, opts).map_err(|e| mirror_err(&self.dir, e))?;
        repo.object_cache_size_if_unset(16 * 1024 * 1024);
        Ok(repo)
    }

    /// Fetches every branch and tag, prunes refs the remote dropped, records the default branch.
    pub fn fetch(
        &self,
        creds: &Credentials,
        opts: &FetchOptions,
    ) -> Result<FetchOutcome, GitError> {
        let scratch = tempfile::tempdir().map_err(|e| mirror_err(&self.dir, e))?;
        let ssh_log = scratch.path().join("ssh-stderr");
        self.fetch_inner(creds, opts, &ssh_log)
            .map_err(|e| match e {
                FetchFailure::Gix(text) => classify_text(
                    &self.url,
                    &text,
                    &std::fs::read_to_string(&ssh_log).unwrap_or_default(),
                ),
                FetchFailure::Other(e) => e,
            })
    }

    fn fetch_inner(
        &self,
        creds: &Credentials,
        opts: &FetchOptions,
        ssh_log: &Path,
    ) -> Result<FetchOutcome, FetchFailure> {
        // Re-check at every fetch: DNS may have changed since the mirror was opened.
        let parsed = url::check(&self.url, &self.policy)?;
        if matches!(parsed.scheme, url::Scheme::Http | url::Scheme::Git)
            && matches!(
                creds,
                Credentials::Basic { .. } | Credentials::Bearer { .. }
            )
        {
            return Err(FetchFailure::Other(GitError::UrlRefused {
                url: url::redact(&self.url),
                reason: "credentials are never sent over unencrypted http; use https".into(),
            }));
        }
        let repo = self.repo_with_ssh_log(creds, Some(ssh_log))?;
        let remote = repo
            .remote_at(self.url.as_str())
            .map_err(FetchFailure::gix)?
            .with_refspecs(
                ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                Direction::Fetch,
            )
            .map_err(FetchFailure::gix)?
            .with_fetch_tags(gix::remote::fetch::Tags::None);
        let mut conn = remote
            .connect(Direction::Fetch)
            .map_err(FetchFailure::gix)?;
        if let Some(ca) = &self.ca_file {
            conn = conn.with_transport_options(self.tls_options(&repo, ca)?);
        }
        let basic = match creds {
            Credentials::Basic { username, password } => {
                Some((username.clone(), password.expose().to_string()))
            }
            _ => None,
        };
        let conn = conn.with_credentials(move |action| match (&action, &basic) {
            (gix::credentials::helper::Action::Get(ctx), Some((user, pass))) => {
                Ok(Some(gix::credentials::protocol::Outcome {
                    identity: gix::sec::identity::Account {
                        username: user.clone(),
                        password: pass.clone(),
                        oauth_refresh_token: None,
                    },
                    next: ctx.clone().into(),
                }))
            }
            // No credentials configured: fail instead of prompting or asking helpers.
            _ => Ok(None),
        });
        let mut prepare = conn
            .prepare_fetch(gix::progress::Discard, ref_map_options()?)
            .map_err(FetchFailure::gix)?;
        if let Some(depth) = opts.depth {
            prepare = prepare.with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(depth));
        }
        let outcome = prepare
            .receive(gix::progress::Discard, &AtomicBool::new(false))
            .map_err(FetchFailure::gix)?;

        let mut refs = Vec::new();
        let mut default_branch = None;
        for r in &outcome.ref_map.remote_refs {
            use gix::protocol::handshake::Ref;
            let (name, commit) = match r {
                Ref::Symbolic {
                    full_ref_name,
                    target,
                    ..
                }
                | Ref::Unborn {
                    full_ref_name,
                    target,
                } if full_ref_name == "HEAD" => {
                    default_branch = Some(
                        target
                            .to_str_lossy()
                            .trim_start_matches("refs/heads/")
                            .to_string(),
                    );
                    continue;
                }
                // Annotated tags: the commit they peel to is what gets deployed.
                Ref::Peeled {
                    full_ref_name,
                    object,
                    ..
                }
                | Ref::Direct {
                    full_ref_name,
                    object,
                }
                | Ref::Symbolic {
                    full_ref_name,
                    object,
                    ..
                } => (full_ref_name.to_str_lossy().into_owned(), object),
                Ref::Unborn { .. } => continue,
            };
            if name.starts_with("refs/heads/") || name.starts_with("refs/tags/") {
                refs.push(RefEntry {
                    name,
                    id: commit.to_hex().to_string(),
                });
            }
        }
        let pruned = self.prune(&repo, &refs)?;
        if let Some(branch) = &default_branch {
            let edit = RefEdit {
                change: Change::Update {
                    log: LogChange {
                        mode: RefLog::AndReference,
                        force_create_reflog: false,
                        message: "driftless: remote HEAD".into(),
                    },
                    expected: PreviousValue::Any,
                    new: gix::refs::Target::Symbolic(
                        format!("refs/heads/{branch}")
                            .try_into()
                            .map_err(|e| mirror_err(&self.dir, e))?,
                    ),
                },
                name: "HEAD".try_into().map_err(|e| mirror_err(&self.dir, e))?,
                deref: false,
            };
            repo.edit_reference(edit)
                .map_err(|e| mirror_err(&self.dir, e))?;
        }
        tracing::debug!(url = %url::redact(&self.url), refs = refs.len(), pruned = pruned.len(), "fetched");
        Ok(FetchOutcome {
            refs,
            default_branch,
            pruned,
        })
    }

    /// The HTTP transport options gix derives from configuration, plus our CA bundle.
    fn tls_options(
        &self,
        repo: &gix::Repository,
        ca: &Path,
    ) -> Result<Box<dyn std::any::Any>, GitError> {
        use gix::protocol::transport::client::blocking_io::http;
        let pem = std::fs::read(ca).map_err(|e| {
            mirror_err(
                &self.dir,
                format!("cannot read CA file {}: {e}", ca.display()),
            )
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| mirror_err(&self.dir, format!("CA file {}: {e}", ca.display())))?;
        let mut opts = repo
            .transport_options(self.url.as_str(), None)
            .map_err(|e| classify(&self.url, &e))?
            .unwrap_or_else(|| Box::new(http::Options::default()));
        let Some(http_opts) = opts.downcast_mut::<http::Options>() else {
            return Ok(opts); // not an HTTP URL: nothing to add
        };
        let backend = http::reqwest::Options {
            configure_client: Some(Box::new(move |mut builder| {
                for c in &certs {
                    builder = builder.add_root_certificate(c.clone());
                }
                Ok(builder)
            })),
            configure_request: None,
        };
        http_opts.backend = Some(std::sync::Arc::new(std::sync::Mutex::new(backend)));
        Ok(opts)
    }

    fn prune(&self, repo: &gix::Repository, remote: &[RefEntry]) -> Result<Vec<String>, GitError> {
        let keep: HashSet<&str> = remote.iter().map(|r| r.name.as_str()).collect();
        let mut gone = Vec::new();
        for r in repo
            .references()
            .map_err(|e| mirror_err(&self.dir, e))?
            .all()
            .map_err(|e| mirror_err(&self.dir, e))?
        {
            let r = r.map_err(|e| mirror_err(&self.dir, e))?;
            let name = r.name().as_bstr().to_str_lossy().into_owned();
            if (name.starts_with("refs/heads/") || name.starts_with("refs/tags/"))
                && !keep.contains(name.as_str())
            {
                gone.push(name);
            }
        }
        for name in &gone {
            repo.edit_reference(RefEdit {
                change: Change::Delete {
                    expected: PreviousValue::Any,
                    log: RefLog::AndReference,
                },
                name: name
                    .as_str()
                    .try_into()
                    .map_err(|e| mirror_err(&self.dir, e))?,
                deref: false,
            })
            .map_err(|e| mirror_err(&self.dir, e))?;
        }
        Ok(gone)
    }

    /// Refs currently in the mirror (heads and tags, tags peeled to their commit).
    pub fn refs(&self) -> Result<Vec<RefEntry>, GitError> {
        let repo = self.reader()?;
        let mut out = Vec::new();
        for r in repo
            .references()
            .map_err(|e| mirror_err(&self.dir, e))?
            .all()
            .map_err(|e| mirror_err(&self.dir, e))?
        {
            let mut r = r.map_err(|e| mirror_err(&self.dir, e))?;
            let name = r.name().as_bstr().to_str_lossy().into_owned();
            if !(name.starts_with("refs/heads/") || name.starts_with("refs/tags/")) {
                continue;
            }
            if let Ok(id) = r.peel_to_id() {
                let commit = repo
                    .find_object(id)
                    .ok()
                    .and_then(|o| o.peel_to_commit().ok())
                    .map(|c| c.id);
                if let Some(c) = commit {
                    out.push(RefEntry {
                        name,
                        id: c.to_hex().to_string(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The commit a revision names: `HEAD`, a branch, a tag, a full or short SHA, or a semver
    /// range over tags (`>=1.2 <2`, `~1.4`).
    pub fn resolve(&self, revision: &str) -> Result<String, GitError> {
        let refs = self.refs()?;
        let repo = self.reader()?;
        let head = repo.find_reference("HEAD").ok().and_then(|r| {
            r.target()
                .try_name()
                .map(|n| n.as_bstr().to_str_lossy().into_owned())
        });
        let by_sha = |sha: &str| -> Option<String> {
            let id = repo.rev_parse_single(sha).ok()?;
            let commit = repo.find_object(id).ok()?.peel_to_commit().ok()?;
            Some(commit.id.to_hex().to_string())
        };
        revision::resolve(revision, &refs, head.as_deref(), by_sha).map_err(|hint| {
            GitError::RevisionNotFound {
                url: url::redact(&self.url),
                revision: revision.to_string(),
                hint,
            }
        })
    }

    /// When `commit` was committed, in milliseconds since the Unix epoch (lead time for
    /// changes starts there).
    pub fn commit_time_ms(&self, commit: &str) -> Result<i64, GitError> {
        let repo = self.reader()?;
        let err = |m: String| GitError::Read {
            url: url::redact(&self.url),
            commit: commit.to_string(),
            message: m,
        };
        let id = repo
            .rev_parse_single(commit)
            .map_err(|_| err("no such commit in the mirror".into()))?;
        let c = repo
            .find_object(id)
            .map_err(|e| err(e.to_string()))?
            .peel_to_commit()
            .map_err(|e| err(e.to_string()))?;
        let t = c.time().map_err(|e| err(e.to_string()))?;
        Ok(t.seconds * 1000)
    }

    /// The tree of `commit`, readable without a work tree.
    pub fn tree_at(&self, commit: &str) -> Result<GitTree, GitError> {
        GitTree::from_repo(self.reader()?, &url::redact(&self.url), commit)
    }
}
