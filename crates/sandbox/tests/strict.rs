//! The sandbox refuses what a real API server refuses in what kubectl and appliers send:
//! Secret `data` that is not base64.

use crate::common::{Client, ns};
use driftless_sandbox::Sandbox;
use serde_json::{Value, json};

fn secret(name: &str, value: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": {"password": value}})
}

#[tokio::test]
async fn sandbox_rejects_secret_data_not_base64() {
    let sb = Sandbox::start(0).await.unwrap();
    let c = Client::new(&sb);
    assert_eq!(c.post("/api/v1/namespaces", ns("vault")).await.0, 201);
    let base = "/api/v1/namespaces/vault/secrets";

    // Create: the decoder's 400, byte offset as Go's base64 reports it ("wombat" → 4).
    let (code, body) = c.post(base, secret("db", "wombat")).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 4",
            "reason": "BadRequest", "code": 400})
    );
    assert_eq!(c.get(&format!("{base}/db")).await.0, 404, "nothing stored");

    // Valid base64 (Go skips newlines) is stored as sent.
    let (code, made) = c.post(base, secret("db", "d29t\nYmF0")).await;
    assert_eq!(code, 201, "{made}");

    // Update and merge patch go through the same decoder.
    let mut bad = made.clone();
    bad["data"]["password"] = json!("${PASSWORD}");
    let (code, body) = c.send("PUT", &format!("{base}/db"), None, Some(bad)).await;
    assert_eq!(
        (code, body["message"].as_str().unwrap()),
        (
            400,
            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 0"
        )
    );
    let (code, _) = c
        .send(
            "PATCH",
            &format!("{base}/db"),
            Some("application/merge-patch+json"),
            Some(json!({"data": {"other": "YQ="}})),
        )
        .await;
    assert_eq!(code, 400);

    // Server-side apply: the typed patch takes any string; converting the merged object back
    // to a Secret fails, a 500 without reason (like transcript 12's typed-patch failure).
    let mut applied = secret("db", "admin");
    applied["metadata"]["namespace"] = json!("vault");
    let (code, body) = c
        .send(
            "PATCH",
            &format!("{base}/db?fieldManager=driftless&force=true"),
            Some("application/apply-patch+yaml"),
            Some(applied),
        )
        .await;
    assert_eq!(code, 500, "{body}");
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "failed to convert new object (vault/db; /v1, Kind=Secret) to proper version: error decoding from json: illegal base64 data at input byte 4",
            "code": 500})
    );
    let (_, live) = c.get(&format!("{base}/db")).await;
    assert_eq!(
        live["data"]["password"], "d29t\nYmF0",
        "the live Secret is unchanged"
    );
}

/// Runs kubectl against the sandbox (a blocking child process, off the runtime's threads).
async fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> (bool, String) {
    let mut cmd = std::process::Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
    let out = tokio::task::spawn_blocking(move || {
        cmd.output()
            .expect("kubectl is installed (.ci/run installs it)")
    })
    .await
    .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

// kubectl's imperative creates send Kubernetes protobuf bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_imperative_creates_send_protobuf_and_succeed() {
    let sb = Sandbox::start(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, sb.kubeconfig()).unwrap();
    let c = Client::new(&sb);
    let runs: &[&[&str]] = &[
        &["create", "namespace", "x"],
        &[
            "-n",
            "x",
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=dev",
            "--from-literal=empty=",
        ],
        &[
            "-n",
            "x",
            "create",
            "secret",
            "generic",
            "db",
            "--from-literal=password=s3cret",
        ],
        &["-n", "x", "create", "serviceaccount", "robot"],
        &[
            "-n",
            "x",
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
            "--port=80",
        ],
        &[
            "-n",
            "x",
            "create",
            "service",
            "clusterip",
            "web",
            "--tcp=80:8080",
        ],
        &[
            "-n",
            "x",
            "create",
            "job",
            "once",
            "--image=busybox:1.36",
            "--",
            "echo",
            "hi",
        ],
        &[
            "-n",
            "x",
            "create",
            "role",
            "reader",
            "--verb=get,list",
            "--resource=pods,configmaps",
        ],
        &[
            "-n",
            "x",
            "create",
            "rolebinding",
            "reader",
            "--role=reader",
            "--serviceaccount=x:robot",
        ],
    ];
    for args in runs {
        let (ok, out) = kubectl(&kc, args).await;
        assert!(ok, "kubectl {args:?}: {out}");
    }
    let get = |path: &str| {
        let c = &c;
        let path = path.to_string();
        async move { c.get(&path).await.1 }
    };
    let ns = get("/api/v1/namespaces/x").await;
    assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "x");
    assert_eq!(
        ns["metadata"]["managedFields"][0]["manager"],
        "kubectl-create"
    );
    let cm = get("/api/v1/namespaces/x/configmaps/settings").await;
    assert_eq!(
        cm["data"],
        json!({"mode": "dev", "empty": ""}),
        "empty map values are kept"
    );
    assert!(
        cm["metadata"]
            .get("creationTimestamp")
            .is_some_and(Value::is_string)
    );
    let secret = get("/api/v1/namespaces/x/secrets/db").await;
    assert_eq!(
        (secret["data"]["password"].as_str(), secret["type"].as_str()),
        (Some("czNjcmV0"), Some("Opaque"))
    );
    let d = get("/apis/apps/v1/namespaces/x/deployments/web").await;
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["selector"]["matchLabels"], json!({"app": "web"}));
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        (
            container["image"].as_str(),
            container["ports"][0]["containerPort"].as_i64()
        ),
        (Some("nginx:1.27"), Some(80))
    );
    let svc = get("/api/v1/namespaces/x/services/web").await;
    assert_eq!(
        svc["spec"]["ports"][0]["targetPort"], 8080,
        "an int-or-string, decoded as the int"
    );
    assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
    let job = get("/apis/batch/v1/namespaces/x/jobs/once").await;
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"],
        json!(["echo", "hi"])
    );
    let role = get("/apis/rbac.authorization.k8s.io/v1/namespaces/x/roles/reader").await;
    assert_eq!(
        role["rules"][0]["apiGroups"],
        json!([""]),
        "the empty core group stays in a list"
    );
    assert_eq!(role["rules"][0]["verbs"], json!(["get", "list"]));
    let rb = get("/apis/rbac.authorization.k8s.io/v1/namespaces/x/rolebindings/reader").await;
    assert_eq!(
        rb["subjects"][0],
        json!({"kind": "ServiceAccount", "name": "robot", "namespace": "x"})
    );
    assert_eq!(
        rb["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"})
    );

    // What kubectl shows: the Deployment's pods come up.
    let (ok, out) = kubectl(
        &kc,
        &[
            "-n",
            "x",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=20s",
        ],
    )
    .await;
    assert!(ok && out.contains("successfully rolled out"), "{out}");
}
