//! The cli crate's integration tests, one test binary (one link, one copy on disk) for all of them.

mod health_checks;
mod install;
mod install_crds;
mod install_pod;
mod notifications;
mod notifications_flows;
mod notifications_ui;
mod promote;
mod render;
mod sandbox;
mod scripts;
mod shards;
mod sync_cli;
mod ui;
mod up;
mod validate;
