//! What a source may point at, beyond the Git URL policy, and when a webhook calls for a
//! fetch.
//!
//! [`SourceGuard`]: local paths and `file://` URLs are sources only where the operator
//! allowed local sources (`up --demo`, `--allow-local-sources`), and never the engine's own
//! data directory (its store, API token, keys and mirrors) — with the exception of
//! directories the operator names inside it (the demo's repository) — nor a URL at the
//! engine's own API address.
//!
//! [`Marks`]: a webhook marks a repository changed, naming the pushed commit when the
//! payload does. A mark is settled without a fetch when the mirror already has every commit
//! named, or when a fetch started after the mark was made; so a storm of identical webhooks
//! costs one fetch, and a webhook for a commit already fetched costs none.

use crate::error::{EngineError, EngineResult};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// Where sources may not read.
#[derive(Debug, Clone, Default)]
pub struct SourceGuard {
    /// Directories no local source may be in (the engine's data directory)...
    pub private: Vec<PathBuf>,
    /// ...except these, inside them (the demo's repository).
    pub allowed: Vec<PathBuf>,
    /// The engine's API: a repository URL on this port of a local address is refused.
    pub api: Option<SocketAddr>,
}

/// The directory a local source names, if it is one (`file://`, an absolute or relative path).
fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    let scp_like = url.contains('@') || url.split('/').next().is_some_and(|h| h.contains(':'));
    (!url.contains("://") && !scp_like).then(|| PathBuf::from(url))
}

fn is_local_host(host: &str, api: &SocketAddr) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip.is_unspecified() || ip == api.ip(),
        Err(_) => false,
    }
}

impl SourceGuard {
    /// `Err` with the reason when `url` may not be a source.
    pub fn check(&self, url: &str, allow_local: bool) -> EngineResult<()> {
        if let Some(path) = local_path(url) {
            if !allow_local {
                return Err(EngineError::invalid(format!(
                    "local sources ({url}) are refused: `up` reads local paths and file:// URLs only with --allow-local-sources (or --demo)"
                )));
            }
            return self.check_path(url, &path);
        }
        if let (Some(api), Ok(parsed)) = (self.api, driftless_git::url::parse(url))
            && parsed.port == Some(api.port())
            && parsed
                .host
                .as_deref()
                .is_some_and(|h| is_local_host(h, &api))
        {
            return Err(EngineError::invalid(format!(
                "{} points at the engine's own API ({api}); it is never a source",
                driftless_git::url::redact(url)
            )));
        }
        Ok(())
    }

    fn check_path(&self, url: &str, path: &Path) -> EngineResult<()> {
        if self.private.is_empty() {
            return Ok(());
        }
        // Resolved, so `..` and symlinks cannot lead back in; what cannot be resolved is
        // refused (it could not be read anyway).
        let real = path
            .canonicalize()
            .map_err(|e| EngineError::invalid(format!("local source {url}: {e}")))?;
        let canon = |p: &PathBuf| p.canonicalize().unwrap_or_else(|_| p.clone());
        let inside = self.private.iter().any(|p| real.starts_with(canon(p)));
        let excepted = self.allowed.iter().any(|a| real.starts_with(canon(a)));
        if inside && !excepted {
            return Err(EngineError::invalid(format!(
                "local source {url} is inside the engine's data directory (its store, API token and keys); it is never a source"
            )));
        }
        Ok(())
    }
}

/// A repository a webhook said changed.
#[derive(Debug, Clone)]
struct Mark {
    /// The latest webhook's arrival.
    at: Instant,
    /// Commits the webhooks named.
    shas: Vec<String>,
    /// Some webhook named no commit: only a fetch settles the mark.
    unnamed: bool,
}

/// Repositories marked changed by webhooks, by URL.
#[derive(Debug, Default)]
pub struct Marks(Mutex<HashMap<String, Mark>>);

/// A commit id as webhooks send it (hex, 7 to 64 characters); anything else counts as none.
fn commit_id(sha: Option<&str>) -> Option<String> {
    let s = sha?.trim();
    ((7..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| s.to_ascii_lowercase())
}

impl Marks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Mark>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A webhook for `url`, naming the pushed commit when it can. Never waits for a fetch.
    pub fn mark(&self, url: &str, sha: Option<&str>) {
        let sha = commit_id(sha);
        let mut marks = self.lock();
        let m = marks.entry(url.to_string()).or_insert_with(|| Mark {
            at: Instant::now(),
            shas: Vec::new(),
            unnamed: false,
        });
        m.at = Instant::now();
        match sha {
            Some(s) if !m.shas.contains(&s) => m.shas.push(s),
            Some(_) => {}
            None => m.unnamed = true,
        }
    }

    /// Does a mark on `url` call for a fetch now? A mark is settled (and dropped) when a
    /// fetch started after it (`last_fetch`), or when `has` finds every commit it names.
    pub fn wants_fetch(
        &self,
        url: &str,
        last_fetch: Option<Instant>,
        has: impl Fn(&str) -> bool,
    ) -> bool {
        let mut marks = self.lock();
        let Some(m) = marks.get(url) else {
            return false;
        };
        let fetched_since = last_fetch.is_some_and(|t| t >= m.at);
        let all_there = !m.unnamed && !m.shas.is_empty() && m.shas.iter().all(|s| has(s));
        if fetched_since || all_there {
            marks.remove(url);
            return false;
        }
        true
    }

    /// A fetch that started at `started` succeeded: marks made before it are settled.
    pub fn fetched(&self, url: &str, started: Instant) {
        let mut marks = self.lock();
        if marks.get(url).is_some_and(|m| m.at <= started) {
            marks.remove(url);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defect_04_local_sources_need_the_operator_and_never_the_data_dir_or_api() {
        let data = tempfile::tempdir().unwrap();
        let demo = data.path().join("demo/repo");
        std::fs::create_dir_all(&demo).unwrap();
        let outside = tempfile::tempdir().unwrap();
        let g = SourceGuard {
            private: vec![data.path().to_path_buf()],
            allowed: vec![data.path().join("demo")],
            api: Some("127.0.0.1:8080".parse().unwrap()),
        };
        let out = outside.path().display().to_string();
        assert!(
            g.check(&out, false)
                .unwrap_err()
                .to_string()
                .contains("--allow-local-sources")
        );
        assert!(g.check(&format!("file://{out}"), false).is_err());
        assert!(g.check(&out, true).is_ok());
        let own = data.path().display().to_string();
        assert!(
            g.check(&own, true)
                .unwrap_err()
                .to_string()
                .contains("data directory")
        );
        let sneaky = format!("file://{}/demo/../", data.path().display());
        assert!(g.check(&sneaky, true).is_err());
        assert!(g.check(&demo.display().to_string(), true).is_ok());
        for api in [
            "http://127.0.0.1:8080/api/v1/applications",
            "http://localhost:8080/x.git",
            "http://[::1]:8080/x.git",
        ] {
            assert!(
                g.check(api, true)
                    .unwrap_err()
                    .to_string()
                    .contains("own API"),
                "{api}"
            );
        }
        assert!(g.check("https://github.com/o/r.git", false).is_ok());
        assert!(g.check("git@github.com:o/r.git", false).is_ok());
    }

    #[test]
    fn a_mark_is_settled_by_a_later_fetch_or_by_its_commits() {
        let m = Marks::default();
        let sha = "0123456789abcdef0123456789abcdef01234567";
        m.mark("u", Some(sha));
        assert!(m.wants_fetch("u", None, |_| false));
        // The mirror has the commit already: no fetch.
        assert!(!m.wants_fetch("u", None, |s| s == sha));
        assert!(
            !m.wants_fetch("u", None, |_| false),
            "settled marks stay settled"
        );
        // Without a commit, only a fetch started after the mark settles it.
        let before = Instant::now();
        m.mark("u", None);
        assert!(m.wants_fetch("u", Some(before), |_| true));
        m.fetched("u", Instant::now());
        assert!(!m.wants_fetch("u", None, |_| false));
        m.mark("u", Some("not-a-sha"));
        assert!(
            m.wants_fetch("u", None, |_| true),
            "a bogus sha counts as none"
        );
    }
}
