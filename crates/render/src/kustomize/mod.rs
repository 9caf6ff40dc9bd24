//! Native kustomize: `kustomize build` without the binary.
//!
//! The build follows kustomize's own order, per kustomization (recursively for bases):
//! resources (files, directories, nested kustomizations) → generators → components →
//! transformers (patchesStrategicMerge, patches, namespace, namePrefix/nameSuffix, labels,
//! annotations, patchesJson6902, replicas, images, replacements); then, once at the top:
//! content-hash suffixes on generated ConfigMaps/Secrets → name-reference rewriting → sort
//! (kustomize's legacy order unless `sortOptions` says otherwise).
//!
//! Each [`Resource`] keeps every name and namespace it has held, which is how references
//! written against a base's names (`configMapRef: {name: cfg}`) follow prefixes and hashes.

mod config;
pub mod edit_images;
mod fieldspec;
mod generators;
mod load;
mod nameref;
mod names;
mod order;
mod origin;
mod patches;
mod plugins;
mod replacements;
mod selector;
mod smp_order;
mod spec;
mod transforms;
mod vars;

use driftless_core::source::{NodeKind, SourceError, Tree, join};
use driftless_core::{DuplicateResource, ResourceKey, object};
use serde_json::Value;

use crate::manifest::{LoadedObject, load_kustomize_file};
use crate::{Inputs, RenderError, RenderLimits};
use load::{check_in_root, kustomization_files, parse_kustomization_text};
pub(crate) use origin::Source;
use origin::{annotate_origin, sort_keys};
pub use spec::Kustomization;

/// File names kustomize looks for, in its order.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The kustomization file of `dir`, if any.
pub fn find_kustomization(tree: &Tree<'_>, dir: &str) -> Result<Option<String>, SourceError> {
    Ok(kustomization_files(tree, dir)?.into_iter().next())
}

/// One object being built, with its name and namespace history.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub obj: Value,
    pub origin: String,
    /// Every name held, oldest first; the last is the current one.
    pub names: Vec<String>,
    /// Every namespace held, oldest first ("" when unset).
    pub namespaces: Vec<String>,
    /// Generated with a content-hash name suffix still to add.
    pub needs_hash: bool,
    /// Every earlier (kind, name, namespace), oldest first, recorded at each change as
    /// kustomize's `PrevIds`; name references are resolved against these.
    pub prev_ids: Vec<(String, String, String)>,
    /// Non-empty namePrefix/nameSuffix values applied, innermost first.
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// Vars bound to this object by the kustomization that declared them.
    pub ref_vars: Vec<String>,
    /// Where the object came from, for `buildMetadata: [originAnnotations]`.
    pub source: Option<Source>,
}

impl Resource {
    pub fn new(obj: Value, origin: String) -> Self {
        let name = object::name(&obj).unwrap_or_default().to_string();
        let ns = object::namespace(&obj).unwrap_or_default().to_string();
        Resource {
            obj,
            origin,
            names: vec![name],
            namespaces: vec![ns],
            needs_hash: false,
            prev_ids: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            ref_vars: Vec::new(),
            source: None,
        }
    }

    pub fn group(&self) -> &str {
        object::api_version(&self.obj)
            .and_then(|a| a.split_once('/'))
            .map(|(g, _)| g)
            .unwrap_or("")
    }

    pub fn version(&self) -> &str {
        let av = object::api_version(&self.obj).unwrap_or("");
        av.split_once('/').map(|(_, v)| v).unwrap_or(av)
    }

    pub fn kind(&self) -> &str {
        object::kind(&self.obj).unwrap_or("")
    }

    pub fn name(&self) -> &str {
        object::name(&self.obj).unwrap_or("")
    }

    pub fn namespace(&self) -> &str {
        object::namespace(&self.obj).unwrap_or("")
    }

    pub fn rename(&mut self, new: &str) {
        self.store_previous_id();
        object::set_name(&mut self.obj, new);
        self.names.push(new.to_string());
    }

    /// Records the current id before a change (kustomize's `StorePreviousId`).
    pub fn store_previous_id(&mut self) {
        let id = (
            self.kind().to_string(),
            self.name().to_string(),
            self.namespace().to_string(),
        );
        self.prev_ids.push(id);
    }

    /// The original (kind, name, namespace), before any transformation.
    pub fn org_id(&self) -> (String, String, String) {
        self.prev_ids.first().cloned().unwrap_or_else(|| {
            (
                self.kind().to_string(),
                self.name().to_string(),
                self.namespace().to_string(),
            )
        })
    }

    /// Whether `name` is this resource's current or any earlier name.
    pub fn had_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    pub fn key(&self) -> ResourceKey {
        ResourceKey::new(self.group(), self.kind(), self.namespace(), self.name())
    }
}

pub(crate) struct Builder<'a, 't> {
    pub tree: &'a Tree<'t>,
    pub limits: &'a RenderLimits,
    pub inputs: &'a mut Inputs,
    pub warnings: &'a mut Vec<String>,
    stack: Vec<String>,
    /// Name-reference fields: kustomize's table plus every `configurations:` file met.
    nameref: nameref::NameRefConfig,
    /// Field specs added by `configurations:` files, per section (`commonLabels`, `images`...).
    pub(crate) extra_specs: std::collections::BTreeMap<&'static str, Vec<fieldspec::FieldSpec>>,
    /// Set while a `generators:` entry runs: the file configuring it and its name.
    generator_source: Option<(String, Option<String>)>,
    /// Vars declared anywhere in the build, and the fields they expand in.
    vars: Vec<vars::Var>,
    var_refs: std::borrow::Cow<'static, [nameref::RefSpec]>,
}

impl Builder<'_, '_> {
    /// Reads a UTF-8 file referenced from `kfile` at `rel` (relative to `dir`).
    pub fn read_text(
        &mut self,
        kfile: &str,
        dir: &str,
        rel: &str,
    ) -> Result<(String, String), RenderError> {
        let (path, bytes) = self.read_bytes(kfile, dir, rel)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            RenderError::source(
                kfile,
                SourceError::Io {
                    path: path.clone(),
                    message: "not valid UTF-8".into(),
                },
            )
        })?;
        Ok((path, text))
    }

    /// Reads a file referenced from `kfile` at `rel` (relative to `dir`) and records it as an input.
    pub fn read_bytes(
        &mut self,
        kfile: &str,
        dir: &str,
        rel: &str,
    ) -> Result<(String, Vec<u8>), RenderError> {
        let path = join(dir, rel).map_err(|e| RenderError::source(kfile, e))?;
        check_in_root(self.limits, kfile, dir, &path)?;
        let bytes = self
            .tree
            .read(&path, self.limits.max_file_bytes)
            .map_err(|e| RenderError::source(kfile, e))?;
        self.inputs.add(&path);
        Ok((path, bytes))
    }

    fn load_kustomization(&mut self, dir: &str) -> Result<(String, Kustomization), RenderError> {
        let files = kustomization_files(self.tree, dir).map_err(|e| RenderError::source(dir, e))?;
        if files.len() > 1 {
            return Err(RenderError::invalid(
                dir,
                None,
                format!(
                    "Found multiple kustomization files ({}); keep exactly one",
                    files.join(", ")
                ),
            ));
        }
        let kfile = files.into_iter().next().ok_or_else(|| {
            RenderError::invalid(
                dir,
                None,
                "no kustomization.yaml, kustomization.yml or Kustomization file in this directory",
            )
        })?;
        self.inputs.add(dir);
        let text = self
            .tree
            .read_string(&kfile, self.limits.max_file_bytes)
            .map_err(|e| RenderError::source(&kfile, e))?;
        let value =
            parse_kustomization_text(&text, self.limits).map_err(|source| RenderError::Yaml {
                file: kfile.clone(),
                source,
            })?;
        let k = Kustomization::parse(&kfile, value, self.warnings)?;
        if !k.bases.is_empty() {
            self.warnings.push(format!(
                "{kfile}: `bases` is deprecated; list the directories under `resources`"
            ));
        }
        if !k.patches_strategic_merge.is_empty()
            || !k.patches_json6902.is_empty()
            || !k.common_labels.is_empty()
        {
            self.warnings.push(format!("{kfile}: patchesStrategicMerge, patchesJson6902 and commonLabels are deprecated in kustomize v5; prefer `patches` and `labels`"));
        }
        Ok((kfile, k))
    }

    fn enter(&mut self, dir: &str) -> Result<(), RenderError> {
        if let Some(pos) = self.stack.iter().position(|d| d == dir) {
            let mut chain = self.stack[pos..].to_vec();
            chain.push(dir.to_string());
            return Err(RenderError::Cycle { chain });
        }
        self.stack.push(dir.to_string());
        Ok(())
    }

    /// Builds a kustomization directory used as a resource (a base or an overlay).
    fn build_target(&mut self, dir: &str) -> Result<Vec<Resource>, RenderError> {
        self.enter(dir)?;
        let (kfile, k) = self.load_kustomization(dir)?;
        if k.kind.as_deref() == Some("Component") {
            return Err(RenderError::invalid(
                &kfile,
                Some("kind".into()),
                "a Component cannot be used as a resource; list its directory under `components`",
            ));
        }
        let out = self.accumulate(dir, &kfile, &k, Vec::new())?;
        self.stack.pop();
        Ok(out)
    }

    fn add(&self, ra: &mut Vec<Resource>, r: Resource) -> Result<(), RenderError> {
        let key = r.key();
        let ns_eq = |a: &str, b: &str| {
            a == b || (a.is_empty() && b == "default") || (b.is_empty() && a == "default")
        };
        if let Some(existing) = ra.iter().find(|e| {
            e.group() == key.group
                && e.kind() == key.kind
                && e.name() == key.name
                && ns_eq(e.namespace(), &key.namespace)
        }) {
            return Err(RenderError::Duplicate(DuplicateResource {
                key: Box::new(key),
                first: existing.origin.clone(),
                second: r.origin,
            }));
        }
        ra.push(r);
        if ra.len() > self.limits.max_objects {
            return Err(RenderError::Cap {
                what: "objects",
                limit: self.limits.max_objects,
            });
        }
        Ok(())
    }

    /// kustomize's accumulateTarget: resources, components, generators, transformers.
    fn accumulate(
        &mut self,
        dir: &str,
        kfile: &str,
        k: &Kustomization,
        mut ra: Vec<Resource>,
    ) -> Result<Vec<Resource>, RenderError> {
        for (i, entry) in k.resources.iter().chain(&k.bases).enumerate() {
            if entry.contains("://")
                || entry.starts_with("github.com/")
                || entry.starts_with("git@")
            {
                return Err(RenderError::invalid(
                    kfile,
                    Some(format!("resources[{i}]")),
                    "remote resources are not fetched by Driftless (no network during render); vendor the base into the repository or add it as its own application",
                ));
            }
            let path = join(dir, entry).map_err(|e| RenderError::source(kfile, e))?;
            match self
                .tree
                .kind(&path)
                .map_err(|e| RenderError::source(kfile, e))?
            {
                Some(NodeKind::Dir) => {
                    for r in self.build_target(&path)? {
                        self.add(&mut ra, r)?;
                    }
                }
                Some(_) => {
                    check_in_root(self.limits, kfile, dir, &path)?;
                    self.inputs.add(&path);
                    let (objs, warns) = load_kustomize_file(self.tree, &path, self.limits)?;
                    self.warnings.extend(
                        warns
                            .into_iter()
                            .map(|w| format!("{path}#{}{}: {}", w.document, w.pointer, w.message)),
                    );
                    for LoadedObject { object, origin } in objs {
                        let mut r = Resource::new(object, origin);
                        r.source = Some(Source::File(path.clone()));
                        self.add(&mut ra, r)?;
                    }
                }
                None => {
                    return Err(RenderError::invalid(
                        kfile,
                        Some(format!("resources[{i}]")),
                        format!("`{entry}` does not exist"),
                    ));
                }
            }
        }
        self.configurations(dir, kfile, k)?;
        // kustomize v5 runs a kustomization's generators before its components, so a
        // component's transformers reach generated objects too.
        generators::run(self, dir, kfile, k, &mut ra)?;
        plugins::generators(self, dir, kfile, k, &mut ra)?;
        for (i, entry) in k.components.iter().enumerate() {
            let path = join(dir, entry).map_err(|e| RenderError::source(kfile, e))?;
            if !self
                .tree
                .is_dir(&path)
                .map_err(|e| RenderError::source(kfile, e))?
            {
                return Err(RenderError::invalid(
                    kfile,
                    Some(format!("components[{i}]")),
                    format!("`{entry}` is not a directory"),
                ));
            }
            self.enter(&path)?;
            let (ckfile, ck) = self.load_kustomization(&path)?;
            if ck.kind.as_deref() != Some("Component") {
                return Err(RenderError::invalid(
                    &ckfile,
                    Some("kind".into()),
                    "a directory listed under `components` must hold `kind: Component`",
                ));
            }
            ra = self.accumulate(&path, &ckfile, &ck, ra)?;
            self.stack.pop();
        }
        self.transform(dir, kfile, k, &mut ra)?;
        plugins::transformers(self, dir, kfile, k, &mut ra)?;
        if let Some(v) = &k.vars {
            let incoming = vars::parse(kfile, v)?;
            vars::merge(kfile, &mut self.vars, incoming, &mut ra)?;
        }
        Ok(ra)
    }
}

impl Builder<'_, '_> {
    /// The built-in transformers a kustomization's fields configure, in kustomize's order.
    pub(crate) fn transform(
        &mut self,
        dir: &str,
        kfile: &str,
        k: &Kustomization,
        ra: &mut Vec<Resource>,
    ) -> Result<(), RenderError> {
        patches::strategic_merge_files(self, dir, kfile, &k.patches_strategic_merge, ra)?;
        patches::patches(self, dir, kfile, &k.patches, ra)?;
        if let Some(ns) = &k.namespace {
            transforms::namespace(ns, ra);
        }
        transforms::prefix_suffix(
            k.name_prefix.as_deref().unwrap_or(""),
            k.name_suffix.as_deref().unwrap_or(""),
            ra,
        );
        transforms::labels(kfile, k, &self.extra_specs, ra)?;
        transforms::annotations(kfile, k, &self.extra_specs, ra)?;
        patches::json6902(self, dir, kfile, &k.patches_json6902, ra)?;
        transforms::replicas(kfile, &k.replicas, &self.extra_specs, ra, self.warnings);
        transforms::images(&k.images, &self.extra_specs, ra);
        replacements::run(self, dir, kfile, &k.replacements, ra)?;
        Ok(())
    }
}

/// Builds the kustomization at `dir` into objects, in output order.
pub(crate) fn build(
    tree: &Tree<'_>,
    dir: &str,
    limits: &RenderLimits,
    inputs: &mut Inputs,
    warnings: &mut Vec<String>,
) -> Result<Vec<LoadedObject>, RenderError> {
    let mut b = Builder {
        tree,
        limits,
        inputs,
        warnings,
        stack: Vec::new(),
        nameref: nameref::NameRefConfig::builtin(),
        generator_source: None,
        extra_specs: Default::default(),
        vars: Vec::new(),
        var_refs: std::borrow::Cow::Borrowed(vars::builtin_references()),
    };
    b.enter(dir)?;
    let (kfile, k) = b.load_kustomization(dir)?;
    if k.kind.as_deref() == Some("Component") {
        return Err(RenderError::invalid(
            &kfile,
            Some("kind".into()),
            "a Component cannot be built on its own; include it from a Kustomization's `components`",
        ));
    }
    let mut ra = b.accumulate(dir, &kfile, &k, Vec::new())?;
    names::add_hash_suffixes(&mut ra);
    nameref::fix(&mut ra, &b.nameref, b.warnings)?;
    vars::resolve(&b.vars, &b.var_refs, &mut ra)?;
    if k.build_metadata.iter().any(|m| m == "originAnnotations") {
        for r in &mut ra {
            annotate_origin(dir, r);
        }
    }
    // kustomize drops objects marked local-config (inputs to functions, not to the cluster).
    ra.retain(|r| {
        object::str_at(
            &r.obj,
            &[
                "metadata",
                "annotations",
                "config.kubernetes.io/local-config",
            ],
        ) != Some("true")
    });
    order::sort(&kfile, k.sort_options.as_ref(), &mut ra)?;
    // kustomize prints every map with its keys sorted; so do we, for byte-identical output.
    Ok(ra
        .into_iter()
        .map(|r| LoadedObject {
            object: sort_keys(r.obj),
            origin: r.origin,
        })
        .collect())
}

#[cfg(test)]
mod tests;
