//! The kube crate's integration tests, one test binary (one link, one copy on disk) for all of them.

mod cache;
mod conformance;
mod conformance_api;
mod conformance_workloads;
mod connect;
mod credentials;
mod custom;
mod incluster;
mod tls_front;
