//! Benchmark: the cost of assessing one live object — a built-in core kind, a built-in
//! custom-resource family, the generic condition rule, and a Lua check (the thread's
//! sandboxed LuaJIT state with a fresh environment per object, as in production).
//!
//! `cargo bench -p driftless-health --bench assess`

use std::hint::black_box;
use std::time::Instant;

use driftless_health::{Assessor, HealthChecks};
use serde_json::{Value, json};

const RUNS: usize = 20_000;

fn time(label: &str, assessor: &Assessor, obj: &Value, runs: usize) {
    let started = Instant::now();
    for _ in 0..runs {
        black_box(assessor.assess(Some(black_box(obj))));
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / runs as f64;
    println!("{label:<40} {per:>8.2} µs per object ({runs} objects)");
}

fn main() {
    let builtin = Assessor::default();
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 2},
        "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}});
    let certificate = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "web", "generation": 1},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
            "message": "Certificate is up to date and has not expired", "observedGeneration": 1}]}});
    let custom = json!({"apiVersion": "db.example.com/v1", "kind": "Database",
        "metadata": {"name": "orders", "generation": 1},
        "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}});
    time("built-in kind (Deployment)", &builtin, &deployment, RUNS);
    time(
        "built-in family (cert-manager)",
        &builtin,
        &certificate,
        RUNS,
    );
    time("generic conditions", &builtin, &custom, RUNS);
    let lua = Assessor::with_checks(HealthChecks::from_native([(
        "db.example.com/*",
        r#"hs = { status = "Progressing", message = "waiting" }
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type ~= "Ready" then goto continue end
    if c.status == "True" then hs.status = "Healthy"; hs.message = "ready" end
    ::continue::
  end
end
return hs"#,
    )]));
    time("Lua check (fresh environment)", &lua, &custom, RUNS / 4);
    // As many directory scripts as Argo CD ships, none for the object: the lookup's cost.
    let files: Vec<(String, String)> = (0..470)
        .map(|i| {
            (
                format!("group{i}.example.io/Kind{i}/health.lua"),
                "return nil".into(),
            )
        })
        .chain([("_.crossplane.io/_/health.lua".into(), "return nil".into())])
        .collect();
    let mut checks = HealthChecks::default();
    checks.add_directory(files.iter().map(|(p, t)| (p.as_str(), t.as_str())));
    let many = Assessor::with_checks(checks);
    time(
        "built-in kind, 471 directory checks",
        &many,
        &deployment,
        RUNS,
    );
}
