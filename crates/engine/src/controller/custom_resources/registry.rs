//! Which custom resource defines which application, project and pipeline (one source of
//! truth per object), what else defined them in this run, and the status last written.

use std::collections::BTreeMap;
use std::sync::Mutex;

use driftless_kube::ResourceType;

use super::{Noun, Resource, status};
use crate::error::{EngineError, EngineResult};

/// Who defines which engine object (one source of truth), and the status last written.
#[derive(Default)]
pub(crate) struct Registry {
    /// (noun, name) -> the label of the resource defining it.
    pub(super) owners: Mutex<BTreeMap<(Noun, String), String>>,
    /// (noun, name) -> the actor that defined it otherwise in this run ("config", a user...).
    pub(super) others: Mutex<BTreeMap<(Noun, String), String>>,
    /// Application -> its resource and the status last written (unchanged: no write).
    pub(super) written: Mutex<BTreeMap<String, status::Written>>,
    /// Resource -> the `metadata.generation` last taken: a status write (ours) changes the
    /// resourceVersion, not the generation, and must not define the object again.
    pub(super) seen: Mutex<BTreeMap<String, i64>>,
    /// (noun, name) -> resources refused for it (conflict or bad spec), with their objects:
    /// looked at again when the name's definer goes away.
    pub(super) refused: Mutex<RefusedMap>,
}

type RefusedMap = BTreeMap<(Noun, String), Vec<(Resource, serde_json::Value)>>;

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Registry {
    /// A definition of `name` by `actor` (`set_app`, `set_project`): refused while a resource
    /// defines it, unless `actor` is that resource or a promotion editing it in place.
    pub(crate) fn admit(&self, noun: Noun, name: &str, actor: &str) -> EngineResult<()> {
        let key = (noun, name.to_string());
        if let Some(owner) = lock(&self.owners).get(&key) {
            if actor == format!("resource {owner}") || actor.starts_with("promotion ") {
                return Ok(());
            }
            return Err(EngineError::Conflict(format!(
                "{} {name} is defined by the custom resource {owner}; change or delete it there (one source of truth per {}; refused from {actor})",
                noun.as_str(),
                noun.as_str()
            )));
        }
        // Definitions read back from the store may be taken over (as files take them over).
        if actor != "store" {
            lock(&self.others).insert(key, actor.to_string());
        }
        Ok(())
    }

    /// Removing `name` by `actor` (`remove_app`): refused while a resource defines it, unless
    /// `actor` is that resource (deleting the resource is how it goes).
    pub(crate) fn admit_removal(&self, noun: Noun, name: &str, actor: &str) -> EngineResult<()> {
        match lock(&self.owners).get(&(noun, name.to_string())) {
            Some(owner) if actor != format!("resource {owner}") => {
                Err(EngineError::Conflict(format!(
                    "{} {name} is defined by the custom resource {owner}; delete that resource to remove it",
                    noun.as_str()
                )))
            }
            _ => Ok(()),
        }
    }

    /// Claims `name` for `r`; refused (naming both) when another source defines it.
    pub(super) fn claim(&self, r: &Resource, name: &str) -> EngineResult<()> {
        let key = (r.noun, name.to_string());
        let label = r.label();
        if let Some(owner) = lock(&self.owners).get(&key)
            && *owner != label
        {
            return Err(conflict(
                r.noun,
                name,
                &label,
                &format!("the custom resource {owner}"),
            ));
        }
        if let Some(other) = lock(&self.others).get(&key) {
            let by = if other == "config" {
                "a definition file (--config)".to_string()
            } else {
                format!("{other} (files, the API or an app-of-apps)")
            };
            return Err(conflict(r.noun, name, &label, &by));
        }
        lock(&self.owners).insert(key, label);
        Ok(())
    }

    /// Remembers a refused resource (replacing an earlier refusal of it).
    pub(super) fn refuse(&self, key: (Noun, String), r: &Resource, obj: &serde_json::Value) {
        let mut refused = lock(&self.refused);
        let list = refused.entry(key).or_default();
        list.retain(|(x, _)| x != r);
        list.push((r.clone(), obj.clone()));
    }

    /// Forgets a refusal of `r` (it was taken, or it is gone).
    pub(super) fn unrefuse(&self, key: &(Noun, String), r: &Resource) {
        if let Some(list) = lock(&self.refused).get_mut(key) {
            list.retain(|(x, _)| x != r);
        }
    }

    /// The resources refused for `name`, taken out to be looked at again.
    pub(super) fn take_refused(
        &self,
        noun: Noun,
        name: &str,
    ) -> Vec<(Resource, serde_json::Value)> {
        lock(&self.refused)
            .remove(&(noun, name.to_string()))
            .unwrap_or_default()
    }

    /// Whether a file, the API or an app-of-apps defined `name` in this run.
    pub(super) fn defined_otherwise(&self, noun: Noun, name: &str) -> bool {
        lock(&self.others).contains_key(&(noun, name.to_string()))
    }

    pub(super) fn owner(&self, noun: Noun, name: &str) -> Option<String> {
        lock(&self.owners).get(&(noun, name.to_string())).cloned()
    }

    pub(super) fn release(&self, noun: Noun, name: &str) {
        lock(&self.owners).remove(&(noun, name.to_string()));
        if noun == Noun::Application {
            lock(&self.written).remove(name);
        }
    }

    pub(super) fn owned_by_type(&self, ty: &ResourceType) -> Vec<(Noun, String, String)> {
        let prefix = format!("{} {} ", ty.kind, ty.api_version());
        lock(&self.owners)
            .iter()
            .filter(|(_, l)| l.starts_with(&prefix))
            .map(|((n, name), l)| (*n, name.clone(), l.clone()))
            .collect()
    }
}

pub(super) fn conflict(noun: Noun, name: &str, label: &str, other: &str) -> EngineError {
    EngineError::Conflict(format!(
        "{} {name} is defined twice: by the custom resource {label} and by {other}; one source of truth per {} — remove one of them",
        noun.as_str(),
        noun.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(group: &str, name: &str) -> Resource {
        Resource {
            ty: ResourceType::new(group, "v1alpha1", "Application", "applications"),
            noun: Noun::Application,
            namespace: "driftless".into(),
            name: name.into(),
        }
    }

    #[test]
    fn a_resource_owns_its_application_until_released() {
        let reg = Registry::default();
        let r = resource("driftless.dev", "web");
        reg.claim(&r, "web").unwrap();
        reg.admit(Noun::Application, "web", &r.actor()).unwrap();
        reg.admit(Noun::Application, "web", "promotion 7").unwrap();
        let e = reg
            .admit(Noun::Application, "web", "alice")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Application driftless.dev/v1alpha1 driftless/web") && e.contains("alice"),
            "{e}"
        );
        // Another resource of the same name is refused, both named.
        let argo = resource("argoproj.io", "web");
        let e = reg.claim(&argo, "web").unwrap_err().to_string();
        assert!(e.contains("argoproj.io/v1alpha1 driftless/web"), "{e}");
        assert!(e.contains("driftless.dev/v1alpha1 driftless/web"), "{e}");
        let e = reg
            .admit_removal(Noun::Application, "web", "alice")
            .unwrap_err()
            .to_string();
        assert!(e.contains("delete that resource"), "{e}");
        reg.admit_removal(Noun::Application, "web", &r.actor())
            .unwrap();
        reg.release(Noun::Application, "web");
        reg.admit(Noun::Application, "web", "alice").unwrap();
        reg.admit_removal(Noun::Application, "web", "alice")
            .unwrap();
    }

    #[test]
    fn a_name_a_file_defines_is_refused_but_a_stored_one_is_taken_over() {
        let reg = Registry::default();
        reg.admit(Noun::Application, "filed", "config").unwrap();
        reg.admit(Noun::Application, "stored", "store").unwrap();
        let e = reg
            .claim(&resource("driftless.dev", "filed"), "filed")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a definition file (--config)"), "{e}");
        reg.claim(&resource("driftless.dev", "stored"), "stored")
            .unwrap();
        // A project of the same name is another object.
        reg.admit(Noun::Project, "stored", "alice").unwrap();
    }
}
