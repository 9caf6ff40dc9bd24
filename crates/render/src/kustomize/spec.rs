//! The kustomization file: every field this native kustomize understands, and a clear error for
//! the ones it does not (never a silent drop).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::RenderError;

/// Top-level fields of a kustomization, as kustomize spells them.
const FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "bases",
    "components",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "images",
    "replicas",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "replacements",
    "sortOptions",
    "helmCharts",
    "helmGlobals",
    "helmChartInflationGenerator",
    "vars",
    "transformers",
    "generators",
    "validators",
    "crds",
    "openapi",
    "configurations",
    "buildMetadata",
];

/// `kustomization.yaml` (kind `Kustomization` or `Component`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kustomization {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Value>,
    #[serde(default)]
    pub resources: Vec<String>,
    /// Deprecated alias of `resources`.
    #[serde(default)]
    pub bases: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    pub namespace: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    #[serde(default)]
    pub common_labels: Map<String, Value>,
    #[serde(default)]
    pub labels: Vec<LabelSpec>,
    #[serde(default)]
    pub common_annotations: Map<String, Value>,
    #[serde(default)]
    pub images: Vec<ImageSpec>,
    #[serde(default)]
    pub replicas: Vec<ReplicaSpec>,
    #[serde(default)]
    pub patches: Vec<PatchSpec>,
    #[serde(default)]
    pub patches_strategic_merge: Vec<String>,
    #[serde(default)]
    pub patches_json6902: Vec<PatchSpec>,
    #[serde(default)]
    pub config_map_generator: Vec<GeneratorSpec>,
    #[serde(default)]
    pub secret_generator: Vec<GeneratorSpec>,
    pub generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    pub replacements: Vec<ReplacementEntry>,
    pub sort_options: Option<SortOptions>,
    // Understood, but not renderable natively: reported with a hint.
    pub helm_charts: Option<Value>,
    pub helm_globals: Option<Value>,
    pub helm_chart_inflation_generator: Option<Value>,
    pub vars: Option<Value>,
    pub transformers: Option<Value>,
    pub generators: Option<Value>,
    pub validators: Option<Value>,
    pub crds: Option<Value>,
    pub openapi: Option<Value>,
    #[serde(default)]
    pub configurations: Vec<String>,
    #[serde(default)]
    pub build_metadata: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSpec {
    #[serde(default)]
    pub pairs: Map<String, Value>,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    #[serde(default)]
    pub fields: Vec<FieldSpecEntry>,
}

/// A user-provided field spec (`labels[].fields`).
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldSpecEntry {
    pub path: String,
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    #[serde(default)]
    pub create: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageSpec {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaSpec {
    pub name: String,
    pub count: i64,
}

/// `patches[]` and `patchesJson6902[]` entries.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchSpec {
    pub path: Option<String>,
    pub patch: Option<String>,
    pub target: Option<Selector>,
    #[serde(default)]
    pub options: Map<String, Value>,
}

/// A resource selector (`patches[].target`, replacement `select`/`reject`).
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub annotation_selector: Option<String>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorSpec {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub behavior: Option<String>,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    /// Deprecated single-file form of `envs`.
    pub env: Option<String>,
    /// Secret type (`Opaque` by default).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub options: Option<GeneratorOptions>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorOptions {
    #[serde(default)]
    pub labels: Map<String, Value>,
    #[serde(default)]
    pub annotations: Map<String, Value>,
    pub disable_name_suffix_hash: Option<bool>,
    pub immutable: Option<bool>,
}

/// A replacement, inline or from a file (`- path: replacements.yaml`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ReplacementEntry {
    Path { path: String },
    Inline(Replacement),
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replacement {
    pub source: ReplacementSource,
    #[serde(default)]
    pub targets: Vec<ReplacementTarget>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementSource {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub field_path: Option<String>,
    pub options: Option<ReplacementOptions>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementTarget {
    pub select: Option<Selector>,
    #[serde(default)]
    pub reject: Vec<Selector>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    pub options: Option<ReplacementOptions>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementOptions {
    pub delimiter: Option<String>,
    #[serde(default)]
    pub index: i64,
    #[serde(default)]
    pub create: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SortOptions {
    pub order: Option<String>,
    pub legacy_sort_options: Option<LegacySortOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacySortOptions {
    #[serde(default)]
    pub order_first: Vec<String>,
    #[serde(default)]
    pub order_last: Vec<String>,
}

impl Kustomization {
    /// Parses a kustomization document; errors name the field path. Like kustomize (Go's
    /// JSON decoding), top-level field names match case-insensitively and unknown fields are
    /// skipped; each skipped field is reported in `warnings`.
    pub fn parse(
        file: &str,
        value: Value,
        warnings: &mut Vec<String>,
    ) -> Result<Self, RenderError> {
        let value = match value {
            Value::Null => Value::Object(Map::new()),
            Value::Object(m) => Value::Object(normalize_fields(file, m, warnings)),
            other => other,
        };
        let k: Kustomization = serde_path_to_error::deserialize(value).map_err(|e| {
            let field = e.path().to_string();
            RenderError::invalid(
                file,
                (field != ".").then_some(field),
                e.into_inner().to_string(),
            )
        })?;
        k.check_unsupported(file)?;
        Ok(k)
    }

    fn check_unsupported(&self, file: &str) -> Result<(), RenderError> {
        if self.helm_charts.is_some()
            || self.helm_chart_inflation_generator.is_some()
            || self.helm_globals.is_some()
        {
            return Err(RenderError::invalid(
                file,
                Some("helmCharts".into()),
                "Helm charts need the plugin renderer: configure the application with the `helm` plugin (helm template) instead of the native kustomize",
            ));
        }
        let unsupported = [
            (
                "validators",
                self.validators.is_some(),
                "validator plugins need a kustomize binary: use the plugin renderer",
            ),
            (
                "crds",
                self.crds.is_some(),
                "custom name-reference configuration is not supported natively: use the plugin renderer",
            ),
            (
                "openapi",
                self.openapi.is_some(),
                "custom OpenAPI schemas are not supported natively: use the plugin renderer",
            ),
        ];
        if let Some(other) = self
            .build_metadata
            .iter()
            .find(|m| *m != "originAnnotations")
        {
            return Err(RenderError::invalid(
                file,
                Some("buildMetadata".into()),
                format!(
                    "`{other}` is not supported by the native kustomize (only `originAnnotations`); remove it or use the plugin renderer"
                ),
            ));
        }
        for (field, present, hint) in unsupported {
            if present {
                return Err(RenderError::invalid(
                    file,
                    Some(field.into()),
                    format!("not supported by the native kustomize; {hint}"),
                ));
            }
        }
        Ok(())
    }
}

/// Maps each top-level key to kustomize's spelling (an exact match wins, else a
/// case-insensitive one) and drops unknown keys with a warning.
fn normalize_fields(
    file: &str,
    m: Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    let mut folded = Vec::new();
    for (k, v) in m {
        if FIELDS.contains(&k.as_str()) {
            out.insert(k, v);
        } else if let Some(f) = FIELDS.iter().find(|f| f.eq_ignore_ascii_case(&k)) {
            folded.push((f.to_string(), v));
        } else {
            warnings.push(format!(
                "{file}: unknown field `{k}` ignored (as kustomize does)"
            ));
        }
    }
    for (k, v) in folded {
        out.entry(k).or_insert(v);
    }
    out
}

/// Checks that a map of labels/annotations holds only strings, naming the offending key.
pub fn string_map(
    file: &str,
    field: &str,
    map: &Map<String, Value>,
) -> Result<Vec<(String, String)>, RenderError> {
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(RenderError::invalid(
                file,
                Some(format!("{field}.{k}")),
                "must be a string (quote numbers and booleans)",
            )),
        })
        .collect()
}
