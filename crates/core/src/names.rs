//! Names of the engine's definitions, checked as Kubernetes checks object names (a DNS-1123
//! subdomain): they appear in URLs, file names under the data directory, tracking ids
//! (`app:group/kind:ns/name`) and, for Argo CD's format, as real object names. An empty name
//! could not be addressed, a very long one overflows every URL, and `:` or `/` would break
//! the tracking id, so each is refused with the reason.

/// The longest name Kubernetes accepts for most objects.
pub const MAX_NAME: usize = 253;

/// Checks `name` as a DNS-1123 subdomain: at most 253 characters, lowercase letters, digits,
/// `-` and `.`, starting and ending with a letter or digit. The error names the kind and
/// the reason, and quotes at most the first 64 characters.
pub fn validate(kind: &str, name: &str) -> Result<(), String> {
    let shown: String = name.chars().take(64).collect();
    let shown = if shown.len() < name.len() {
        format!("{shown:?}...")
    } else {
        format!("{shown:?}")
    };
    let reason = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.len() > MAX_NAME {
        Some(format!(
            "it is {} characters long, over the {MAX_NAME} allowed",
            name.len()
        ))
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        Some(format!(
            "{c:?} is not allowed (lowercase letters, digits, '-' and '.' only)"
        ))
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some("it must start and end with a letter or digit".to_string())
    } else {
        None
    };
    match reason {
        Some(r) => Err(format!(
            "{kind} name {shown} is not a valid name (DNS-1123 subdomain): {r}"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn kubernetes_names_pass_and_the_rest_says_why() {
        for ok in ["web", "team-a.prod", "a", "0x1"] {
            assert!(validate("application", ok).is_ok(), "{ok}");
        }
        let cases = [
            ("", "empty"),
            ("a:b", "':'"),
            ("Web", "'W'"),
            ("-web", "start and end"),
            ("web.", "start and end"),
            ("a/b", "'/'"),
        ];
        for (bad, why) in cases {
            let e = validate("application", bad).unwrap_err();
            assert!(e.contains(why) && e.starts_with("application name"), "{e}");
        }
        let long = "a".repeat(100_000);
        let e = validate("project", &long).unwrap_err();
        assert!(e.contains("100000 characters") && e.len() < 300, "{e}");
    }
}
