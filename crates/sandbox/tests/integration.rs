//! The sandbox crate's integration tests, one test binary (one link, one copy on disk) for all of them.

mod api;
mod common;
mod conformance;
mod controllers;
mod durable;
mod lifecycle;
mod ssa;
mod strict;
