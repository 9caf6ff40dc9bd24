//! The repository itself: its files (walked through the [`SourceTree`] trait, so a Git commit
//! and a local directory are the same), the structure rules of the [`ValidationConfig`], and
//! YAML syntax of every YAML file with file, line and column. Also records where each
//! document of each file starts, so later findings about rendered objects can name a line.

use std::collections::{BTreeMap, BTreeSet};

use driftless_core::source::{NodeKind, SourceTree, Tree};
use driftless_core::yaml::{self, YamlError};

use crate::config::{Structure, ValidationConfig};
use crate::finding::{Check, Finding};

/// Most files walked; a repository with more is reported, not walked forever.
const MAX_FILES: usize = 200_000;
/// Largest YAML file read for the syntax check.
const MAX_YAML_BYTES: usize = 8 * 1024 * 1024;

/// What the walk found.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Every file (repository-relative), sorted.
    pub files: BTreeSet<String>,
    pub dirs: BTreeSet<String>,
    /// YAML file → (document index → first line).
    pub documents: BTreeMap<String, BTreeMap<usize, usize>>,
    /// YAML files that did not parse.
    pub broken: BTreeSet<String>,
    /// Text of every YAML file that parsed (to place findings on a field's line).
    pub texts: BTreeMap<String, String>,
}

impl Inventory {
    /// The line a rendered object's origin (`file#document`, `file#document.items[3]`)
    /// starts at, if the file was scanned.
    pub fn locate(&self, origin: &str) -> (String, Option<usize>) {
        let (file, rest) = origin.split_once('#').unwrap_or((origin, ""));
        let index: Option<usize> = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|d| d.parse().ok());
        let line = index.and_then(|i| self.documents.get(file)?.get(&i).copied());
        (file.to_string(), line)
    }

    /// File, line and column of `field` in the object an origin names: the field's own line
    /// when it is written in that document, else the object's first line.
    pub fn position(
        &self,
        origin: &str,
        field: Option<&str>,
    ) -> (String, Option<usize>, Option<usize>) {
        let (file, line) = self.locate(origin);
        let Some(start) = line else {
            return (file, None, None);
        };
        let at =
            field.and_then(|f| crate::locate::field_position(self.texts.get(&file)?, start, f));
        match at {
            Some((l, c)) => (file, Some(l), Some(c)),
            None => (file, Some(start), None),
        }
    }

    /// Files below `dir` (repository-relative, `""` for all).
    pub fn files_under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.files
            .iter()
            .filter(move |f| dir.is_empty() || f.starts_with(&format!("{dir}/")))
    }
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// Walks the tree (dot-directories such as `.git` skipped) and checks every YAML file.
pub fn scan(raw: &dyn SourceTree) -> (Inventory, Vec<Finding>) {
    let tree = Tree::new(raw);
    let mut inv = Inventory::default();
    let mut findings = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        let entries = match tree.list(&dir) {
            Ok(e) => e,
            Err(e) => {
                findings.push(
                    Finding::error(Check::Structure, "structure.unreadable", e.to_string())
                        .in_file(&dir),
                );
                continue;
            }
        };
        for (name, path) in entries {
            if name.starts_with('.') {
                continue;
            }
            match tree.kind(&path) {
                Ok(Some(NodeKind::Dir)) => {
                    inv.dirs.insert(path.clone());
                    stack.push(path);
                }
                Ok(Some(_)) => {
                    inv.files.insert(path);
                }
                Ok(None) => {}
                Err(e) => findings.push(
                    Finding::error(Check::Structure, "structure.unreadable", e.to_string())
                        .in_file(&path),
                ),
            }
            if inv.files.len() > MAX_FILES {
                findings.push(Finding::error(
                    Check::Structure,
                    "structure.too-many-files",
                    format!("more than {MAX_FILES} files; stopped walking"),
                ));
                return (inv, findings);
            }
        }
    }
    let charts: Vec<String> = inv
        .files
        .iter()
        .filter_map(|f| f.strip_suffix("Chart.yaml"))
        .map(|d| format!("{d}templates/"))
        .collect();
    let yaml_files: Vec<String> = inv
        .files
        .iter()
        .filter(|f| is_yaml(f) && !charts.iter().any(|c| f.starts_with(c.as_str())))
        .cloned()
        .collect();
    for file in yaml_files {
        check_yaml_file(&tree, &file, &mut inv, &mut findings);
    }
    (inv, findings)
}

fn check_yaml_file(tree: &Tree, file: &str, inv: &mut Inventory, findings: &mut Vec<Finding>) {
    let text = match tree.read_string(file, MAX_YAML_BYTES) {
        Ok(t) => t,
        Err(e) => {
            inv.broken.insert(file.to_string());
            findings
                .push(Finding::error(Check::Yaml, "yaml.unreadable", e.to_string()).in_file(file));
            return;
        }
    };
    let limits = yaml::Limits::default();
    match yaml::parse_stream(&text, &limits) {
        Ok(docs) => {
            let lines: BTreeMap<usize, usize> = docs
                .iter()
                .map(|d| (d.index, content_line(&text, d.line)))
                .collect();
            for w in yaml::yaml11_warnings(&text, &docs, &limits) {
                let start = lines.get(&w.document).copied();
                let path = pointer_to_path(&w.pointer);
                let (line, column) =
                    match start.and_then(|s| crate::locate::field_position(&text, s, &path)) {
                        Some((l, c)) => (Some(l), Some(c)),
                        None => (start, None),
                    };
                findings.push(
                    Finding::warning(Check::Yaml, "yaml.ambiguous-scalar", w.message)
                        .in_file(file)
                        .at(line, column)
                        .field(path),
                );
            }
            inv.documents.insert(file.to_string(), lines);
            inv.texts.insert(file.to_string(), text);
        }
        Err(e) => {
            inv.broken.insert(file.to_string());
            findings.push(yaml_finding(file, &text, &e));
        }
    }
}

/// The first line of a document that holds content (not blank, a comment or the `---`
/// marker), so a finding points at the object rather than at its separator.
fn content_line(text: &str, start: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(start.saturating_sub(1))
        .find(|(_, l)| {
            let t = l.trim();
            !(t.is_empty() || t.starts_with('#') || t == "---")
        })
        .map_or(start, |(i, _)| i + 1)
}

/// A syntax error as a finding. The wrapper reports the line; the column is recovered for
/// duplicate keys (the key's position on that line), the commonest mistake.
pub fn yaml_finding(file: &str, text: &str, e: &YamlError) -> Finding {
    match e {
        YamlError::Syntax { line, message, .. } => {
            let duplicate = message.to_ascii_lowercase().contains("duplicate");
            let rule = if duplicate {
                "yaml.duplicate-key"
            } else {
                "yaml.syntax"
            };
            let column = text.lines().nth(line.saturating_sub(1)).and_then(|l| {
                let trimmed = l.trim_start_matches([' ', '-']);
                (!trimmed.is_empty()).then(|| l.len() - trimmed.len() + 1)
            });
            // serde-saphyr suggests a parser option; the user's fix is in the file.
            let message = message
                .split(", set DuplicateKeyPolicy")
                .next()
                .unwrap_or(message);
            Finding::error(Check::Yaml, rule, message.to_string())
                .in_file(file)
                .at(Some(*line), if duplicate { column } else { None })
        }
        other => Finding::error(Check::Yaml, "yaml.syntax", other.to_string()).in_file(file),
    }
}

/// `/spec/template/labels/a~1b` → `spec.template.labels["a/b"]`.
pub fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.bytes().all(|b| b.is_ascii_digit()) && !seg.is_empty() {
            out.push_str(&format!("[{seg}]"));
        } else if seg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        } else {
            out.push_str(&format!("[{seg:?}]"));
        }
    }
    out
}

/// The structure rules: required directories and files, every environment's required files
/// and names, naming patterns.
pub fn check_structure(inv: &Inventory, config: &ValidationConfig) -> Vec<Finding> {
    let s: &Structure = &config.structure;
    let mut out = Vec::new();
    for d in &s.required_directories {
        let d = d.trim_matches('/');
        if !inv.dirs.contains(d) {
            out.push(
                Finding::error(
                    Check::Structure,
                    "structure.required-directory",
                    format!("required directory `{d}` is missing"),
                )
                .in_file(d),
            );
        }
    }
    for f in &s.required_files {
        if !alternatives(f).any(|a| inv.files.contains(a)) {
            out.push(
                Finding::error(
                    Check::Structure,
                    "structure.required-file",
                    format!("required file `{f}` is missing"),
                )
                .in_file(f.as_str()),
            );
        }
    }
    let env_dir = s.environments.directory.trim_matches('/');
    let envs: Vec<&String> = inv
        .dirs
        .iter()
        .filter(|d| {
            d.strip_prefix(env_dir)
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|r| !r.contains('/'))
        })
        .collect();
    for name in &s.environments.names {
        let path = format!("{env_dir}/{name}");
        if !inv.dirs.contains(&path) {
            out.push(
                Finding::error(
                    Check::Structure,
                    "structure.environment",
                    format!("environment `{name}` is missing (no directory `{path}`)"),
                )
                .in_file(path),
            );
        }
    }
    for env in envs {
        for f in &s.environments.required_files {
            if !alternatives(f).any(|a| inv.files.contains(&format!("{env}/{a}"))) {
                out.push(
                    Finding::error(
                        Check::Structure,
                        "structure.environment-file",
                        format!("environment `{env}` has no {}", f.replace('|', " or ")),
                    )
                    .in_file(env.as_str()),
                );
            }
        }
    }
    out.extend(check_naming(inv, s));
    out
}

fn alternatives(spec: &str) -> impl Iterator<Item = &str> {
    spec.split('|').map(str::trim).filter(|a| !a.is_empty())
}

fn check_naming(inv: &Inventory, s: &Structure) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, rule) in s.naming.iter().enumerate() {
        let glob = match globset::Glob::new(&rule.files) {
            Ok(g) => g.compile_matcher(),
            Err(e) => {
                out.push(Finding::error(
                    Check::Structure,
                    "structure.config",
                    format!("`structure.naming[{i}].files`: {e}"),
                ));
                continue;
            }
        };
        let re = match regex::Regex::new(&rule.pattern) {
            Ok(r) => r,
            Err(_) => {
                out.push(Finding::error(
                    Check::Structure,
                    "structure.config",
                    format!("`structure.naming[{i}].pattern` is not a valid regular expression"),
                ));
                continue;
            }
        };
        for path in inv
            .files
            .iter()
            .chain(inv.dirs.iter())
            .filter(|p| glob.is_match(p.as_str()))
        {
            let base = path.rsplit('/').next().unwrap_or(path);
            if !re.is_match(base) {
                let msg = rule.message.clone().unwrap_or_else(|| {
                    format!(
                        "`{base}` does not match the naming pattern {:?}",
                        rule.pattern
                    )
                });
                out.push(
                    Finding::error(Check::Structure, "structure.naming", msg)
                        .in_file(path.as_str()),
                );
            }
        }
    }
    out
}
