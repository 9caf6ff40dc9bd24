//! The API crate's integration tests, one test binary for all of them.

mod reliability;
mod roles;
mod storm;
mod unreachable;
mod webhook;
