//! `io.read()` confirmations: a line typed at a terminal (a pseudo-terminal made by
//! util-linux `script`), `--yes` in CI, and a clear refusal when stdin is not a terminal.

use std::io::Write;
use std::process::{Command, Stdio};

use super::rig::fixture;

/// Runs `driftless run confirm.lua EXTRA` on a pseudo-terminal fed `typed`.
fn on_terminal(typed: &str) -> (Option<i32>, String) {
    let cmd = format!(
        "{} run {}",
        env!("CARGO_BIN_EXE_driftless"),
        fixture("own", "confirm.lua").display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("DRIFTLESS_TOKEN", "unused")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` makes the pseudo-terminal");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(typed.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn piped(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_driftless"))
        .arg("run")
        .arg(fixture("own", "confirm.lua"))
        .args(args)
        .env("DRIFTLESS_TOKEN", "unused")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn confirmations_come_from_the_terminal_or_from_yes() {
    let (code, text) = on_terminal("y\n");
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("Proceed? (y/N)") && text.contains("confirmed"),
        "{text}"
    );
    let (code, text) = on_terminal("n\n");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("confirm.lua:5: not confirmed: n"), "{text}");
    let (code, text) = piped(&[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("confirm.lua:3: io.read: stdin is not a terminal"),
        "{text}"
    );
    assert!(text.contains("pass --yes"), "{text}");
    let (code, text) = piped(&["--yes"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("y (--yes)") && text.contains("confirmed"),
        "{text}"
    );
}
