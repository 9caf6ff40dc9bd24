//! The resource types the sandbox serves: the built-in ones exactly as a v1.36 server's
//! discovery documents list them (embedded from `assets/v1.36/discovery`), plus the types of
//! CustomResourceDefinitions applied to it.

use std::collections::BTreeMap;

use rust_embed::RustEmbed;
use serde_json::{Value, json};

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

/// Reads an embedded JSON asset (present by construction).
pub fn asset_json(path: &str) -> Value {
    let file = Assets::get(path).unwrap_or_else(|| panic!("embedded asset {path} is missing"));
    serde_json::from_slice(&file.data).unwrap_or_else(|e| panic!("embedded asset {path}: {e}"))
}

/// One served resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    pub short_names: Vec<String>,
    /// Served subresources (`status`, `scale`).
    pub subresources: Vec<String>,
    /// Set for types added by a CRD: the CRD's name.
    pub crd: Option<String>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, `configmaps`: how the server names the resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

pub struct Registry {
    types: Vec<ResourceType>,
    /// Recorded APIResourceList documents by group/version (`v1`, `apps/v1`).
    recorded: BTreeMap<String, Value>,
}

impl Registry {
    /// The built-in types of Kubernetes v1.36.
    pub fn builtin() -> Self {
        let mut types = Vec::new();
        let mut recorded = BTreeMap::new();
        for file in Assets::iter().filter(|f| f.starts_with("v1.36/discovery/")) {
            let doc = asset_json(&file);
            if doc["kind"] != "APIResourceList" {
                continue;
            }
            let gv = doc["groupVersion"].as_str().unwrap_or_default().to_string();
            let (group, version) = gv
                .split_once('/')
                .map(|(g, v)| (g.to_string(), v.to_string()))
                .unwrap_or((String::new(), gv.clone()));
            let list = doc["resources"].as_array().cloned().unwrap_or_default();
            for r in &list {
                let name = r["name"].as_str().unwrap_or_default();
                if name.contains('/') {
                    continue;
                }
                let subresources = list
                    .iter()
                    .filter_map(|s| {
                        s["name"]
                            .as_str()?
                            .strip_prefix(&format!("{name}/"))
                            .map(String::from)
                    })
                    .collect();
                types.push(ResourceType {
                    group: group.clone(),
                    version: version.clone(),
                    kind: r["kind"].as_str().unwrap_or_default().into(),
                    plural: name.into(),
                    singular: r["singularName"].as_str().unwrap_or_default().into(),
                    namespaced: r["namespaced"].as_bool().unwrap_or(true),
                    verbs: strings(&r["verbs"]),
                    short_names: strings(&r["shortNames"]),
                    subresources,
                    crd: None,
                });
            }
            recorded.insert(gv, doc);
        }
        Registry { types, recorded }
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    pub fn find_kind(&self, group: &str, version: &str, kind: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
    }

    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    /// Adds (or replaces) the types a CustomResourceDefinition serves.
    pub fn add_crd(&mut self, crd: &Value) {
        let name = crd["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.types.retain(|t| t.crd.as_deref() != Some(&name));
        let spec = &crd["spec"];
        let names = &spec["names"];
        for v in spec["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["served"].as_bool().unwrap_or(false))
        {
            let mut subresources = Vec::new();
            if v["subresources"].get("status").is_some() {
                subresources.push("status".to_string());
            }
            if v["subresources"].get("scale").is_some() {
                subresources.push("scale".to_string());
            }
            self.types.push(ResourceType {
                group: spec["group"].as_str().unwrap_or_default().into(),
                version: v["name"].as_str().unwrap_or_default().into(),
                kind: names["kind"].as_str().unwrap_or_default().into(),
                plural: names["plural"].as_str().unwrap_or_default().into(),
                singular: names["singular"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| names["kind"].as_str().unwrap_or_default().to_lowercase()),
                namespaced: spec["scope"].as_str() != Some("Cluster"),
                verbs: [
                    "delete",
                    "deletecollection",
                    "get",
                    "list",
                    "patch",
                    "create",
                    "update",
                    "watch",
                ]
                .map(String::from)
                .to_vec(),
                short_names: strings(&names["shortNames"]),
                subresources,
                crd: Some(name.clone()),
            });
        }
    }

    /// Removes a CRD's types; returns the (group, plural) pairs that were served.
    pub fn remove_crd(&mut self, name: &str) -> Vec<(String, String)> {
        let gone = self
            .types
            .iter()
            .filter(|t| t.crd.as_deref() == Some(name))
            .map(|t| (t.group.clone(), t.plural.clone()))
            .collect();
        self.types.retain(|t| t.crd.as_deref() != Some(name));
        gone
    }

    /// Group/versions served, built-in first (as recorded), then CRD groups.
    fn group_versions(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for t in &self.types {
            let gv = (t.group.clone(), t.version.clone());
            if !out.contains(&gv) {
                out.push(gv);
            }
        }
        out
    }

    /// `/api` and `/apis` (APIVersions / APIGroupList).
    pub fn api_versions(&self) -> Value {
        asset_json("v1.36/discovery/api.json")
    }

    pub fn api_group_list(&self) -> Value {
        let mut doc = asset_json("v1.36/discovery/apis.json");
        let groups = doc["groups"].as_array_mut().expect("recorded APIGroupList");
        for (g, v) in self
            .group_versions()
            .into_iter()
            .filter(|(g, _)| !g.is_empty())
        {
            if !groups.iter().any(|x| x["name"] == g.as_str()) {
                let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
                groups.push(json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv}));
            }
        }
        doc
    }

    /// `/api/v1` or `/apis/G/V` (APIResourceList), as recorded for built-in groups.
    pub fn api_resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        if let Some(doc) = self.recorded.get(&gv) {
            return Some(doc.clone());
        }
        let types: Vec<&ResourceType> = self
            .types
            .iter()
            .filter(|t| t.group == group && t.version == version)
            .collect();
        if types.is_empty() {
            return None;
        }
        let mut resources = Vec::new();
        for t in types {
            resources.push(json!({"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced, "kind": t.kind, "verbs": t.verbs, "shortNames": t.short_names}));
            for s in &t.subresources {
                resources.push(json!({"name": format!("{}/{s}", t.plural), "singularName": "", "namespaced": t.namespaced, "kind": if s == "scale" { "Scale" } else { t.kind.as_str() }, "verbs": ["get", "patch", "update"]}));
            }
        }
        Some(
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        )
    }

    /// Aggregated discovery (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`)
    /// for the legacy group (`/api`) or the named groups (`/apis`).
    pub fn aggregated(&self, legacy: bool) -> Value {
        let mut groups: Vec<Value> = Vec::new();
        let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for (g, v) in self.group_versions() {
            if g.is_empty() != legacy {
                continue;
            }
            if !by_group.contains_key(&g) {
                order.push(g.clone());
            }
            by_group.entry(g).or_default().push(v);
        }
        for g in order {
            let versions: Vec<Value> = by_group[&g]
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = self
                        .types
                        .iter()
                        .filter(|t| t.group == g && &t.version == v)
                        .map(|t| {
                            let subs: Vec<Value> = t
                                .subresources
                                .iter()
                                .map(|s| json!({"subresource": s, "responseKind": {"group": if s == "scale" { "autoscaling" } else { t.group.as_str() }, "version": if s == "scale" { "v1" } else { t.version.as_str() }, "kind": if s == "scale" { "Scale" } else { t.kind.as_str() }}, "verbs": ["get", "patch", "update"]}))
                                .collect();
                            json!({
                                "resource": t.plural,
                                "responseKind": {"group": t.group, "version": t.version, "kind": t.kind},
                                "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": t.singular,
                                "verbs": t.verbs,
                                "shortNames": t.short_names,
                                "subresources": subs,
                            })
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            groups.push(
                json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions}),
            );
        }
        json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": groups})
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_types_come_from_recorded_discovery() {
        let r = Registry::builtin();
        let d = r.find("apps", "v1", "deployments").unwrap();
        assert_eq!((d.kind.as_str(), d.namespaced), ("Deployment", true));
        assert!(
            d.subresources.contains(&"status".to_string())
                && d.subresources.contains(&"scale".to_string())
        );
        assert_eq!(d.short_names, vec!["deploy"]);
        assert!(!r.find("", "v1", "namespaces").unwrap().namespaced);
        assert_eq!(
            r.api_resource_list("apps", "v1").unwrap()["groupVersion"],
            "apps/v1"
        );
    }

    #[test]
    fn crds_add_and_remove_types() {
        let mut r = Registry::builtin();
        let crd = json!({"metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}]}});
        r.add_crd(&crd);
        assert_eq!(
            r.find("example.com", "v1", "widgets").unwrap().kind,
            "Widget"
        );
        assert!(
            r.api_group_list()["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "example.com")
        );
        let agg = r.aggregated(false);
        assert!(
            agg["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["metadata"]["name"] == "example.com")
        );
        r.remove_crd("widgets.example.com");
        assert!(r.find("example.com", "v1", "widgets").is_none());
    }
}
