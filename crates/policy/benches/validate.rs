//! 1,000 applications × 10 objects validated against the embedded Kubernetes v1.36 schema
//! and every built-in policy (plus deprecation checks), as `driftless validate` does after
//! rendering. Prints the median of 5 runs, the gate's per-application cost and the cost of
//! building the validator.
//!
//! `cargo bench -p driftless-policy --bench validate`

use std::time::{Duration, Instant};

use driftless_policy::rego::{BUILTINS, EnabledBuiltin};
use driftless_policy::{Gate, GateConfig, Rendered, Severity};
use serde_json::{Value, json};

fn app(i: usize) -> Vec<Value> {
    let name = format!("app-{i}");
    let ns = format!("team-{}", i % 50);
    let labels = json!({"app.kubernetes.io/name": name, "team": format!("t{}", i % 50)});
    let meta = json!({"name": name, "namespace": ns, "labels": labels});
    let pod = json!({
        "metadata": {"labels": labels},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000},
            "serviceAccountName": name,
            "containers": [{
                "name": "app", "image": format!("registry.example.com/{name}:1.{i}.0"),
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "prod"}, {"name": "CFG", "valueFrom": {"configMapKeyRef": {"name": name, "key": "mode"}}}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
                "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}]
            }],
            "volumes": [{"name": "cfg", "configMap": {"name": name}}]
        }
    });
    vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}, "template": pod}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta,
               "spec": {"selector": {"app.kubernetes.io/name": name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"mode": "prod", "level": "info"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": {"token": "c2VjcmV0LXRva2Vu"}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
               "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]}),
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
               "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}, "minReplicas": 2, "maxReplicas": 5,
                        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}}),
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
               "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
               "spec": {"ingressClassName": "nginx", "rules": [{"host": format!("{name}.example.com"), "http": {"paths": [
                   {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"name": "http"}}}}]}}]}}),
    ]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let apps: Vec<(String, Vec<Value>)> = (0..1000).map(|i| (format!("app-{i}"), app(i))).collect();
    let origins: Vec<String> = (0..10).map(|i| format!("apps/x/{i}.yaml#0")).collect();
    let all: Vec<EnabledBuiltin> = BUILTINS
        .iter()
        .map(|b| EnabledBuiltin {
            name: b.name.into(),
            severity: Severity::Error,
            parameters: Value::Null,
        })
        .collect();
    let t = Instant::now();
    let gate = Gate::new(GateConfig {
        builtins: all,
        ..Default::default()
    })
    .expect("gate");
    let build = t.elapsed();
    let objects: Vec<Rendered> = apps
        .iter()
        .flat_map(|(env, objs)| {
            objs.iter().zip(&origins).map(move |(o, origin)| Rendered {
                object: o,
                origin,
                environment: env,
            })
        })
        .collect();
    let locate = |o: &str, _: Option<&str>| (o.to_string(), None, None);
    let mut runs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let found = gate.validator().check(&objects, &locate);
        runs.push(t.elapsed());
        assert!(
            found.is_empty(),
            "the generated fleet is compliant: {:#?}",
            &found[..found.len().min(5)]
        );
    }
    // A broken fleet finds what it should (the bench must not pass by checking nothing).
    let mut broken = apps[0].1.clone();
    broken[0]["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx");
    broken[1]["spec"]["ports"][0]["port"] = json!("eighty");
    let b: Vec<Rendered> = broken
        .iter()
        .map(|o| Rendered {
            object: o,
            origin: "x#0",
            environment: "x",
        })
        .collect();
    assert_eq!(gate.validator().check(&b, &locate).len(), 2);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "validator build (schema parse + {} built-ins compiled): {build:?}",
        BUILTINS.len()
    );
    println!(
        "{} objects (1,000 apps x 10) schema + policies + deprecations, {threads} threads: median {:?} (runs {:?})",
        objects.len(),
        median(runs.clone()),
        runs
    );
    let schema_only = Gate::new(GateConfig::default()).expect("gate");
    let t = Instant::now();
    assert!(schema_only.validator().check(&objects, &locate).is_empty());
    println!(
        "the same without policies (schema + deprecations only): {:?}",
        t.elapsed()
    );
    // The fixed cost of one evaluation: a single trivial team policy.
    let trivial = Gate::new(GateConfig {
        modules: vec![driftless_policy::Module {
            file: "t.rego".into(),
            text: "package t\n\ndeny contains \"x\" if input.kind == \"Nothing\"\n".into(),
        }],
        ..Default::default()
    })
    .expect("gate");
    let t = Instant::now();
    assert!(trivial.validator().check(&objects, &locate).is_empty());
    println!("schema + one trivial Rego rule: {:?}", t.elapsed());
    let mut per_app = Vec::new();
    for (_, objs) in apps.iter().take(200) {
        let set = driftless_core::DesiredSet::from_objects(
            objs.iter()
                .zip(&origins)
                .map(|(o, g)| (o.clone(), g.clone())),
        )
        .unwrap();
        let t = Instant::now();
        assert!(gate.check(&set).is_empty());
        per_app.push(t.elapsed());
    }
    println!(
        "gate.check of one 10-object application: median {:?}",
        median(per_app)
    );
}
