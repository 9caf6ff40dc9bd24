//! Git for Driftless: bare mirrors fetched with gix, revisions resolved (branch, tag, SHA,
//! semver range), trees read at a commit without a work tree, and write-back commits built
//! with gix and pushed with the `git` CLI (never forced).
//!
//! Every URL passes [`url::check`] first; credentials live in [`Credentials`] and never reach
//! argv, URLs, logs or errors.

mod credentials;
mod error;
pub mod mirror;
pub mod revision;
pub mod tree;
pub mod url;
pub mod writeback;

pub use credentials::{Credentials, Secret};
pub use error::GitError;
pub use mirror::{FetchOptions, FetchOutcome, Mirror};
pub use tree::GitTree;
pub use url::UrlPolicy;
