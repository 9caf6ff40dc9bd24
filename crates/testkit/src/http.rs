//! `git http-backend` (smart HTTP) behind a minimal HTTP/1.1 server on loopback.
//!
//! One thread per connection, `Connection: close` on every response. Authentication is checked
//! before the backend runs. Fault modes: drop the connection part-way through upload-pack
//! responses (server down mid-fetch), or redirect every request to another URL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::Engine;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    Bearer { token: String },
}

#[derive(Clone, Default)]
pub enum Fault {
    #[default]
    None,
    /// Close the connection after this many bytes of an upload-pack response body.
    DropUploadPackAfter(usize),
    /// Answer every request with `302 Location: <url><path>`.
    RedirectTo(String),
    /// Once, when a client starts a push (asks for the receive-pack advertisement), run this
    /// first: another writer's commit lands between the client's read and its push.
    BeforePush(Arc<dyn Fn() + Send + Sync>),
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::None => f.write_str("None"),
            Fault::DropUploadPackAfter(n) => write!(f, "DropUploadPackAfter({n})"),
            Fault::RedirectTo(u) => write!(f, "RedirectTo({u})"),
            Fault::BeforePush(_) => f.write_str("BeforePush"),
        }
    }
}

struct Shared {
    root: PathBuf,
    auth: Auth,
    fault: Mutex<Fault>,
    /// Every `Authorization` header received (to prove none leaked to the wrong host).
    seen_authorization: Mutex<Vec<String>>,
    requests: AtomicUsize,
    stop: AtomicBool,
}

pub struct GitHttpServer {
    port: u16,
    tls: Option<Tls>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A throwaway CA and a leaf certificate for 127.0.0.1/localhost, made with the openssl CLI.
pub struct Tls {
    dir: tempfile::TempDir,
    config: Arc<rustls::ServerConfig>,
}

impl Tls {
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ossl = |args: &[&str]| crate::run(Command::new("openssl").current_dir(d).args(args));
        ossl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=driftless test CA",
        ]);
        ossl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
        ossl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        use rustls::pki_types::pem::PemObject;
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(d.join("leaf.pem"))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(d.join("leaf.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        Tls {
            dir,
            config: Arc::new(config),
        }
    }

    /// The CA certificate clients must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

impl GitHttpServer {
    /// Serves the bare repositories under `root` over HTTPS (see [`GitHttpServer::ca_file`]).
    pub fn start_tls(root: impl Into<PathBuf>, auth: Auth) -> Self {
        Self::start_with(root.into(), auth, Some(Tls::generate()))
    }

    /// The CA bundle of an HTTPS server.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(Tls::ca_file)
    }

    /// Serves the bare repositories under `root` on a free loopback port (plain HTTP).
    pub fn start(root: impl Into<PathBuf>, auth: Auth) -> Self {
        Self::start_with(root.into(), auth, None)
    }

    fn start_with(root: PathBuf, auth: Auth, tls: Option<Tls>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            root,
            auth,
            fault: Mutex::new(Fault::None),
            seen_authorization: Mutex::new(Vec::new()),
            requests: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let tls_config = tls.as_ref().map(|t| t.config.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let s = s.clone();
                    let tls_config = tls_config.clone();
                    std::thread::spawn(move || {
                        let _ = match tls_config {
                            Some(cfg) => match rustls::ServerConnection::new(cfg) {
                                Ok(tls) => handle(rustls::StreamOwned::new(tls, conn), &s),
                                Err(_) => Ok(()),
                            },
                            None => handle(conn, &s),
                        };
                    });
                }
            }
        });
        GitHttpServer {
            port,
            tls,
            shared,
            thread: Some(thread),
        }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("{}/{repo}", self.base())
    }

    pub fn base(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
    }

    pub fn authorization_headers_seen(&self) -> Vec<String> {
        self.shared.seen_authorization.lock().unwrap().clone()
    }

    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn authorized(auth: &Auth, header: Option<&str>) -> bool {
    match auth {
        Auth::None => true,
        Auth::Basic { user, password } => {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            );
            header == Some(want.as_str())
        }
        Auth::Bearer { token } => header == Some(format!("Bearer {token}").as_str()),
    }
}

fn read_body<S: Read>(
    reader: &mut BufReader<S>,
    headers: &[(String, String)],
) -> std::io::Result<Vec<u8>> {
    let get = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if size == 0 {
                let mut end = String::new();
                reader.read_line(&mut end)?;
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk)?;
            body.extend(chunk);
            let mut crlf = [0; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(body)
}

fn handle<S: Read + Write>(conn: S, s: &Shared) -> std::io::Result<()> {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let mut reader = BufReader::new(conn);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let get = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if let Some(a) = get("authorization") {
        s.seen_authorization.lock().unwrap().push(a);
    }
    let body = read_body(&mut reader, &headers)?;
    let out = reader.get_mut();
    let fault = s.fault.lock().unwrap().clone();
    if let Fault::RedirectTo(base) = &fault {
        return write!(
            out,
            "HTTP/1.1 302 Found\r\nLocation: {base}{target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    if !authorized(&s.auth, get("authorization").as_deref()) {
        return write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if let Fault::BeforePush(land) = &fault
        && path.ends_with("/info/refs")
        && query.contains("service=git-receive-pack")
    {
        *s.fault.lock().unwrap() = Fault::None;
        land();
    }
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &s.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_USER", "tester")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(ct) = get("content-type") {
        cmd.env("CONTENT_TYPE", ct);
    }
    if let Some(p) = get("git-protocol") {
        cmd.env("GIT_PROTOCOL", p);
    }
    if let Some(enc) = get("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut cgi = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut cgi)?;
    let _ = writer.join();
    let _ = child.wait();
    let split = cgi
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| cgi.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let (head, body) = match split {
        Some((i, n)) => (
            String::from_utf8_lossy(&cgi[..i]).into_owned(),
            cgi[i + n..].to_vec(),
        ),
        None => (String::new(), cgi),
    };
    let mut status = "200 OK".to_string();
    let mut response_headers = String::new();
    for line in head.lines() {
        if let Some(v) = line.strip_prefix("Status:") {
            status = v.trim().to_string();
        } else if !line.trim().is_empty() {
            response_headers.push_str(line.trim());
            response_headers.push_str("\r\n");
        }
    }
    write!(
        out,
        "HTTP/1.1 {status}\r\n{response_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    match fault {
        Fault::DropUploadPackAfter(n) if path.ends_with("git-upload-pack") && method == "POST" => {
            out.write_all(&body[..n.min(body.len())])?;
            // Returning drops the connection: the client sees a truncated body.
            out.flush()
        }
        _ => {
            out.write_all(&body)?;
            out.flush()
        }
    }
}
