//! The notify crate's one integration-test binary.

mod common;
mod config;
mod crash;
mod dispatch;
mod email;
mod flow;
mod services;
mod sql;
