//! The YAML budget shared by several streams of one task (a render, a request): a thread-local
//! [`Budget`] that [`scoped`] installs and every [`super::parse_stream`] on the thread charges,
//! on top of each stream's own limits. Nodes and scalar bytes are counted on the values as
//! built, so aliases count as often as they are expanded.

use std::cell::RefCell;

use serde_json::Value;

/// What is left of a budget shared by several streams (see [`scoped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub nodes: usize,
    pub scalar_bytes: usize,
    pub documents: usize,
    pub bytes: usize,
}

impl Budget {
    /// The default budget of one render or one request: a few streams' worth.
    pub fn for_task() -> Budget {
        Budget {
            nodes: 1_000_000,
            scalar_bytes: 48 * 1024 * 1024,
            documents: 50_000,
            bytes: 64 * 1024 * 1024,
        }
    }
}

thread_local! {
    static SCOPE: RefCell<Option<Budget>> = const { RefCell::new(None) };
}

/// Runs `f` with `budget` shared by every stream parsed on this thread inside it (one render,
/// one request), on top of each stream's own [`Limits`]. Returns what is left with `f`'s result.
/// Scopes nest: the inner one is charged, and what it used is charged to the outer one.
pub fn scoped<T>(budget: Budget, f: impl FnOnce() -> T) -> (T, Budget) {
    let outer = SCOPE.with(|s| s.replace(Some(budget)));
    let out = f();
    let left = SCOPE.with(|s| s.replace(outer)).unwrap_or(budget);
    if outer.is_some() {
        charge_scope(Usage {
            nodes: budget.nodes - left.nodes,
            scalar_bytes: budget.scalar_bytes - left.scalar_bytes,
            documents: budget.documents - left.documents,
            bytes: budget.bytes - left.bytes,
        });
    }
    (out, left)
}

/// What a parse consumed.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Usage {
    pub(super) nodes: usize,
    pub(super) scalar_bytes: usize,
    pub(super) documents: usize,
    pub(super) bytes: usize,
}

pub(super) fn scope_left() -> Option<Budget> {
    SCOPE.with(|s| *s.borrow())
}

pub(super) fn charge_scope(u: Usage) {
    SCOPE.with(|s| {
        if let Some(b) = s.borrow_mut().as_mut() {
            b.nodes = b.nodes.saturating_sub(u.nodes);
            b.scalar_bytes = b.scalar_bytes.saturating_sub(u.scalar_bytes);
            b.documents = b.documents.saturating_sub(u.documents);
            b.bytes = b.bytes.saturating_sub(u.bytes);
        }
    })
}

/// Nodes (scalars, keys, containers) and scalar bytes of a value, without recursion (a
/// deep value must not overflow the stack here either).
pub(super) fn measure(value: &Value) -> (usize, usize) {
    let (mut nodes, mut bytes) = (0usize, 0usize);
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        nodes += 1;
        match v {
            Value::String(s) => bytes += s.len(),
            Value::Number(_) | Value::Bool(_) | Value::Null => bytes += 1,
            Value::Array(a) => stack.extend(a.iter()),
            Value::Object(m) => {
                for (k, v) in m {
                    nodes += 1;
                    bytes += k.len();
                    stack.push(v);
                }
            }
        }
    }
    (nodes, bytes)
}
