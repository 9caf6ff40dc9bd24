//! `configurations:` files: kustomize transformer configurations. Their `nameReference`
//! and `varReference` entries join the build's tables; other sections are refused by name.

use driftless_core::yaml;
use serde_json::Value;

use super::spec::Kustomization;
use super::{Builder, nameref};
use crate::RenderError;

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
                        self.var_refs.push(r);
                    }
                }
            }
            if let Some(section) = m.keys().next() {
                return Err(RenderError::invalid(
                    kfile,
                    Some(field),
                    format!(
                        "`{path}`: the `{section}` section of a transformer configuration is not supported by the native kustomize (only `nameReference` and `varReference`); use the plugin renderer"
                    ),
                ));
            }
        }
        Ok(())
    }
}
