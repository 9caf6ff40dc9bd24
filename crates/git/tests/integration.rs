//! The git crate's integration tests, one test binary (one link, one copy on disk) for all of them.

mod http;
mod render_cache;
mod ssh;
mod writeback;
