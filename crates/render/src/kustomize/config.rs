//! `configurations:` files: kustomize transformer configurations. `nameReference` and
//! `varReference` entries join the build's tables; extra label, annotation, image and
//! replica field specs join those transformers; name and namespace sections may only restate
//! kustomize's defaults; anything else is refused by name.

use driftless_core::yaml;
use serde_json::Value;

use super::fieldspec::{FieldSpec, spec};
use super::spec::Kustomization;
use super::{Builder, nameref};
use crate::RenderError;

/// Parses a list of field specs (`path`, `group`, `version`, `kind`, `create`).
fn parse_specs(path: &str, section: &str, v: Value) -> Result<Vec<FieldSpec>, RenderError> {
    let Value::Array(items) = v else {
        return Err(RenderError::invalid(
            path,
            Some(section.into()),
            "must be a list of field specs",
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let get = |k: &str| s.get(k).and_then(Value::as_str);
            let p = get("path").ok_or_else(|| {
                RenderError::invalid(path, Some(format!("{section}[{i}].path")), "is required")
            })?;
            let create = s.get("create").and_then(Value::as_bool).unwrap_or(false);
            Ok(spec(get("group"), get("kind"), p, create))
        })
        .collect()
}

/// Whether a name or namespace field spec is one kustomize has built in (restating a
/// default is harmless; anything else would need custom fields the native build lacks).
fn is_default(section: &str, s: &FieldSpec) -> bool {
    match section {
        "namePrefix" | "nameSuffix" => s.path == "metadata/name",
        _ => matches!(
            (s.kind.as_deref(), s.path.as_str()),
            (None, "metadata/namespace")
                | (Some("Namespace"), "metadata/name")
                | (Some("APIService"), "spec/service/namespace")
                | (
                    Some("CustomResourceDefinition"),
                    "spec/conversion/webhook/clientConfig/service/namespace"
                )
                | (Some("RoleBinding" | "ClusterRoleBinding"), "subjects")
                | (
                    Some("ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration"),
                    "webhooks/clientConfig/service/namespace"
                )
        ),
    }
}

impl Builder<'_, '_> {
    /// Loads `configurations:` files (kustomize transformer configs). Their name references
    /// join the build's table; sections the native kustomize does not take are refused.
    pub(super) fn configurations(
        &mut self,
        dir: &str,
        kfile: &str,
        k: &Kustomization,
    ) -> Result<(), RenderError> {
        for (i, entry) in k.configurations.iter().enumerate() {
            let field = format!("configurations[{i}]");
            let (path, text) = self.read_text(kfile, dir, entry)?;
            let value =
                yaml::parse_one(&text, &self.limits.yaml).map_err(|source| RenderError::Yaml {
                    file: path.clone(),
                    source,
                })?;
            let Value::Object(mut m) = value else {
                if value.is_null() {
                    continue;
                }
                return Err(RenderError::invalid(
                    &path,
                    None,
                    "a transformer configuration must be a map",
                ));
            };
            if let Some(refs) = m.remove("nameReference") {
                let refs: Vec<nameref::BackRef> = serde_json::from_value(refs).map_err(|e| {
                    RenderError::invalid(&path, Some("nameReference".into()), e.to_string())
                })?;
                self.nameref.merge(refs);
            }
            if let Some(refs) = m.remove("varReference") {
                let refs: Vec<nameref::RefSpec> = serde_json::from_value(refs).map_err(|e| {
                    RenderError::invalid(&path, Some("varReference".into()), e.to_string())
                })?;
                for r in refs {
                    if !self.var_refs.contains(&r) {
                        self.var_refs.to_mut().push(r);
                    }
                }
            }
            for section in [
                "commonLabels",
                "templateLabels",
                "labels",
                "commonAnnotations",
                "images",
                "replicas",
            ] {
                if let Some(specs) = m.remove(section) {
                    let specs = parse_specs(&path, section, specs)?;
                    let list = self.extra_specs.entry(section).or_default();
                    for s in specs {
                        if !list.contains(&s) {
                            list.push(s);
                        }
                    }
                }
            }
            for section in ["namePrefix", "nameSuffix", "namespace"] {
                if let Some(specs) = m.remove(section) {
                    let specs = parse_specs(&path, section, specs)?;
                    if let Some(s) = specs.iter().find(|s| !is_default(section, s)) {
                        return Err(RenderError::invalid(
                            &path,
                            Some(section.into()),
                            format!(
                                "field spec `{}` differs from kustomize's default; custom {section} fields are not supported by the native kustomize (use the plugin renderer)",
                                s.path
                            ),
                        ));
                    }
                }
            }
            if let Some(section) = m.keys().next() {
                return Err(RenderError::invalid(
                    kfile,
                    Some(field),
                    format!(
                        "`{path}`: the `{section}` section of a transformer configuration is not supported by the native kustomize ; use the plugin renderer"
                    ),
                ));
            }
        }
        Ok(())
    }
}
