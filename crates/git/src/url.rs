//! Repository URLs and the policy that decides which ones Driftless may contact.
//!
//! - `https://`, `ssh://` and scp-style `user@host:path` are allowed; `http://` and `git://`
//!   only when the repository is marked insecure (or is a loopback address with local sources
//!   allowed).
//! - `file://` and local paths, and any host resolving to loopback, only with local sources
//!   allowed (the demo and the tests).
//! - Link-local and cloud metadata addresses are refused always (SSRF through a repo URL).
//! - `ext::`, `fd::` and every other transport helper are refused: they run commands.
//! - Credentials written into the URL are refused: they would end up in logs and the store.
//! - Browser pseudo-schemes (`javascript:`, `data:`) are refused, never read as `host:path`.

use std::net::{IpAddr, ToSocketAddrs};

use crate::GitError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Https,
    Http,
    Git,
    Ssh,
    File,
}

/// A parsed repository URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl {
    /// As given (it holds no credentials: those are refused).
    pub raw: String,
    pub scheme: Scheme,
    pub host: Option<String>,
    pub port: Option<u16>,
}

/// What the engine allows for one repository.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// `file://`, local paths and loopback hosts (the demo and the tests).
    pub allow_local: bool,
    /// Plain `http://` and `git://` to non-loopback hosts.
    pub allow_insecure: bool,
}

fn refused(url: &str, reason: impl Into<String>) -> GitError {
    GitError::UrlRefused {
        url: redact(url),
        reason: reason.into(),
    }
}

/// Parses a URL without resolving anything.
pub fn parse(url: &str) -> Result<RepoUrl, GitError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("ext::")
        || lower.starts_with("fd::")
        || url.contains("::") && !url.contains("://")
    {
        return Err(refused(
            url,
            "transport helpers (`ext::`, `fd::`, `<helper>::`) run commands and are never allowed",
        ));
    }
    if url.starts_with('-') {
        return Err(refused(url, "a URL may not start with '-'"));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            "git" => Scheme::Git,
            "ssh" | "git+ssh" | "ssh+git" => Scheme::Ssh,
            "file" => {
                return Ok(RepoUrl {
                    raw: url.into(),
                    scheme: Scheme::File,
                    host: None,
                    port: None,
                });
            }
            other => {
                return Err(refused(
                    url,
                    format!("scheme `{other}` is not supported (use https, ssh or file)"),
                ));
            }
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let hostport = match authority.rsplit_once('@') {
            Some((userinfo, hp)) => {
                if userinfo.contains(':') && scheme != Scheme::Ssh {
                    return Err(refused(
                        url,
                        "credentials in the URL are not allowed; configure them on the repository",
                    ));
                }
                hp
            }
            None => authority,
        };
        let (host, port) =
            split_host_port(hostport).ok_or_else(|| refused(url, "cannot parse the host"))?;
        if host.is_empty() {
            return Err(refused(url, "the URL has no host"));
        }
        return Ok(RepoUrl {
            raw: url.into(),
            scheme,
            host: Some(host),
            port,
        });
    }
    // Browser pseudo-schemes: never a repository, and inert nowhere but here (a UI link).
    if let Some((before, _)) = url.split_once(':')
        && matches!(
            before.trim().to_ascii_lowercase().as_str(),
            "javascript" | "data" | "vbscript" | "about" | "blob"
        )
    {
        return Err(refused(url, "this is not a repository URL"));
    }
    // scp-like `user@host:path` (a colon before any slash), else a local path.
    if let Some((before, _)) = url.split_once(':')
        && !before.contains('/')
        && before.len() > 1
    {
        let host = before.rsplit_once('@').map(|(_, h)| h).unwrap_or(before);
        return Ok(RepoUrl {
            raw: url.into(),
            scheme: Scheme::Ssh,
            host: Some(host.trim_matches(['[', ']']).to_string()),
            port: None,
        });
    }
    Ok(RepoUrl {
        raw: url.into(),
        scheme: Scheme::File,
        host: None,
        port: None,
    })
}

fn split_host_port(hp: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = hp.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .map(|p| p.parse().ok())
            .unwrap_or(Some(0))?;
        return Some((h.to_string(), (port != 0).then_some(port)));
    }
    match hp.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None => Some((hp.to_string(), None)),
    }
}

/// Addresses never contacted: link-local (which holds the cloud metadata services) and the
/// known metadata endpoints outside it.
fn always_refused(ip: &IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if o[0] == 169 && o[1] == 254 {
                Some("link-local / cloud metadata address")
            } else if o == [100, 100, 100, 200] {
                Some("cloud metadata address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return always_refused(&IpAddr::V4(v4));
            }
            let s = v6.segments();
            if (s[0] & 0xffc0) == 0xfe80 {
                Some("link-local address")
            } else if s == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] {
                Some("cloud metadata address")
            } else {
                None
            }
        }
    }
}

fn is_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
            is_local(&IpAddr::V4(v6.to_ipv4_mapped().expect("checked")))
        }
        ip => ip.is_loopback() || ip.is_unspecified(),
    }
}

/// Checks a URL against the policy, resolving its host. Returns the parsed URL.
pub fn check(url: &str, policy: &UrlPolicy) -> Result<RepoUrl, GitError> {
    let parsed = parse(url)?;
    if parsed.scheme == Scheme::File {
        if !policy.allow_local {
            return Err(refused(
                url,
                "local repositories (file:// or a path) are only allowed when local sources are enabled",
            ));
        }
        return Ok(parsed);
    }
    let host = parsed.host.clone().unwrap_or_default();
    let port = parsed.port.unwrap_or(match parsed.scheme {
        Scheme::Https => 443,
        Scheme::Http => 80,
        Scheme::Git => 9418,
        _ => 22,
    });
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| refused(url, format!("cannot resolve host `{host}`: {e}")))?
            .map(|a| a.ip())
            .collect(),
    };
    let mut local = false;
    for ip in &addrs {
        if let Some(why) = always_refused(ip) {
            return Err(refused(url, format!("`{host}` resolves to a {why}")));
        }
        local |= is_local(ip);
    }
    if local && !policy.allow_local {
        return Err(refused(
            url,
            format!("`{host}` is a loopback address; local sources are not enabled"),
        ));
    }
    if matches!(parsed.scheme, Scheme::Http | Scheme::Git)
        && !policy.allow_insecure
        && !(local && policy.allow_local)
    {
        return Err(refused(
            url,
            "unencrypted transports (http://, git://) need the repository to be marked insecure",
        ));
    }
    Ok(parsed)
}

/// The URL as shown in messages: scheme, host and path, never user info.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((authority, path)) => {
                let host = authority
                    .rsplit_once('@')
                    .map(|(_, h)| h)
                    .unwrap_or(authority);
                format!("{scheme}://{host}/{path}")
            }
            None => format!(
                "{scheme}://{}",
                rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest)
            ),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_local: false,
        allow_insecure: false,
    };
    const LOCAL: UrlPolicy = UrlPolicy {
        allow_local: true,
        allow_insecure: false,
    };

    #[test]
    fn command_running_transports_are_refused() {
        for u in [
            "ext::sh -c touch% /tmp/pwned",
            "fd::17",
            "foo::bar",
            "-oProxyCommand=x",
        ] {
            assert!(
                matches!(check(u, &LOCAL), Err(GitError::UrlRefused { .. })),
                "{u}"
            );
        }
    }

    #[test]
    fn metadata_and_link_local_are_refused_even_when_local_is_allowed() {
        for u in [
            "https://169.254.169.254/latest",
            "http://[fe80::1]/x",
            "https://100.100.100.200/x",
            "https://[::ffff:169.254.169.254]/x",
            "ssh://git@[fd00:ec2::254]/r",
        ] {
            let err = check(
                u,
                &UrlPolicy {
                    allow_local: true,
                    allow_insecure: true,
                },
            )
            .unwrap_err();
            assert!(
                err.to_string().contains("metadata") || err.to_string().contains("link-local"),
                "{u}: {err}"
            );
        }
    }

    #[test]
    fn loopback_and_file_need_local_sources() {
        for u in [
            "https://127.0.0.1/r.git",
            "ssh://git@localhost/r",
            "file:///srv/r.git",
            "/srv/r.git",
            "https://[::1]/r",
        ] {
            assert!(check(u, &STRICT).is_err(), "{u}");
            assert!(check(u, &LOCAL).is_ok(), "{u}");
        }
    }

    #[test]
    fn plain_http_needs_insecure_except_on_allowed_loopback() {
        assert!(check("http://10.1.2.3/r.git", &STRICT).is_err());
        assert!(
            check(
                "http://10.1.2.3/r.git",
                &UrlPolicy {
                    allow_local: false,
                    allow_insecure: true
                }
            )
            .is_ok()
        );
        assert!(check("http://127.0.0.1:8080/r.git", &LOCAL).is_ok());
    }

    #[test]
    fn credentials_in_urls_are_refused_and_redacted() {
        let err = check("https://bot:hunter2@10.0.0.1/r.git", &STRICT).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("credentials in the URL"), "{err}");
        assert_eq!(
            redact("https://bot:hunter2@host/r.git"),
            "https://host/r.git"
        );
    }

    #[test]
    fn scp_style_is_ssh() {
        let u = parse("git@github.example:team/repo.git").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_deref()),
            (Scheme::Ssh, Some("github.example"))
        );
        assert_eq!(parse("./local/path").unwrap().scheme, Scheme::File);
    }
}
