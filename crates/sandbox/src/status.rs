//! API errors in the exact shapes a v1.36 server answers with (see the recorded transcripts):
//! a `Status` object with reason, message, details and code. One place maps each error to its
//! HTTP status and body.

use serde_json::{Value, json};

use crate::registry::ResourceType;

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// `deployments.apps "nope" not found`.
    NotFound {
        qualified: String,
        group: String,
        plural: String,
        name: String,
    },
    AlreadyExists {
        qualified: String,
        group: String,
        plural: String,
        name: String,
    },
    /// resourceVersion precondition failed on update.
    Conflict {
        qualified: String,
        group: String,
        plural: String,
        name: String,
    },
    /// Creating in a namespace that is being deleted.
    NamespaceTerminating {
        namespace: String,
        qualified: String,
        group: String,
        plural: String,
        name: String,
    },
    BadRequest(String),
    /// 422: the object is invalid; `kind` is the Kind (as the server names it here).
    Invalid {
        kind: String,
        group: String,
        name: String,
        causes: Vec<(String, String, String)>,
    },
    /// 500 without reason or details, as the server answers a typed-patch failure.
    Internal(String),
    /// Server-side apply conflicts: (cause message, field path) per conflict.
    ApplyConflict {
        message: String,
        causes: Vec<(String, String)>,
    },
    MethodNotAllowed(String),
    UnsupportedMediaType(String),
    /// `410 Gone` for a watch from a compacted resourceVersion.
    Expired(String),
    /// An unknown path: plain text `404 page not found`, as the real mux answers.
    PageNotFound,
    Unauthorized,
}

impl ApiError {
    pub fn not_found(t: &ResourceType, name: &str) -> Self {
        ApiError::NotFound {
            qualified: t.qualified(),
            group: t.group.clone(),
            plural: t.plural.clone(),
            name: name.into(),
        }
    }

    pub fn already_exists(t: &ResourceType, name: &str) -> Self {
        ApiError::AlreadyExists {
            qualified: t.qualified(),
            group: t.group.clone(),
            plural: t.plural.clone(),
            name: name.into(),
        }
    }

    pub fn conflict(t: &ResourceType, name: &str) -> Self {
        ApiError::Conflict {
            qualified: t.qualified(),
            group: t.group.clone(),
            plural: t.plural.clone(),
            name: name.into(),
        }
    }

    pub fn namespace_not_found(ns: &str) -> Self {
        ApiError::NotFound {
            qualified: "namespaces".into(),
            group: String::new(),
            plural: "namespaces".into(),
            name: ns.into(),
        }
    }

    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::PageNotFound => 404,
            ApiError::AlreadyExists { .. }
            | ApiError::Conflict { .. }
            | ApiError::ApplyConflict { .. } => 409,
            ApiError::NamespaceTerminating { .. } => 403,
            ApiError::BadRequest(_) => 400,
            ApiError::Invalid { .. } => 422,
            ApiError::Internal(_) => 500,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Expired(_) => 410,
            ApiError::Unauthorized => 401,
        }
    }

    /// The response body: a `Status`, or plain text for an unknown path.
    pub fn body(&self) -> Result<Value, &'static str> {
        let details = |name: &str, group: &str, kind: &str| {
            let mut d = json!({"name": name});
            if !group.is_empty() {
                d["group"] = json!(group);
            }
            d["kind"] = json!(kind);
            d
        };
        let (reason, message, details) = match self {
            ApiError::PageNotFound => return Err("404 page not found\n"),
            ApiError::NotFound {
                qualified,
                group,
                plural,
                name,
            } => (
                "NotFound",
                format!("{qualified} \"{name}\" not found"),
                Some(details(name, group, plural)),
            ),
            ApiError::AlreadyExists {
                qualified,
                group,
                plural,
                name,
            } => (
                "AlreadyExists",
                format!("{qualified} \"{name}\" already exists"),
                Some(details(name, group, plural)),
            ),
            ApiError::Conflict {
                qualified,
                group,
                plural,
                name,
            } => (
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {qualified} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                ),
                Some(details(name, group, plural)),
            ),
            ApiError::NamespaceTerminating {
                namespace,
                qualified,
                group,
                plural,
                name,
            } => (
                "Forbidden",
                format!(
                    "{qualified} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated"
                ),
                Some(details(name, group, plural)),
            ),
            ApiError::BadRequest(m) => ("BadRequest", m.clone(), None),
            ApiError::Internal(m) => {
                return Ok(
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": m, "code": 500}),
                );
            }
            ApiError::Invalid {
                kind,
                group,
                name,
                causes,
            } => {
                let parts: Vec<String> =
                    causes.iter().map(|(_, f, m)| format!("{f}: {m}")).collect();
                let list = if parts.len() == 1 {
                    parts[0].clone()
                } else {
                    format!("[{}]", parts.join(", "))
                };
                let qualified = if group.is_empty() {
                    kind.clone()
                } else {
                    format!("{kind}.{group}")
                };
                let mut d = details(name, group, kind);
                d["causes"] = json!(
                    causes
                        .iter()
                        .map(|(r, f, m)| json!({"reason": r, "message": m, "field": f}))
                        .collect::<Vec<_>>()
                );
                (
                    "Invalid",
                    format!("{qualified} \"{name}\" is invalid: {list}"),
                    Some(d),
                )
            }
            ApiError::ApplyConflict { message, causes } => (
                "Conflict",
                message.clone(),
                Some(
                    json!({"causes": causes.iter().map(|(m, f)| json!({"reason": "FieldManagerConflict", "message": m, "field": f})).collect::<Vec<_>>()}),
                ),
            ),
            ApiError::MethodNotAllowed(m) => ("MethodNotAllowed", m.clone(), None),
            ApiError::UnsupportedMediaType(m) => ("UnsupportedMediaType", m.clone(), None),
            ApiError::Expired(m) => ("Expired", m.clone(), None),
            ApiError::Unauthorized => ("Unauthorized", "Unauthorized".to_string(), None),
        };
        let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason});
        if let Some(d) = details {
            body["details"] = d;
        }
        body["code"] = json!(self.code());
        Ok(body)
    }
}
