//! String formats the API server enforces: `byte` (base64), `date-time` (RFC 3339),
//! `int-or-string` is handled by the walker; and Kubernetes quantities.

use std::sync::LazyLock;

use regex::Regex;

static DATE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
        .expect("static regex")
});

// <signedNumber><suffix>: binary SI, decimal SI or a decimal exponent.
static QUANTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
        .expect("static regex")
});

/// Checks `s` against a named format; unknown formats pass (as in the API server).
pub fn check(format: &str, s: &str) -> Result<(), String> {
    match format {
        "byte" if !is_base64(s) => Err("not valid base64 (format `byte`)".into()),
        "date-time" if !DATE_TIME.is_match(s) => {
            Err("not an RFC 3339 date-time (format `date-time`)".into())
        }
        _ => Ok(()),
    }
}

/// A Kubernetes resource quantity (`500m`, `1.5`, `128Mi`, `1e3`).
pub fn is_quantity(s: &str) -> bool {
    QUANTITY.is_match(s)
}

/// Standard base64 with padding, what Go's `encoding/json` accepts for `[]byte`.
fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    pad <= 2
        && b[..b.len() - pad]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for ok in ["1", "500m", "1.5", "128Mi", "1e3", "+2Gi", ".5"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "1.5.5", "12 Mi", "lots", "1Mb"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn base64_and_dates() {
        assert!(check("byte", "aGVsbG8=").is_ok());
        assert!(check("byte", "hello!").is_err());
        assert!(check("date-time", "2026-12-04T10:00:00Z").is_ok());
        assert!(check("date-time", "yesterday").is_err());
    }
}
