//! The cli crate's integration tests, one test binary (one link, one copy on disk) for all of them.

mod health_checks;
mod promote;
mod render;
mod sandbox;
mod scripts;
mod shards;
mod sync_cli;
mod ui;
mod up;
mod validate;
