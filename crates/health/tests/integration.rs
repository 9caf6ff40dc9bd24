//! The health crate's one integration-test binary.

mod assessor;
mod builtin_fixtures;
mod lua_fixtures;
