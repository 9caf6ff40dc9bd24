//! Render errors. Each names the file and, where there is one, the document and the field; none
//! quotes file contents (a manifest can hold secrets).

use driftless_core::DuplicateResource;
use driftless_core::source::SourceError;
use driftless_core::yaml::YamlError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// A path could not be read (missing, escaping the root, bad symlink, too large).
    #[error("{file}: {source}")]
    Source {
        /// The file whose reference failed (or the path itself).
        file: String,
        #[source]
        source: SourceError,
    },
    #[error("{file}: {source}")]
    Yaml {
        file: String,
        #[source]
        source: YamlError,
    },
    /// Input that parsed but means nothing valid.
    #[error("{file}{}: {message}", field.as_deref().map(|f| format!(": `{f}`")).unwrap_or_default())]
    Invalid {
        file: String,
        field: Option<String>,
        message: String,
    },
    #[error("cyclic kustomization bases: {}", chain.join(" -> "))]
    Cycle { chain: Vec<String> },
    #[error(transparent)]
    Duplicate(#[from] DuplicateResource),
    #[error("render output exceeds the cap of {limit} {what}")]
    Cap { what: &'static str, limit: usize },
    #[error("plugin `{plugin}`: {message}")]
    Plugin { plugin: String, message: String },
}

impl RenderError {
    pub fn invalid(
        file: &str,
        field: impl Into<Option<String>>,
        message: impl Into<String>,
    ) -> Self {
        RenderError::Invalid {
            file: file.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn source(file: &str, source: SourceError) -> Self {
        RenderError::Source {
            file: file.to_string(),
            source,
        }
    }
}
