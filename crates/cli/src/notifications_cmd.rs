//! `driftless notifications list|resend ID|test SERVICE RECIPIENT`: the outbox of a running
//! engine through its API — what was sent, what failed and why, "send again", and a test
//! message to check a destination's configuration. Also how `up` loads the configuration.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::app_args::Output;
use crate::client::ServerArgs;

#[derive(Args)]
pub struct NotificationsArgs {
    #[command(subcommand)]
    command: NotificationsCommand,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(short, long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

#[derive(Subcommand)]
enum NotificationsCommand {
    /// Notifications, newest first (failed ones with their error).
    List {
        #[arg(long)]
        app: Option<String>,
        /// pending, sending, sent or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        service: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Send a sent or failed notification again.
    Resend { id: i64 },
    /// Send a test message to a configured service and recipient now.
    Test { service: String, recipient: String },
}

/// Percent-encodes a query value.
pub(crate) fn query_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn run(args: NotificationsArgs) -> anyhow::Result<ExitCode> {
    let client = args.server.client()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        match args.command {
            NotificationsCommand::List {
                app,
                status,
                service,
                limit,
            } => {
                let mut q = format!("limit={limit}");
                for (k, v) in [("app", app), ("status", status), ("service", service)] {
                    if let Some(v) = v {
                        q.push_str(&format!("&{k}={}", query_value(&v)));
                    }
                }
                let r = client.get(&format!("/api/v1/notifications?{q}")).await?;
                if args.output == Output::Json {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                } else {
                    print_table(r["items"].as_array().map(Vec::as_slice).unwrap_or_default());
                }
            }
            NotificationsCommand::Resend { id } => {
                client
                    .post(&format!("/api/v1/notifications/{id}/resend"))
                    .await?;
                println!("notification {id}: queued to be sent again");
            }
            NotificationsCommand::Test { service, recipient } => {
                client
                    .post_json(
                        "/api/v1/notifications/test",
                        &json!({"service": service, "recipient": recipient}),
                    )
                    .await?;
                println!("test message sent to {service}:{recipient}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_table(items: &[Value]) {
    if items.is_empty() {
        println!("no notifications");
        return;
    }
    println!(
        "{:<6} {:<9} {:<20} {:<28} {:<30} {:>3}  ERROR",
        "ID", "STATUS", "APP", "TRIGGER", "DESTINATION", "TRY"
    );
    for m in items {
        let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
        println!(
            "{:<6} {:<9} {:<20} {:<28} {:<30} {:>3}  {}",
            m["id"],
            s("status"),
            s("app"),
            s("trigger"),
            s("destination"),
            m["attempts"],
            s("lastError")
        );
    }
}

/// Loads the notification configuration of `up --config` into the controller: a malformed
/// one stops the start with the document and key named (secrets are never quoted).
pub(crate) fn configure(
    controller: &driftless_engine::controller::Controller,
    docs: &[(Value, String)],
) -> anyhow::Result<()> {
    let services = controller
        .notifications()
        .configure_documents(docs)
        .map_err(anyhow::Error::msg)
        .context("notification configuration")?;
    if !docs.is_empty() {
        println!("notifications: {services} service(s) configured");
    }
    Ok(())
}
