//! The kube crate's integration tests, one test binary (one link, one copy on disk) for all of them.

mod cache;
mod conformance;
mod connect;
mod credentials;
