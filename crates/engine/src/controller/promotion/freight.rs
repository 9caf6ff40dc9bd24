//! Reading and writing freight: what a stage's application folder says about each promoted
//! value (a kustomize image, a YAML value, a file's content, the revision), and the file
//! changes that give a target folder the source's values. Blocking (Git object reads);
//! callers run it on a blocking thread.

use crate::error::{EngineError, EngineResult};
use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use driftless_core::pipeline::Freight;
use driftless_core::source::{NodeKind, SourceTree, Tree};
use driftless_git::GitTree;
use driftless_git::writeback::FileChange;
use driftless_render::edit_yaml::{get_scalar, set_scalar};
use driftless_render::kustomize::edit_images::{ImageRef, image_of, set_image};

use crate::controller::images::kustomization_in;

const MAX_FILE: usize = 8 << 20;

pub(super) fn join(dir: &str, file: &str) -> String {
    let dir = dir.trim_matches('/');
    if dir.is_empty() || dir == "." {
        file.to_string()
    } else {
        format!("{dir}/{file}")
    }
}

/// A file's content, None when it does not exist.
pub(super) fn file_content(tree: &GitTree, path: &str) -> EngineResult<Option<Vec<u8>>> {
    match tree.lstat(path)? {
        Some(NodeKind::File) => Tree::new(tree)
            .read(path, MAX_FILE)
            .map(Some)
            .map_err(EngineError::from),
        None => Ok(None),
        Some(_) => Err(EngineError::invalid(format!(
            "{path} is not a regular file"
        ))),
    }
}

fn digest(content: &[u8]) -> String {
    format!("sha256:{}", &hex::encode(Sha256::digest(content))[..16])
}

/// The value of each freight in the folder `dir` of `tree` (at `revision`).
pub(super) fn read_values(
    tree: &GitTree,
    dir: &str,
    revision: &str,
    freight: &[Freight],
) -> EngineResult<Vec<Option<String>>> {
    freight
        .iter()
        .map(|f| {
            let at = |e: &dyn std::fmt::Display| {
                EngineError::invalid(format!(
                    "{} in {}: {e}",
                    f.label(),
                    if dir.is_empty() { "." } else { dir }
                ))
            };
            match f {
                Freight::Image(name) => {
                    let file = kustomization_in(tree, dir).map_err(|e| at(&e))?;
                    let text = Tree::new(tree)
                        .read_string(&file, MAX_FILE)
                        .map_err(|e| at(&e))?;
                    Ok(image_of(&text, name)
                        .map_err(|e| at(&format!("{file}: {e}")))?
                        .map(|r| r.to_string()))
                }
                Freight::YamlPath { file, path } => {
                    let file = join(dir, file);
                    match file_content(tree, &file).map_err(|e| at(&e))? {
                        Some(bytes) => get_scalar(&String::from_utf8_lossy(&bytes), path)
                            .map_err(|e| at(&format!("{file}: {e}"))),
                        None => Ok(None),
                    }
                }
                Freight::File(file) => Ok(file_content(tree, &join(dir, file))
                    .map_err(|e| at(&e))?
                    .map(|c| digest(&c))),
                Freight::Revision(_) => Ok(Some(revision.to_string())),
            }
        })
        .collect()
}

/// The file changes that give the folder `dir` of `tip` these values; file freights take
/// their content from `files` (freight file → content; None deletes it). A value that is
/// None (the source does not set it) is left alone; the revision is not a file.
pub(super) fn write_changes(
    tip: &GitTree,
    dir: &str,
    freight: &[Freight],
    values: &[Option<String>],
    files: &BTreeMap<String, Option<Vec<u8>>>,
) -> EngineResult<Vec<FileChange>> {
    let mut out: Vec<FileChange> = Vec::new();
    // Several freights may edit one file (two images): edits apply to the latest text.
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let read = |texts: &BTreeMap<String, String>, file: &str| -> EngineResult<String> {
        match texts.get(file) {
            Some(t) => Ok(t.clone()),
            None => Tree::new(tip)
                .read_string(file, MAX_FILE)
                .map_err(|e| EngineError::invalid(format!("{file}: {e}"))),
        }
    };
    for (f, value) in freight.iter().zip(values) {
        match (f, value) {
            (Freight::Image(_), Some(v)) => {
                let file = kustomization_in(tip, dir)?;
                let reference = ImageRef::parse(v).map_err(EngineError::invalid)?;
                let (new, _) = set_image(&read(&texts, &file)?, &reference)
                    .map_err(|e| EngineError::invalid(format!("{file}: {e}")))?;
                texts.insert(file, new);
            }
            (Freight::YamlPath { file, path }, Some(v)) => {
                let file = join(dir, file);
                let (new, _) = set_scalar(&read(&texts, &file)?, path, v)
                    .map_err(|e| EngineError::invalid(format!("{file}: {e}")))?;
                texts.insert(file, new);
            }
            (Freight::File(file), _) => {
                let path = join(dir, file);
                match files.get(file) {
                    Some(Some(content)) => out.push(FileChange::Put {
                        path,
                        content: content.clone(),
                    }),
                    Some(None) => {
                        if tip.lstat(&path)?.is_some() {
                            out.push(FileChange::Delete { path });
                        }
                    }
                    None => {
                        return Err(EngineError::invalid(format!("{path}: no content to write")));
                    }
                }
            }
            _ => {}
        }
    }
    out.extend(texts.into_iter().map(|(path, t)| FileChange::Put {
        path,
        content: t.into_bytes(),
    }));
    Ok(out)
}
