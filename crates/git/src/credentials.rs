//! Repository credentials. Secrets are held in [`Secret`], whose `Debug` and `Display` print
//! `***`, and reach Git only through callbacks, environment of a child process or a file
//! readable by the current user only — never argv, never a URL, never a log line.

use std::fmt;
use std::path::PathBuf;

/// A secret string that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; call sites are the few places that hand it to Git.
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

/// How to authenticate to a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    #[default]
    None,
    /// HTTP basic auth.
    Basic { username: String, password: Secret },
    /// HTTP bearer token (sent as `Authorization: Bearer`).
    Bearer { token: Secret },
    /// SSH private key file and the managed known_hosts file; host keys are always checked.
    SshKey {
        private_key: PathBuf,
        known_hosts: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Credentials::Basic {
            username: "bot".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(format!("{}", Secret::new("x")), "***");
    }
}
