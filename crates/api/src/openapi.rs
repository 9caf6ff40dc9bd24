//! The OpenAPI document served at `GET /api/v1/openapi.json`, half written, half generated.
//!
//! `openapi.json` beside this file describes the routes by hand (paths, summaries, parameters,
//! status codes, and which named schema each JSON body is). The schemas themselves
//! (`components.schemas`) are generated from the Rust types the handlers answer with and the
//! CLI reads ([`crate::types`] and the engine, store, diff and health types inside them):
//! schemars reads their serde attributes, so a renamed field or a new status value changes the
//! document with the code instead of leaving a handwritten schema to go stale. The tests below
//! check the handwritten half: every route is documented, every reference resolves, and
//! real answers have the fields their schema lists.

use std::sync::LazyLock;

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value};

use driftless_store::{AuditEntry, Event, HistoryEntry, Operation};

use crate::types::*;

/// The served document, built on first use.
pub(crate) fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        let mut doc: Value = serde_json::from_str(include_str!("openapi.json"))
            .expect("the embedded OpenAPI document is JSON");
        doc["components"]["schemas"] = Value::Object(schemas());
        doc
    });
    &DOCUMENT
}

/// The answers, described as the server writes them: a field it always writes is required
/// (perhaps `nullable`), one it skips when empty is not.
fn answers(g: &mut SchemaGenerator) {
    g.subschema_for::<Page<AppView>>();
    g.subschema_for::<Page<AppSummary>>();
    g.subschema_for::<AppView>();
    g.subschema_for::<AppCreated>();
    g.subschema_for::<AppPatched>();
    g.subschema_for::<AppDeleted>();
    g.subschema_for::<Queued>();
    g.subschema_for::<DryRun>();
    g.subschema_for::<DiffView>();
    g.subschema_for::<HealPaused>();
    g.subschema_for::<Items<HistoryEntry>>();
    g.subschema_for::<Items<Operation>>();
    g.subschema_for::<Operation>();
    g.subschema_for::<Items<Event>>();
    g.subschema_for::<Items<AuditEntry>>();
    g.subschema_for::<ImageSet>();
    g.subschema_for::<StageImageSet>();
    g.subschema_for::<DoraAnswer>();
}

/// The request bodies, described as the server reads them: a field with a default may be
/// left out.
fn requests(g: &mut SchemaGenerator) {
    g.subschema_for::<SyncOptions>();
    g.subschema_for::<RollbackRequest>();
    g.subschema_for::<PauseHealRequest>();
    g.subschema_for::<SetImageRequest>();
}

/// `components.schemas`: OpenAPI 3.0 schemas (`nullable`, refs to `#/components/schemas/`).
fn schemas() -> Map<String, Value> {
    let generate = |settings: SchemaSettings, add: fn(&mut SchemaGenerator)| {
        let mut g = settings.into_generator();
        add(&mut g);
        g.take_definitions(true)
    };
    let mut all = generate(SchemaSettings::openapi3().for_serialize(), answers);
    for (name, schema) in generate(SchemaSettings::openapi3().for_deserialize(), requests) {
        if let Some(written) = all.get(&name) {
            // One name, one schema: a type both read and written must read what it writes.
            assert_eq!(
                written, &schema,
                "schema {name} differs as written and as read"
            );
        }
        all.insert(name, schema);
    }
    all.sort_keys();
    all
}

#[cfg(test)]
mod fit;
#[cfg(test)]
mod fit_tests;
#[cfg(test)]
mod samples;
#[cfg(test)]
mod tests;
