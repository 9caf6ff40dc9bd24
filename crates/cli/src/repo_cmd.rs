//! `driftless repo add|list|remove`: the repositories a running engine fetches with their
//! credentials, through its API. Secrets go in through stdin or a file read here (never a
//! command-line argument, which `ps` shows), or as a reference to the engine's environment.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use crate::app_args::Output;
use crate::client::ServerArgs;

#[derive(Args)]
pub struct RepoCmdArgs {
    #[command(subcommand)]
    command: RepoCommand,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(short, long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

#[derive(Subcommand)]
enum RepoCommand {
    /// Add (or replace) a repository and how to reach it.
    Add(Box<AddArgs>),
    /// Every repository definition (secrets masked).
    List,
    /// Forget a repository definition.
    Remove { name: String },
}

#[derive(Args)]
struct AddArgs {
    /// The repository URL; with --prefix, every repository under it.
    url: String,
    /// Its name (default: the URL's last part, without `.git`).
    #[arg(long)]
    name: Option<String>,
    /// A credential template for every repository URL under this one (Argo CD's repo-creds).
    #[arg(long)]
    prefix: bool,
    /// HTTP basic-auth user name (with a password or token as password).
    #[arg(long)]
    username: Option<String>,
    /// Read the password (or access token) from stdin.
    #[arg(long, requires = "username", group = "secret")]
    password_stdin: bool,
    /// The engine reads the password from this variable of ITS environment at each fetch.
    #[arg(long, requires = "username", group = "secret", value_name = "VAR")]
    password_env: Option<String>,
    /// Read a bearer token from stdin (`Authorization: Bearer`).
    #[arg(long, group = "secret")]
    bearer_token_stdin: bool,
    /// The engine reads a bearer token from this variable of its environment.
    #[arg(long, group = "secret", value_name = "VAR")]
    bearer_token_env: Option<String>,
    /// An SSH private key file, read here and sent to the engine.
    #[arg(long, group = "secret", value_name = "FILE")]
    ssh_private_key_path: Option<PathBuf>,
    /// known_hosts lines for the SSH host (host keys are always checked).
    #[arg(long, value_name = "FILE")]
    known_hosts_path: Option<PathBuf>,
    /// Allow plain http:// to a non-loopback host.
    #[arg(long)]
    insecure: bool,
    /// The engine reads the webhook secret of this repository from this variable; its
    /// webhooks go to /api/v1/webhooks/{provider}/{name}.
    #[arg(long, value_name = "VAR")]
    webhook_secret_env: Option<String>,
}

fn stdin_secret(what: &str) -> anyhow::Result<Value> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .with_context(|| format!("reading the {what} from stdin"))?;
    let s = s.trim_end_matches(['\n', '\r']).to_string();
    if s.is_empty() {
        bail!("the {what} read from stdin is empty");
    }
    Ok(Value::String(s))
}

/// The Repository document `repo add` sends.
fn definition(a: &AddArgs) -> anyhow::Result<Value> {
    let name = match &a.name {
        Some(n) => n.clone(),
        None => a
            .url
            .trim_end_matches('/')
            .rsplit(['/', ':'])
            .next()
            .unwrap_or_default()
            .trim_end_matches(".git")
            .to_string(),
    };
    if name.is_empty() {
        bail!("cannot derive a name from {}; pass --name", a.url);
    }
    let mut spec = Map::new();
    spec.insert("url".into(), json!(a.url));
    if a.prefix {
        spec.insert("prefix".into(), json!(true));
    }
    if a.insecure {
        spec.insert("insecure".into(), json!(true));
    }
    if let Some(u) = &a.username {
        spec.insert("username".into(), json!(u));
    }
    if a.password_stdin {
        spec.insert("password".into(), stdin_secret("password")?);
    }
    if let Some(v) = &a.password_env {
        spec.insert("password".into(), json!({"env": v}));
    }
    if a.bearer_token_stdin {
        spec.insert("bearerToken".into(), stdin_secret("bearer token")?);
    }
    if let Some(v) = &a.bearer_token_env {
        spec.insert("bearerToken".into(), json!({"env": v}));
    }
    if let Some(p) = &a.ssh_private_key_path {
        let key = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read the SSH key {}", p.display()))?;
        spec.insert("sshPrivateKey".into(), json!(key));
    }
    if let Some(p) = &a.known_hosts_path {
        let hosts =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        spec.insert("knownHosts".into(), json!(hosts));
    }
    if let Some(v) = &a.webhook_secret_env {
        spec.insert("webhookSecret".into(), json!({"env": v}));
    }
    Ok(json!({
        "apiVersion": "driftless.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name},
        "spec": spec,
    }))
}

pub fn run(args: RepoCmdArgs) -> anyhow::Result<ExitCode> {
    let client = args.server.client()?;
    let json = args.output == Output::Json;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        match args.command {
            RepoCommand::Add(a) => {
                let doc = definition(&a)?;
                let r = client
                    .post_text("/api/v1/repositories", doc.to_string())
                    .await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                } else {
                    println!(
                        "repository {} saved",
                        r["repository"].as_str().unwrap_or_default()
                    );
                }
            }
            RepoCommand::List => {
                let r = client.get("/api/v1/repositories").await?;
                let items = r["items"].as_array().cloned().unwrap_or_default();
                if json {
                    println!("{}", serde_json::to_string_pretty(&items)?);
                } else {
                    println!("{:<24} {:<8} {:<10} URL", "NAME", "PREFIX", "AUTH");
                    for i in &items {
                        let auth = ["password", "bearerToken", "sshPrivateKey"]
                            .into_iter()
                            .find(|k| i.get(*k).is_some())
                            .unwrap_or("none");
                        println!(
                            "{:<24} {:<8} {:<10} {}",
                            i["name"].as_str().unwrap_or_default(),
                            i["prefix"] == true,
                            auth,
                            i["url"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
            RepoCommand::Remove { name } => {
                client
                    .delete(&format!("/api/v1/repositories/{name}"))
                    .await?;
                println!("repository {name} removed");
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: AddArgs,
    }

    #[test]
    fn add_builds_a_repository_document_with_references_not_secrets() {
        let t = T::parse_from([
            "t",
            "git@git.example.com:team/config.git",
            "--username",
            "bot",
            "--password-env",
            "CONFIG_TOKEN",
            "--webhook-secret-env",
            "HOOK",
        ]);
        let d = definition(&t.a).unwrap();
        assert_eq!(d["metadata"]["name"], "config");
        assert_eq!(d["spec"]["password"], json!({"env": "CONFIG_TOKEN"}));
        assert_eq!(d["spec"]["webhookSecret"], json!({"env": "HOOK"}));
        // The document is what the engine parses.
        let mut defs = driftless_core::definitions::Definitions::default();
        defs.add_file(&d.to_string(), "cli");
        assert!(defs.errors.is_empty(), "{:?}", defs.errors);
        assert_eq!(defs.repositories[0].username.as_deref(), Some("bot"));
    }

    #[test]
    fn two_secrets_are_refused_by_the_parser() {
        let r = T::try_parse_from([
            "t",
            "https://x/y.git",
            "--username",
            "u",
            "--password-env",
            "A",
            "--bearer-token-env",
            "B",
        ]);
        assert!(r.is_err());
    }
}
