//! cert-manager (`cert-manager.io`, `acme.cert-manager.io`), from its documented status:
//! a Certificate, Issuer, ClusterIssuer or CertificateRequest reports a `Ready` condition;
//! a Certificate being (re)issued carries `Issuing` True; a CertificateRequest waits for
//! approval (`Approved`), may be `Denied` or `InvalidRequest`, and its `Ready` reason says
//! `Pending`, `Failed` or `Issued`. ACME Orders and Challenges report `status.state`.

use serde_json::Value;

use super::fields::{Cond, behind, cond, generation_message, text};
use crate::{Health, HealthStatus as S};

pub(super) fn check(group: &str, kind: &str, obj: &Value) -> Option<Health> {
    match (group, kind) {
        ("cert-manager.io", "Certificate") => Some(certificate(obj)),
        ("cert-manager.io", "Issuer" | "ClusterIssuer") => Some(issuer(obj)),
        ("cert-manager.io", "CertificateRequest") => Some(request(obj)),
        ("acme.cert-manager.io", "Order" | "Challenge") => Some(acme(obj)),
        _ => None,
    }
}

fn certificate(obj: &Value) -> Health {
    let ready = cond(obj, "Ready");
    if behind(obj, ready.as_ref()) {
        return Health::new(S::Progressing, generation_message(obj));
    }
    if let Some(issuing) = cond(obj, "Issuing").filter(Cond::is_true) {
        return Health::new(
            S::Progressing,
            format!("Issuing certificate: {}", issuing.text()),
        );
    }
    match ready {
        Some(r) if r.is_true() => Health::new(S::Healthy, r.text()),
        Some(r) if r.is_false() => Health::new(S::Degraded, r.text()),
        Some(r) => Health::new(S::Progressing, r.text()),
        None => Health::new(S::Progressing, "Waiting for the certificate to be issued"),
    }
}

fn issuer(obj: &Value) -> Health {
    let ready = cond(obj, "Ready");
    if behind(obj, ready.as_ref()) {
        return Health::new(S::Progressing, generation_message(obj));
    }
    match ready {
        Some(r) if r.is_true() => Health::new(S::Healthy, r.text()),
        Some(r) if r.is_false() => Health::new(S::Degraded, r.text()),
        Some(r) => Health::new(S::Progressing, r.text()),
        None => Health::new(S::Progressing, "Initializing the issuer"),
    }
}

fn request(obj: &Value) -> Health {
    for bad in ["Denied", "InvalidRequest"] {
        if let Some(c) = cond(obj, bad).filter(Cond::is_true) {
            return Health::new(S::Degraded, c.text());
        }
    }
    match cond(obj, "Ready") {
        Some(r) if r.is_true() => Health::new(S::Healthy, r.text()),
        Some(r) if r.is_false() && r.reason != "Pending" => Health::new(S::Degraded, r.text()),
        Some(r) => Health::new(S::Progressing, r.text()),
        None if cond(obj, "Approved").is_none() => {
            Health::new(S::Progressing, "Waiting for the request to be approved")
        }
        None => Health::new(S::Progressing, "Waiting for the certificate to be signed"),
    }
}

fn acme(obj: &Value) -> Health {
    let reason = text(obj, "/status/reason").unwrap_or("");
    match text(obj, "/status/state") {
        Some("valid") => Health::new(S::Healthy, reason),
        Some(state @ ("invalid" | "errored" | "expired")) => {
            Health::new(S::Degraded, format!("{state}: {reason}"))
        }
        Some(state) => Health::new(S::Progressing, format!("{state}: {reason}")),
        None => Health::new(S::Progressing, "Waiting for the ACME server"),
    }
}
