//! The API crate's integration tests, one test binary for all of them.

mod common;
mod openapi;
mod reliability;
mod roles;
mod storm;
mod unreachable;
mod webhook;
