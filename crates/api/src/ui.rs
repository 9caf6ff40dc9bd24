//! The web UI: static files compiled into the binary (`crates/api/ui/`, plain ES modules —
//! no JavaScript toolchain, no build step, nothing downloaded at run time), served at `/ui/`.
//! The one library, Mermaid (diagrams), is vendored from npm under `ui/vendor/`.
//! The pages call the same `/api/v1` as the CLI with the user's token; nothing here is
//! authenticated because nothing here is data. A strict Content-Security-Policy allows only
//! this origin's scripts and styles.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../ui/index.html"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../ui/style.css"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/api.js"),
    ),
    (
        "main.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/main.js"),
    ),
    (
        "apps.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/apps.js"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/app.js"),
    ),
    (
        "pipelines.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/pipelines.js"),
    ),
    (
        "audit.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/audit.js"),
    ),
    (
        "notifications.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/notifications.js"),
    ),
    (
        "graph.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/graph.js"),
    ),
    (
        "tree.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/tree.js"),
    ),
    // Mermaid (npm `mermaid`, MIT: vendor/mermaid.LICENSE), loaded by graph.js on demand.
    (
        "mermaid.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/vendor/mermaid.min.js"),
    ),
];

const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn file(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file in the web UI").into_response(),
    }
}

pub async fn root() -> Redirect {
    Redirect::to("/ui/")
}

pub async fn index() -> Response {
    file("index.html")
}

pub async fn asset(Path(name): Path<String>) -> Response {
    file(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_pages_import_is_served() {
        // A module imported but not listed here would be a 404 in the browser.
        for (name, _, body) in FILES {
            for line in body
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
            {
                let target = line.split('"').nth(1).expect("import from a string");
                let target = target.trim_start_matches("./");
                assert!(
                    FILES.iter().any(|(n, _, _)| *n == target),
                    "{name} imports {target}, which is not served"
                );
            }
        }
        // Mermaid is served from the binary, never a CDN, and it is the real bundle.
        let (_, _, mermaid) = FILES
            .iter()
            .find(|(n, _, _)| *n == "mermaid.min.js")
            .unwrap();
        assert!(mermaid.len() > 1_000_000 && mermaid.contains("flowchart"));
        for (_, _, body) in FILES {
            assert!(!body.contains("cdn.jsdelivr") && !body.contains("unpkg.com/"));
        }
        let index = FILES[0].2;
        assert!(index.contains("/ui/main.js") && index.contains("/ui/style.css"));
    }
}
