//! `driftless shards`: the replicas sharing a running engine's store — which is live, how
//! many applications each owns, its queue, lease renewals and hand-overs — through any
//! replica's API. `--apps` lists which replica owns which application.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::app_args::Output;
use crate::client::ServerArgs;

#[derive(Args)]
pub struct ShardsArgs {
    /// Also list every application's owner.
    #[arg(long)]
    apps: bool,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run(args: ShardsArgs) -> anyhow::Result<ExitCode> {
    let client = args.server.client()?;
    let rt = tokio::runtime::Runtime::new()?;
    let body = rt.block_on(client.get(&format!("/api/v1/shards?apps={}", args.apps)))?;
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", render(&body, jiff::Timestamp::now().as_millisecond()));
    }
    Ok(ExitCode::SUCCESS)
}

fn num(v: &Value) -> String {
    v.as_i64().map_or("-".into(), |n| n.to_string())
}

/// How long ago `ms` was, from `now`.
fn ago(ms: &Value, now: i64) -> String {
    match ms.as_i64() {
        Some(t) if t > 0 => format!("{:.1}s ago", (now - t).max(0) as f64 / 1000.0),
        _ => "-".into(),
    }
}

/// The table `driftless shards` prints.
fn render(body: &Value, now: i64) -> String {
    let mut out = String::new();
    if body["sharded"] != true {
        out.push_str("this engine runs alone (SQLite store): it owns every application\n");
    }
    out.push_str(&format!(
        "{:<28} {:<6} {:>7} {:>6} {:>9} {:>10} {:<14}\n",
        "REPLICA", "LIVE", "OWNED", "QUEUE", "RENEWALS", "HANDOVERS", "LAST REPORT"
    ));
    for m in body["members"].as_array().into_iter().flatten() {
        let mut name = m["replica"].as_str().unwrap_or("?").to_string();
        if m["self"] == true {
            name.push_str(" (this)");
        }
        out.push_str(&format!(
            "{:<28} {:<6} {:>7} {:>6} {:>9} {:>10} {:<14}\n",
            name,
            if m["live"] == true { "yes" } else { "no" },
            num(&m["owned"]),
            num(&m["queueDepth"]),
            num(&m["renewals"]),
            num(&m["handovers"]),
            ago(&m["reportedMs"], now),
        ));
    }
    out.push_str(&format!(
        "{} application(s), {} without a live owner\n",
        num(&body["applications"]),
        num(&body["unowned"])
    ));
    if let Some(owners) = body["owners"].as_array() {
        out.push('\n');
        for o in owners {
            out.push_str(&format!(
                "{:<40} {}{}\n",
                o["app"].as_str().unwrap_or("?"),
                o["replica"].as_str().unwrap_or("?"),
                if o["live"] == true {
                    ""
                } else {
                    " (gone: taken over soon)"
                }
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_table_shows_each_member_and_who_owns_what() {
        let body = json!({
            "sharded": true,
            "members": [
                {"replica": "a", "live": true, "owned": 150, "queueDepth": 2, "renewals": 9,
                 "handovers": 1, "reportedMs": 9_000, "self": true},
                {"replica": "b", "live": false, "owned": 0, "queueDepth": null, "renewals": null,
                 "handovers": null, "reportedMs": null, "self": false}
            ],
            "applications": 150, "unowned": 0,
            "owners": [{"app": "shop", "replica": "a", "live": true},
                       {"app": "cart", "replica": "b", "live": false}]
        });
        let text = super::render(&body, 10_000);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("REPLICA"), "{text}");
        let a: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            a,
            ["a", "(this)", "yes", "150", "2", "9", "1", "1.0s", "ago"]
        );
        let b: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(b, ["b", "no", "0", "-", "-", "-", "-"]);
        assert_eq!(lines[3], "150 application(s), 0 without a live owner");
        assert!(
            text.contains("cart                                     b (gone: taken over soon)"),
            "{text}"
        );
    }
}
