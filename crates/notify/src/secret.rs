//! Secrets: values that must never appear in Debug output, logs, errors or API results.
//!
//! Configuration refers to them Argo CD style, `$slack-token` or `${slack-token}`, and a
//! [`SecretResolver`] (the store's encrypted secrets, a Kubernetes Secret, the environment) turns
//! the name into the value. [`Secret`] prints as `***`; [`Scrubber`] removes every resolved value
//! from text that may have captured one (a server's error body, a serde error).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

/// A sensitive string. `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Looks secret values up by name (`slack-token` for `$slack-token`).
pub trait SecretResolver: Send + Sync {
    fn resolve(&self, name: &str) -> Option<Secret>;
}

/// Secrets held in memory, e.g. the data of an `argocd-notifications-secret`.
#[derive(Clone, Default)]
pub struct StaticSecrets(BTreeMap<String, Secret>);

impl StaticSecrets {
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), Secret::new(v)))
                .collect(),
        )
    }
}

impl fmt::Debug for StaticSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl SecretResolver for StaticSecrets {
    fn resolve(&self, name: &str) -> Option<Secret> {
        self.0.get(name).cloned()
    }
}

/// Removes known secret values from text before it is shown anywhere.
#[derive(Clone, Default)]
pub struct Scrubber(Vec<String>);

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} values)", self.0.len())
    }
}

impl Scrubber {
    pub fn add(&mut self, value: &str) {
        // Very short values would blank out ordinary words; they are not worth hiding anyway.
        if value.len() >= 4 && !self.0.iter().any(|v| v == value) {
            self.0.push(value.to_owned());
            self.0.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.0 {
            out = out.replace(value.as_str(), "***");
        }
        out
    }
}

/// Replaces `$name` and `${name}` in `text` with resolved secrets; `$$` is a literal `$`.
/// Unknown names are an error naming the reference (never a value).
pub fn expand(
    text: &str,
    resolver: &dyn SecretResolver,
    scrubber: &mut Scrubber,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], &braced[end + 1..]),
                None => return Err(format!("unterminated secret reference `${{{braced}`")),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        let secret = resolver
            .resolve(name)
            .ok_or_else(|| format!("secret `${name}` is not defined"))?;
        scrubber.add(secret.expose());
        out.push_str(secret.expose());
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_argo_references_and_hides_values() {
        let secrets = StaticSecrets::new([("slack-token", "xoxb-123"), ("pw", "hunter22")]);
        let mut scrub = Scrubber::default();
        let out = expand("Bearer $slack-token:${pw}/$$x", &secrets, &mut scrub).unwrap();
        assert_eq!(out, "Bearer xoxb-123:hunter22/$x");
        assert_eq!(scrub.scrub("failed: xoxb-123 hunter22"), "failed: *** ***");
        assert_eq!(format!("{:?}", Secret::new("hunter22")), "***");
        let err = expand("$nope", &secrets, &mut scrub).unwrap_err();
        assert_eq!(err, "secret `$nope` is not defined");
    }
}
