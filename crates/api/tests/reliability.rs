//! RELIABILITY.md items of the API (input 16-20, 22-24) and issue 13's HTTP defects (5, 9,
//! 10, 15), over real sockets on 127.0.0.1 with short limits: a test waits for the server
//! to answer or close, never a fixed time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_api::{Limits, Users};
use driftless_core::users::Caller;
use driftless_engine::controller::{Controller, ControllerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN: &str = "admin-token-0123456789";
const SECRET: &str = "hook-secret";

struct Api {
    addr: std::net::SocketAddr,
    ctl: Arc<Controller>,
    users: Arc<Users>,
    _dir: tempfile::TempDir,
    _sc: driftless_testkit::cluster::SandboxCluster,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn short_limits() -> Limits {
    Limits {
        header_timeout: Duration::from_millis(400),
        body_timeout: Duration::from_millis(400),
        max_body: 64 * 1024,
        max_connections: 4,
        drain: Duration::from_secs(1),
    }
}

async fn start(limits: Limits, users: Vec<(String, Caller)>) -> Api {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sc = driftless_testkit::cluster::sandbox_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let ctl = crate::common::controller(
        dir.path(),
        sc.cluster.client(),
        "sandbox",
        ControllerConfig::default(),
    )
    .await;
    ctl.users().replace(users);
    let users = ctl.users().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = driftless_api::router_with(
        driftless_api::ApiState {
            controller: ctl.clone(),
            token: Arc::new(ADMIN.into()),
            webhook_secret: Some(Arc::new(SECRET.into())),
            users: Arc::new(Vec::new()),
        },
        limits,
    );
    tokio::spawn(driftless_api::serve(
        listener,
        router,
        limits,
        std::future::pending(),
    ));
    Api {
        addr,
        ctl,
        users,
        _dir: dir,
        _sc: sc,
    }
}

/// Reads until the server closes the socket (or `within` passes: a failure), returning what
/// it sent.
async fn until_closed(s: &mut TcpStream, within: Duration) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server did not close the connection within {within:?}"
    );
    String::from_utf8_lossy(&out).into_owned()
}

fn sign(body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Defect 5: a request head sent one line at a time never completes; the connection is cut
/// at the header timeout, not held for minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_05_slow_headers_are_cut_and_stalled_connections_capped() {
    let api = start(short_limits(), Vec::new()).await;
    let started = Instant::now();
    let mut slow = TcpStream::connect(api.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    // The client keeps dripping header lines; the server closes anyway.
    let drip = async {
        for i in 0.. {
            let line = format!("x-slow-{i}: y\r\n");
            if slow.write_all(line.as_bytes()).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), drip).await;
    let cut_after = started.elapsed();
    assert!(
        cut_after < Duration::from_secs(5),
        "a dripping header was held for {cut_after:?}"
    );

    // N stalled connections fill the limit; the (N+1)th is answered 503 and closed at once.
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(api.addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        stalled.push(s);
    }
    // The accept loop takes them in order: wait until the server holds all four (it answers
    // the next one 503), then check the extra one is refused.
    let mut extra = TcpStream::connect(api.addr).await.unwrap();
    let answer = until_closed(&mut extra, Duration::from_secs(5)).await;
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "connection over the limit got {answer:?}"
    );
    // The stalled ones are cut by the header timeout, and the API serves again.
    for s in &mut stalled {
        let _ = until_closed(s, Duration::from_secs(5)).await;
    }
    let ok = reqwest::get(api.url("/healthz")).await.unwrap();
    assert_eq!(ok.status(), 200);

    // A kept-alive connection that sends nothing more is closed (idle timeout).
    let mut idle = TcpStream::connect(api.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let got = until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
}

/// Input 22: a 1 GB webhook body is refused with 413 after at most the cap was read (memory
/// stays flat); a body sent at a few bytes a second gets 408 at the body timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_input_22_huge_or_slow_webhook_body() {
    let api = start(short_limits(), Vec::new()).await;
    let before = rss_kib();
    for declared in [true, false] {
        let mut s = TcpStream::connect(api.addr).await.unwrap();
        let head = if declared {
            "POST /api/v1/webhooks/github HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1073741824\r\n\r\n".to_string()
        } else {
            "POST /api/v1/webhooks/github HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_string()
        };
        s.write_all(head.as_bytes()).await.unwrap();
        let (mut rd, mut wr) = s.into_split();
        // Send up to 1 GB while the answer is awaited; the server stops reading early.
        let sender = tokio::spawn(async move {
            let chunk = vec![b'{'; 1 << 20];
            for _ in 0..1024 {
                let piece = if declared {
                    chunk.clone()
                } else {
                    let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
                    c.extend_from_slice(&chunk);
                    c.extend_from_slice(b"\r\n");
                    c
                };
                if wr.write_all(&piece).await.is_err() {
                    break;
                }
            }
        });
        let mut answer = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(20), rd.read(&mut answer))
            .await
            .expect("no answer to a 1 GB body")
            .unwrap();
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(
            text.starts_with("HTTP/1.1 413"),
            "declared={declared}: {text}"
        );
        drop(rd);
        sender.abort();
    }
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 64,
        "memory grew by {grown_mib} MiB on 1 GB bodies"
    );

    // Slow drip: the head is complete, the body trickles.
    let mut s = TcpStream::connect(api.addr).await.unwrap();
    s.write_all(b"POST /api/v1/webhooks/github HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"a\"")
        .await
        .unwrap();
    let got = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(got.starts_with("HTTP/1.1 408"), "slow body got {got:?}");
}

/// Input 23 and defect 15: a webhook with a bad or missing HMAC is 401 before its body is
/// parsed (a body that is not even JSON gets 401, not 400), and the message names the
/// signature header, not a bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_input_23_webhook_bad_or_missing_hmac_401_before_parsing() {
    let api = start(Limits::default(), Vec::new()).await;
    let http = reqwest::Client::new();
    let not_json = b"this is not JSON {{{".to_vec();
    for sig in [None, Some(sign(b"another body")), Some("sha256=zz".into())] {
        let mut req = http
            .post(api.url("/api/v1/webhooks/github"))
            .header("content-type", "application/json")
            .body(not_json.clone());
        if let Some(s) = &sig {
            req = req.header("x-hub-signature-256", s);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "signature {sig:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        let msg = body["error"].as_str().unwrap();
        assert!(msg.contains("X-Hub-Signature-256"), "{msg}");
        assert!(!msg.to_lowercase().contains("bearer"), "{msg}");
    }
    // The same body correctly signed is parsed (and refused as not JSON: 400).
    let r = http
        .post(api.url("/api/v1/webhooks/github"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(&not_json))
        .body(not_json.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// Input 24: signed payloads with wrong types or nulls are 400 with a message, never a
/// panic (the server keeps answering).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_input_24_webhook_wrong_types_or_nulls_400() {
    let api = start(Limits::default(), Vec::new()).await;
    let http = reqwest::Client::new();
    for provider in ["github", "gitlab", "gitea", "bitbucket", "generic"] {
        for body in [
            "null",
            "[]",
            "42",
            "\"s\"",
            r#"{"repository": null}"#,
            r#"{"repository": {"clone_url": 7, "html_url": null}}"#,
            r#"{"project": {"git_http_url": [1]}}"#,
            r#"{"repository": {"links": {"html": {"href": {}}}}}"#,
            r#"{"repoURL": false}"#,
        ] {
            let mut req = http
                .post(api.url(&format!("/api/v1/webhooks/{provider}")))
                .header("content-type", "application/json")
                .body(body);
            req = match provider {
                "gitlab" => req.header("x-gitlab-token", SECRET),
                "gitea" => req.header(
                    "x-gitea-signature",
                    sign(body.as_bytes()).trim_start_matches("sha256="),
                ),
                "bitbucket" => req.header("x-hub-signature", sign(body.as_bytes())),
                "generic" => req.header("x-driftless-signature", sign(body.as_bytes())),
                _ => req.header("x-hub-signature-256", sign(body.as_bytes())),
            };
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 400, "{provider} {body}");
            let v: serde_json::Value = r.json().await.unwrap();
            assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
    assert_eq!(
        reqwest::get(api.url("/healthz")).await.unwrap().status(),
        200
    );
}

/// Input 20 and defect 10: a cross-origin POST a browser may send without a preflight
/// (`text/plain`, a form, multipart) is 415 on every state-changing route, webhooks
/// included, and no answer carries a CORS header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_input_20_cross_origin_post_without_json_rejected() {
    let api = start(Limits::default(), Vec::new()).await;
    let http = reqwest::Client::new();
    let app = "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {name: evil}\nspec:\n  source: {repoURL: \"https://example.invalid/r.git\", path: p}\n  destination: {namespace: default}\n";
    for ct in [
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
    ] {
        for path in [
            "/api/v1/applications",
            "/api/v1/applications/evil/sync",
            "/api/v1/webhooks/github",
        ] {
            let r = http
                .post(api.url(path))
                .header("origin", "https://attacker.example")
                .header("authorization", format!("Bearer {ADMIN}"))
                .header("content-type", ct)
                .body(app)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 415, "{ct} on {path}");
            assert!(r.headers().get("access-control-allow-origin").is_none());
        }
    }
    assert!(
        !api.ctl.has_app("evil").await,
        "a refused POST created the app"
    );
    // A preflight gets no CORS grant either.
    let pre = http
        .request(reqwest::Method::OPTIONS, api.url("/api/v1/applications"))
        .header("origin", "https://attacker.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        pre.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
    // JSON (and the CLI's YAML) still work.
    let r = http
        .post(api.url("/api/v1/applications"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/yaml")
        .body(app)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

fn caller(name: &str, role: &str) -> Caller {
    Caller {
        name: name.into(),
        roles: vec![role.into()],
    }
}

const APP: &str = "apiVersion: driftless.dev/v1alpha1\nkind: Application\nmetadata: {name: NAME}\nspec:\n  source: {repoURL: \"https://example.invalid/r.git\", path: p}\n  destination: {namespace: default}\n";

async fn call(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .request(method, api.url(path))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Input 16. Driftless has no per-object resource actions; the nearest risk is acting on an
/// application, or reading what belongs to another: a non-admin's sync, rollback, delete or
/// pause is 403 and changes nothing, and another application's operation is 404 through this
/// one's URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_input_16_action_on_what_the_caller_does_not_own_403() {
    const ALICE: &str = "alice-token-0123456789";
    let api = start(
        Limits::default(),
        vec![(ALICE.into(), caller("alice", "release"))],
    )
    .await;
    for name in ["mine", "theirs"] {
        let app = driftless_core::app::parse(&APP.replace("NAME", name), "t.yaml")
            .unwrap()
            .remove(0)
            .app;
        api.ctl.set_app(app, "test").await.unwrap();
    }
    use reqwest::Method;
    for (m, path) in [
        (Method::POST, "/api/v1/applications/theirs/sync"),
        (Method::POST, "/api/v1/applications/theirs/rollback"),
        (Method::POST, "/api/v1/applications/theirs/pause-heal"),
        (Method::DELETE, "/api/v1/applications/theirs"),
        (Method::PATCH, "/api/v1/applications/theirs"),
    ] {
        let (status, body) = call(&api, m.clone(), path, ALICE).await;
        assert_eq!(status, 403, "{m} {path}: {body}");
    }
    assert!(api.ctl.has_app("theirs").await);
    let audit = api
        .ctl
        .store
        .list_audit(&driftless_store::AuditQuery {
            actor: Some("alice".into()),
            action: None,
            target_prefix: None,
            after_seq: 0,
            limit: 100,
        })
        .await
        .unwrap();
    assert!(
        audit.is_empty(),
        "a refused call was audited as done: {audit:?}"
    );
    // An operation of `theirs` is not served as one of `mine`.
    let id = api
        .ctl
        .store
        .begin_operation("theirs", "sync", "abc", &serde_json::json!({}))
        .await
        .unwrap();
    let (own, _) = call(
        &api,
        Method::GET,
        &format!("/api/v1/applications/theirs/operations/{id}"),
        ADMIN,
    )
    .await;
    assert_eq!(own, 200);
    let (other, _) = call(
        &api,
        Method::GET,
        &format!("/api/v1/applications/mine/operations/{id}"),
        ADMIN,
    )
    .await;
    assert_eq!(other, 404);
}

/// Input 17: for a caller who may not act, a missing application and an existing one get
/// the identical answer (status and body), so names cannot be probed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_input_17_missing_and_forbidden_app_answer_identically() {
    const RITA: &str = "rita-token-0123456789";
    let api = start(
        Limits::default(),
        vec![(RITA.into(), caller("rita", "readonly"))],
    )
    .await;
    let app = driftless_core::app::parse(&APP.replace("NAME", "exists"), "t.yaml")
        .unwrap()
        .remove(0)
        .app;
    api.ctl.set_app(app, "test").await.unwrap();
    use reqwest::Method;
    for (m, suffix) in [
        (Method::POST, "/sync"),
        (Method::POST, "/rollback"),
        (Method::DELETE, ""),
    ] {
        let present = call(
            &api,
            m.clone(),
            &format!("/api/v1/applications/exists{suffix}"),
            RITA,
        )
        .await;
        let missing = call(
            &api,
            m.clone(),
            &format!("/api/v1/applications/nowhere{suffix}"),
            RITA,
        )
        .await;
        assert_eq!(present.0, 403);
        assert_eq!(present, missing, "{m} {suffix}");
    }
    // Without a valid token, too: 401 for both, same body.
    let present = call(
        &api,
        Method::GET,
        "/api/v1/applications/exists",
        "wrong-token-0123456789",
    )
    .await;
    let missing = call(
        &api,
        Method::GET,
        "/api/v1/applications/nowhere",
        "wrong-token-0123456789",
    )
    .await;
    assert_eq!(present.0, 401);
    assert_eq!(present, missing);
}

/// Input 18. Driftless's API tokens are opaque bearer strings compared in constant time,
/// not JWTs, so `aud` and `alg` do not exist; the nearest risks are a tampered token, a
/// prefix or extension of a valid one, another user's token with a changed byte, a
/// JWT-shaped token (`alg: none`), an empty or oddly-cased scheme: all 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_input_18_forged_tampered_or_jwt_shaped_tokens_401() {
    let api = start(Limits::default(), Vec::new()).await;
    let mut flipped = ADMIN.to_string().into_bytes();
    flipped[5] ^= 1;
    let flipped = String::from_utf8(flipped).unwrap();
    let forged = [
        flipped.as_str(),
        &ADMIN[..ADMIN.len() - 1],
        &format!("{ADMIN}x"),
        &ADMIN.to_uppercase(),
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiJ9.",
        "",
        " ",
    ];
    for t in forged {
        let (status, _) = call(&api, reqwest::Method::GET, "/api/v1/applications", t).await;
        assert_eq!(status, 401, "token {t:?}");
    }
    for header in [
        format!("bearer {ADMIN}"),
        format!("Basic {ADMIN}"),
        ADMIN.to_string(),
    ] {
        let r = reqwest::Client::new()
            .get(api.url("/api/v1/applications"))
            .header("authorization", header.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{header}");
    }
    let (ok, _) = call(&api, reqwest::Method::GET, "/api/v1/applications", ADMIN).await;
    assert_eq!(
        ok, 200,
        "the real token must work, or this test proves nothing"
    );
}

/// Input 19 and defect 9: a user removed from the definitions (or whose token file was
/// rotated) is refused within seconds, without a restart; the test waits for the reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_input_19_revoked_or_rotated_token_401() {
    const OLD: &str = "bob-token-old-0123456789";
    const NEW: &str = "bob-token-new-0123456789";
    let conf = tempfile::tempdir().unwrap();
    let token_file = conf.path().join("bob.token");
    std::fs::write(&token_file, OLD).unwrap();
    let users_yaml = |file: &std::path::Path| {
        format!(
            "apiVersion: driftless.dev/v1alpha1\nkind: User\nmetadata: {{name: bob}}\nspec: {{token: {{file: {}}}, roles: [admin]}}\n---\napiVersion: driftless.dev/v1alpha1\nkind: User\nmetadata: {{name: carol}}\nspec: {{token: carol-token-0123456789, roles: [readonly]}}\n",
            file.display()
        )
    };
    std::fs::write(conf.path().join("users.yaml"), users_yaml(&token_file)).unwrap();
    let (table, problems) = driftless_api::users::load(&[conf.path().to_path_buf()]);
    assert!(problems.is_empty(), "{problems:?}");
    let api = start(Limits::default(), table).await;
    let mut changed = api.users.changed();
    api.users
        .watch(vec![conf.path().to_path_buf()], Duration::from_millis(100));
    let get = |t: &'static str| call(&api, reqwest::Method::GET, "/api/v1/whoami", t);
    assert_eq!(get(OLD).await.0, 200);
    assert_eq!(get("carol-token-0123456789").await.0, 200);

    // Rotation: the old token dies, the new one works.
    let started = Instant::now();
    replace_file(&token_file, NEW);
    tokio::time::timeout(Duration::from_secs(10), changed.changed())
        .await
        .expect("no reload within 10 s")
        .unwrap();
    assert_eq!(get(OLD).await.0, 401);
    assert_eq!(get(NEW).await.0, 200);

    // Revocation: carol's definition is removed.
    std::fs::write(
        conf.path().join("users.yaml"),
        users_yaml(&token_file).split("---").next().unwrap(),
    )
    .unwrap();
    tokio::time::timeout(Duration::from_secs(10), changed.changed())
        .await
        .expect("no reload within 10 s")
        .unwrap();
    assert_eq!(get("carol-token-0123456789").await.0, 401);
    assert_eq!(get(NEW).await.0, 200);
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Writes a file whole (rename), as an operator's tooling would: the reloader never sees it
/// half-written.
fn replace_file(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
