//! `driftless run`: Lua workflows against a running engine — the documented examples
//! unchanged, and the project's own scripts for each flow, checked by their effect on the
//! sandbox cluster and in the audit log.

mod examples;
mod flows;
mod release;
mod rig;
mod standalone;
mod terminal;
