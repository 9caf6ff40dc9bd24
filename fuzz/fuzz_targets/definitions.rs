//! The definitions classifier: Applications (Driftless and Argo CD), Projects/AppProjects,
//! Repositories and Clusters (both spellings, Argo CD Secrets included), Pipelines, Users.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let mut d = driftless_core::definitions::Definitions::default();
        d.add_file(text, "fuzz.yaml");
        for a in &d.apps {
            let _ = a.app.validate();
        }
        for r in &d.repositories {
            let _ = r.validate();
            let _ = r.redacted();
        }
        for c in &d.clusters {
            let _ = c.validate();
        }
        for p in &d.projects {
            let _ = p.violations("x", &Default::default(), None, &[]);
        }
    }
});
