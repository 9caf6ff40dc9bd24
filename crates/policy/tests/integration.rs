//! The policy crate's integration tests: one binary, one module per concern.

mod gate;
mod policies;
mod repo;
mod schema;
