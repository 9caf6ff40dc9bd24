//! The API crate's integration tests, one test binary for all of them.

mod common;
mod reliability;
mod roles;
mod storm;
mod unreachable;
mod webhook;
