//! The human report: findings grouped by environment, then one summary line.

use super::Report;

pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let mut current: Option<&str> = None;
    for f in &report.findings {
        let env = f.environment.as_str();
        if current != Some(env) {
            current = Some(env);
            out.push_str(&format!(
                "\n{}\n",
                if env.is_empty() { "repository" } else { env }
            ));
        }
        out.push_str("  ");
        out.push_str(&f.one_line());
        out.push('\n');
    }
    let c = report.counts();
    out.push_str(&format!(
        "\n{}: {} error(s), {} warning(s) in {} environment(s), {} object(s) (Kubernetes {})\n",
        if c.errors > 0 { "FAILED" } else { "OK" },
        c.errors,
        c.warnings,
        report.environments.len(),
        report.objects(),
        report.kubernetes_version
    ));
    out.trim_start().to_string()
}
