//! The engine crate's integration tests, one test binary (one link, one copy on disk) for all of them.

mod common;
mod controller;
mod definitions;
mod fallbacks;
mod freight;
mod images;
mod noop;
mod notifications;
mod promotion;
mod reliability_fault;
mod reliability_fault_input;
mod reliability_input;
mod rollback;
mod rollout;
mod sync;
