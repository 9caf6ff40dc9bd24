//! Revision resolution over a mirror's refs: `HEAD`, branch, tag, full or short SHA, and
//! semver ranges over tags like Flux's `ref.semver` (`>=1.2 <2`, `~1.4`, `1.x`; a leading `v`
//! on tags is accepted; pre-releases only when the range names one).

/// A ref and the commit it points to (tags peeled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefEntry {
    pub name: String,
    pub id: String,
}

fn looks_like_sha(s: &str) -> bool {
    (4..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn looks_like_range(s: &str) -> bool {
    s.contains(['<', '>', '=', '~', '^', '*', ' ', ',']) || s.ends_with(".x") || s.contains(".x.")
}

/// Turns Masterminds-style ranges (space-separated AND) into the `semver` crate's syntax.
fn to_version_req(range: &str) -> Option<semver::VersionReq> {
    let mut parts: Vec<String> = Vec::new();
    let mut pending_op = String::new();
    for tok in range.split([' ', ',']).filter(|t| !t.is_empty()) {
        if tok
            .chars()
            .all(|c| matches!(c, '<' | '>' | '=' | '~' | '^'))
        {
            pending_op = tok.to_string();
            continue;
        }
        parts.push(format!("{pending_op}{tok}"));
        pending_op.clear();
    }
    semver::VersionReq::parse(&parts.join(", ")).ok()
}

fn tag_version(name: &str) -> Option<semver::Version> {
    let tag = name.strip_prefix("refs/tags/")?;
    let v = tag.strip_prefix('v').unwrap_or(tag);
    semver::Version::parse(v).ok()
}

/// Resolves `rev` to a commit id. `head` is the mirror's HEAD target (`refs/heads/main`);
/// `by_sha` looks an abbreviated or full object id up. The error is a hint for the message.
pub fn resolve(
    rev: &str,
    refs: &[RefEntry],
    head: Option<&str>,
    by_sha: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let find = |name: &str| refs.iter().find(|r| r.name == name).map(|r| r.id.clone());
    let rev = rev.trim();
    if rev.is_empty() || rev == "HEAD" {
        let head = head.ok_or_else(|| ": the remote advertised no default branch".to_string())?;
        return find(head).ok_or_else(|| format!(": default branch `{head}` has no commit"));
    }
    if rev.starts_with("refs/")
        && let Some(id) = find(rev)
    {
        return Ok(id);
    }
    if let Some(id) =
        find(&format!("refs/heads/{rev}")).or_else(|| find(&format!("refs/tags/{rev}")))
    {
        return Ok(id);
    }
    if looks_like_sha(rev) {
        if let Some(id) = by_sha(rev) {
            return Ok(id);
        }
        return Err(": no such commit in the mirror (was it removed by a force-push?)".into());
    }
    if looks_like_range(rev) {
        let req = to_version_req(rev)
            .ok_or_else(|| format!(": `{rev}` is neither a ref nor a valid semver range"))?;
        let best = refs
            .iter()
            .filter_map(|r| tag_version(&r.name).map(|v| (v, r)))
            .filter(|(v, _)| req.matches(v))
            .max_by(|a, b| a.0.cmp(&b.0));
        return best
            .map(|(_, r)| r.id.clone())
            .ok_or_else(|| format!(": no tag satisfies `{rev}`"));
    }
    let mut branches: Vec<&str> = refs
        .iter()
        .filter_map(|r| r.name.strip_prefix("refs/heads/"))
        .take(5)
        .collect();
    branches.sort();
    Err(format!(
        " (no such branch or tag; branches include: {})",
        branches.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs() -> Vec<RefEntry> {
        [
            ("refs/heads/main", "aaa1"),
            ("refs/heads/dev", "bbb2"),
            ("refs/tags/v1.2.0", "c120"),
            ("refs/tags/v1.4.3", "c143"),
            ("refs/tags/1.5.0", "c150"),
            ("refs/tags/v2.0.0", "c200"),
            ("refs/tags/v2.1.0-rc.1", "c21r"),
            ("refs/tags/latest", "cccc"),
        ]
        .into_iter()
        .map(|(n, i)| RefEntry {
            name: n.into(),
            id: i.into(),
        })
        .collect()
    }

    fn r(rev: &str) -> Result<String, String> {
        resolve(rev, &refs(), Some("refs/heads/main"), |s| {
            (s == "deadbeef").then(|| "deadbeef00".to_string())
        })
    }

    #[test]
    fn branches_tags_head_and_shas() {
        assert_eq!(r("HEAD").unwrap(), "aaa1");
        assert_eq!(r("").unwrap(), "aaa1");
        assert_eq!(r("dev").unwrap(), "bbb2");
        assert_eq!(r("latest").unwrap(), "cccc");
        assert_eq!(r("refs/tags/v1.2.0").unwrap(), "c120");
        assert_eq!(r("deadbeef").unwrap(), "deadbeef00");
        assert!(r("cafe1234").unwrap_err().contains("force-push"));
        assert!(
            r("nope")
                .unwrap_err()
                .contains("branches include: dev, main")
        );
    }

    #[test]
    fn semver_ranges_pick_the_highest_matching_tag() {
        assert_eq!(r(">=1.2 <2").unwrap(), "c150");
        assert_eq!(r("~1.4").unwrap(), "c143");
        assert_eq!(r("1.x").unwrap(), "c150");
        assert_eq!(
            r(">= 2.0.0").unwrap(),
            "c200",
            "pre-releases are skipped unless asked for"
        );
        assert!(r(">=3").unwrap_err().contains("no tag satisfies"));
    }
}
