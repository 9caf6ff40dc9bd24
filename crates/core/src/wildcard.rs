//! `*` wildcards, as Argo CD uses them in projects and as Driftless uses them in health check
//! selectors: `*` matches any run of characters (including none); nothing else is special.

/// Whether `s` matches `pattern`.
pub fn matches(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            let Some(rest) = s.strip_prefix(head) else {
                return false;
            };
            // Try every split point on a character boundary.
            rest.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(rest.len()))
                .any(|i| matches(tail, &rest[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_match_any_run() {
        assert!(matches("*", ""));
        assert!(matches("team-*", "team-a"));
        assert!(matches(
            "https://github.com/org/*",
            "https://github.com/org/repo.git"
        ));
        assert!(matches("*.example.com", "db.example.com"));
        assert!(!matches("*.example.com", "example.org"));
        assert!(matches("a*b*c", "a-x-b-y-c"));
        assert!(!matches("a*b*c", "a-x-c"));
        assert!(
            matches("é*", "été"),
            "multi-byte characters are never split"
        );
    }
}
