//! Git-style URL rewriting (`url.<base>.insteadOf <prefix>`), pure: a repository URL that
//! starts with a rule's prefix is fetched from the rule's base followed by the rest of the
//! URL, so definitions and scripts written for public hosts run against mirrors. As in Git,
//! the longest matching prefix wins, and a rewritten URL is not rewritten again.

/// One rule: URLs starting with `instead_of` are fetched from `base` + the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<'a> {
    pub base: &'a str,
    pub instead_of: &'a str,
}

/// The URL to fetch `url` from; `None` when no rule applies.
pub fn rewrite<'a>(url: &str, rules: impl IntoIterator<Item = Rule<'a>>) -> Option<String> {
    rules
        .into_iter()
        .filter(|r| !r.instead_of.is_empty() && url.starts_with(r.instead_of))
        .max_by_key(|r| r.instead_of.len())
        .map(|r| format!("{}{}", r.base, &url[r.instead_of.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule<'a>(base: &'a str, instead_of: &'a str) -> Rule<'a> {
        Rule { base, instead_of }
    }

    #[test]
    fn the_longest_prefix_wins_like_git() {
        let rules = [
            rule("http://127.0.0.1:9/all/", "https://github.com/"),
            rule("file:///srv/company/", "https://github.com/company/"),
        ];
        assert_eq!(
            rewrite("https://github.com/company/k8s-dev", rules.clone()).as_deref(),
            Some("file:///srv/company/k8s-dev")
        );
        assert_eq!(
            rewrite("https://github.com/other/x.git", rules.clone()).as_deref(),
            Some("http://127.0.0.1:9/all/other/x.git")
        );
        assert_eq!(rewrite("https://gitlab.com/company/x", rules.clone()), None);
    }

    #[test]
    fn an_empty_prefix_matches_nothing() {
        assert_eq!(rewrite("https://x/y", [rule("http://m/", "")]), None);
    }
}
