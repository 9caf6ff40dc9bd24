//! The handwritten half checked: every route documented, every reference resolving, the
//! shared types named by the paths, and the query types documented as parameters.

use std::collections::BTreeSet;

use schemars::generate::SchemaSettings;

use super::document;
use super::fit::{PREFIX, components, refs};
use crate::types::*;

/// Every route the router serves is in the OpenAPI document (a new route without its
/// documentation fails here).
#[test]
fn every_route_is_documented() {
    let doc = document();
    // The router, not lib.rs's tests.
    let source = include_str!("../lib.rs")
        .split("#[cfg(test)]")
        .next()
        .unwrap();
    let mut checked = 0;
    // Each `route` call, its path literal on the same line or the next.
    for chunk in source.split(".route(").skip(1) {
        let Some(rest) = chunk.trim_start().strip_prefix('"') else {
            continue;
        };
        let path = rest.split('"').next().unwrap();
        let outside_api =
            ["/healthz", "/readyz", "/metrics", "/"].contains(&path) || path.starts_with("/ui/");
        let full = if outside_api {
            path.to_string()
        } else {
            format!("/api/v1{path}")
        };
        assert!(
            doc["paths"].get(&full).is_some(),
            "{full} is served but not in openapi.json"
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} routes found in lib.rs");
}

/// A reference to a schema nobody generates (a typo in openapi.json, a type renamed in
/// Rust, a generic wrapper whose name changed) fails here, wherever it is.
#[test]
fn every_ref_resolves_to_a_generated_schema() {
    let mut found = Vec::new();
    refs(document(), String::new(), &mut found);
    assert!(!found.is_empty());
    for (at, r) in found {
        let name = r
            .strip_prefix(PREFIX)
            .unwrap_or_else(|| panic!("{at}: $ref {r} is not under {PREFIX}"));
        assert!(
            components().contains_key(name),
            "{at}: $ref {r} names no schema; generated: {:?}",
            components().keys().collect::<Vec<_>>()
        );
    }
}

/// The shared types are what the paths answer with: each generated top-level schema is
/// used by some path, and most application routes name theirs.
#[test]
fn paths_name_the_shared_types() {
    let mut operations = 0;
    let mut used = BTreeSet::new();
    for (path, item) in document()["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let mut found = Vec::new();
            refs(op, String::new(), &mut found);
            if !found.is_empty() {
                operations += 1;
            }
            for (at, r) in found {
                let name = r.strip_prefix(PREFIX).unwrap_or(r);
                assert!(
                    components().contains_key(name),
                    "{method} {path}{at}: no schema {name}"
                );
                used.insert(name.to_string());
            }
        }
    }
    assert!(
        operations >= 15,
        "only {operations} operations name a shared type"
    );
    // Every generated schema is one a path names, or inside one.
    let mut reachable = used.clone();
    let mut next: Vec<String> = used.into_iter().collect();
    while let Some(name) = next.pop() {
        let mut inner = Vec::new();
        refs(&components()[name.as_str()], String::new(), &mut inner);
        for (_, r) in inner {
            let r = r.strip_prefix(PREFIX).unwrap_or(r).to_string();
            if reachable.insert(r.clone()) {
                next.push(r);
            }
        }
    }
    for name in components().keys() {
        assert!(
            reachable.contains(name),
            "schema {name} is generated but no path names it"
        );
    }
}

/// The query types' fields are the query parameters the paths document (a field added
/// to a query type without its documentation fails here).
#[test]
fn query_types_are_documented_parameters() {
    let mut g = SchemaSettings::openapi3()
        .for_deserialize()
        .into_generator();
    for (method, path, schema) in [
        (
            "get",
            "/api/v1/applications",
            g.root_schema_for::<ListQuery>(),
        ),
        (
            "delete",
            "/api/v1/applications/{name}",
            g.root_schema_for::<DeleteQuery>(),
        ),
        (
            "get",
            "/api/v1/applications/{name}/diff",
            g.root_schema_for::<DiffQuery>(),
        ),
        (
            "get",
            "/api/v1/applications/{name}/events",
            g.root_schema_for::<After>(),
        ),
    ] {
        let fields: BTreeSet<&str> = schema.as_value()["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let documented: BTreeSet<&str> = document()["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields, documented,
            "{method} {path}: query fields vs parameters"
        );
    }
}
