//! The core crate's integration tests, one test binary for all of them.

mod fuzz_replay;
mod regressions;
mod reliability;
