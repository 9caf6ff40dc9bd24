//! `driftless run SCRIPT.lua [TASK...] [--param k=v]... [--yes]`: runs a Lua workflow (the
//! `gitops` module, tasks, logging; see docs/SCRIPTING.md) against a running engine, through
//! its API with the caller's token, like the other client commands. Exit 0 when every task
//! succeeded (or the script built none and ran to its end), 1 when a task failed or the
//! script raised an error, 2 when it could not start (no file, a bad parameter, an unknown
//! task). `--standalone` runs the script's workflows against a kubeconfig instead (see
//! [`standalone`]).

mod standalone;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use driftless_script::{ClientError, Console, EngineClient, RunOptions, ScriptError};
use serde_json::{Value, json};

use crate::client::{Client, ServerArgs};

#[derive(Args)]
pub struct RunArgs {
    /// The Lua script.
    script: PathBuf,
    /// Tasks to run (default: every task the script builds, dependencies first).
    tasks: Vec<String>,
    /// A parameter: `params.NAME` in tasks, and the global NAME for top-level code.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Answer "y" to the script's confirmations (`io.read`), as CI must.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Longest wait on one engine operation (a sync, a rollback, a promotion).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    timeout: Duration,
    /// Lua time the script may use (waits on the engine do not count).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    cpu_limit: Duration,
    /// Memory the script may allocate, in MiB.
    #[arg(long, default_value_t = 64)]
    memory_mib: usize,
    /// No engine: diff and sync the workflows the script defines straight against the
    /// cluster of a kubeconfig (history, rollback, events and pipelines need an engine).
    #[arg(long)]
    standalone: bool,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    cluster: crate::app_args::ClusterArgs,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    driftless_core::app::parse_duration(s)
        .ok_or_else(|| format!("`{s}` is not a duration like 90s or 10m"))
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident {
        return Err(format!(
            "`{k}` is not a Lua name (letters, digits and _, not starting with a digit)"
        ));
    }
    Ok((k.to_string(), v.to_string()))
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let source = std::fs::read_to_string(&args.script)
        .with_context(|| format!("cannot read the script {}", args.script.display()))?;
    let file = args.script.display().to_string();
    let mut opts = RunOptions::new(&file, &source);
    opts.tasks = args.tasks.clone();
    opts.params = args.params.iter().cloned().collect::<BTreeMap<_, _>>();
    opts.wait_limit = args.timeout;
    opts.cpu_limit = args.cpu_limit;
    opts.memory_limit = args.memory_mib.saturating_mul(1 << 20);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let engine: Rc<dyn EngineClient> = if args.standalone {
        use clap::FromArgMatches;
        // Mirrors in the usual data directory ($DRIFTLESS_DATA_DIR, else ~/.driftless).
        let git = crate::render_cmd::GitArgs::from_arg_matches(
            &<crate::render_cmd::GitArgs as Args>::augment_args(clap::Command::new("git"))
                .get_matches_from(["git"]),
        )?;
        let cluster = rt.block_on(args.cluster.connect())?;
        Rc::new(standalone::LocalEngine::new(rt, cluster, git))
    } else {
        Rc::new(HttpEngine {
            rt,
            client: args.server.client()?,
        })
    };
    let console = Rc::new(Terminal { yes: args.yes });
    match driftless_script::run(&opts, engine, console) {
        Ok(report) => {
            for t in &report.tasks {
                let mark = if t.success { "✓" } else { "✗" };
                println!("{mark} {}: {}", t.name, t.message);
            }
            Ok(if report.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(ScriptError::Lua(e)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
        Err(ScriptError::Usage(e)) => anyhow::bail!(e),
    }
}

/// The terminal: output to stdout; confirmations from a person, or `--yes`.
struct Terminal {
    yes: bool,
}

impl Console for Terminal {
    fn write(&self, text: &str) {
        let mut out = std::io::stdout();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    fn read_line(&self) -> Result<Option<String>, String> {
        if self.yes {
            self.write("y (--yes)\n");
            return Ok(Some("y".into()));
        }
        if !std::io::stdin().is_terminal() {
            return Err(
                "stdin is not a terminal, so nobody can confirm: pass --yes to answer y".into(),
            );
        }
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(line.trim_end_matches(['\n', '\r']).to_string())),
            Err(e) => Err(format!("reading stdin: {e}")),
        }
    }
}

/// The engine's API over HTTP, as the caller's token.
struct HttpEngine {
    rt: tokio::runtime::Runtime,
    client: Client,
}

/// The CLI client's errors carry the HTTP status in their text.
fn classify(e: anyhow::Error) -> ClientError {
    let text = format!("{e:#}");
    if text.contains("(404 Not Found)") {
        ClientError::NotFound(text)
    } else if text.contains("cannot reach the engine") {
        ClientError::Unreachable(text)
    } else {
        ClientError::Refused(text)
    }
}

fn items(v: Value) -> Vec<Value> {
    match v {
        Value::Object(mut m) => match m.remove("items") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn seg(s: &str) -> String {
    // Names are DNS labels; anything else is escaped so it cannot change the path.
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl HttpEngine {
    fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.rt.block_on(self.client.get(path)).map_err(classify)
    }
    fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.rt
            .block_on(self.client.post_json(path, body))
            .map_err(classify)
    }
}

impl EngineClient for HttpEngine {
    fn put_application(&self, doc: &Value) -> Result<Value, ClientError> {
        self.rt
            .block_on(
                self.client
                    .post_text("/api/v1/applications", doc.to_string()),
            )
            .map_err(classify)
    }
    fn application(&self, name: &str) -> Result<Option<Value>, ClientError> {
        match self.get(&format!("/api/v1/applications/{}", seg(name))) {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn applications(&self) -> Result<Vec<Value>, ClientError> {
        let mut all = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.get(&format!(
                "/api/v1/applications?summary=true&limit=1000&after={}",
                seg(&after)
            ))?;
            let next = page["next"].as_str().map(str::to_string);
            all.extend(items(page));
            match next {
                Some(n) if n != after => after = n,
                _ => return Ok(all),
            }
        }
    }
    fn patch_application(&self, name: &str, patch: &Value) -> Result<Value, ClientError> {
        let path = format!("/api/v1/applications/{}", seg(name));
        self.rt
            .block_on(self.client.patch_json(&path, patch))
            .map_err(classify)
    }
    fn put_repository(&self, doc: &Value) -> Result<Value, ClientError> {
        self.rt
            .block_on(
                self.client
                    .post_text("/api/v1/repositories", doc.to_string()),
            )
            .map_err(classify)
    }
    fn repositories(&self) -> Result<Vec<Value>, ClientError> {
        Ok(items(self.get("/api/v1/repositories")?))
    }
    fn sync(&self, name: &str, prune: bool) -> Result<Value, ClientError> {
        let path = format!("/api/v1/applications/{}/sync", seg(name));
        self.post(&path, &json!({"prune": prune}))
    }
    fn diff(&self, name: &str) -> Result<Value, ClientError> {
        self.get(&format!("/api/v1/applications/{}/diff", seg(name)))
    }
    fn rollback(&self, name: &str, id: Option<i64>, reason: &str) -> Result<Value, ClientError> {
        let path = format!("/api/v1/applications/{}/rollback", seg(name));
        let mut body = json!({"reason": reason});
        if let Some(id) = id {
            body["id"] = json!(id);
        }
        self.post(&path, &body)
    }
    fn operations(&self, name: &str) -> Result<Vec<Value>, ClientError> {
        Ok(items(self.get(&format!(
            "/api/v1/applications/{}/operations",
            seg(name)
        ))?))
    }
    fn history(&self, name: &str) -> Result<Vec<Value>, ClientError> {
        Ok(items(self.get(&format!(
            "/api/v1/applications/{}/history",
            seg(name)
        ))?))
    }
    fn events(&self, name: &str, after: i64) -> Result<Vec<Value>, ClientError> {
        Ok(items(self.get(&format!(
            "/api/v1/applications/{}/events?after={after}",
            seg(name)
        ))?))
    }
    fn promote(&self, pipeline: &str, from: Option<&str>, to: &str) -> Result<Value, ClientError> {
        let path = format!("/api/v1/pipelines/{}/promote", seg(pipeline));
        self.post(&path, &json!({"from": from, "to": to}))
    }
    fn promotion(&self, id: i64) -> Result<Value, ClientError> {
        self.get(&format!("/api/v1/promotions/{id}"))
    }
    fn approve(&self, id: i64, comment: &str) -> Result<Value, ClientError> {
        self.post(
            &format!("/api/v1/promotions/{id}/approve"),
            &json!({"comment": comment}),
        )
    }
    fn pipeline(&self, name: &str) -> Result<Value, ClientError> {
        self.get(&format!("/api/v1/pipelines/{}", seg(name)))
    }
}
