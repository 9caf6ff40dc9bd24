//! The render crate's one integration-test binary.

mod directory_and_plugin;
mod kustomize_krusty;
