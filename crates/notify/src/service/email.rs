//! E-mail over SMTP (lettre, rustls on aws-lc-rs), Argo CD's `service.email.<name>` settings:
//! `host`, `port`, `username`, `password`, `from`, `html`, `insecure_skip_verify`, plus `tls`
//! (`starttls`, `tls` or `none`; default: `tls` on port 465, `starttls` elsewhere) and `rootCA`
//! (PEM, e.g. `$smtp-ca`: a private CA trusted besides the system's).
//! The subject is the template's `email.subject` (default: the message's first line), the body
//! the `message` (or `email.body`). The Message-ID is derived from the deduplication key, so a
//! resend after a crash carries the same id and mail clients show it once.

use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;
use serde_json::Value;

use super::{SendError, Service, message_text, section};
use crate::outbox::OutboxMessage;
use crate::secret::{Scrubber, Secret};

#[derive(Deserialize)]
pub(crate) struct Settings {
    host: String,
    #[serde(default = "default_port")]
    port: u16,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<Secret>,
    from: String,
    #[serde(default)]
    html: bool,
    #[serde(default)]
    tls: Option<String>,
    #[serde(default)]
    insecure_skip_verify: bool,
    #[serde(default, rename = "rootCA")]
    root_ca: Option<String>,
}

fn default_port() -> u16 {
    587
}

pub(crate) struct Email {
    mailer: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    html: bool,
    scrubber: Scrubber,
}

impl Email {
    pub fn new(s: Settings, scrubber: Scrubber) -> Result<Self, String> {
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|e| format!("from: `{}` is not an address: {e}", s.from))?;
        let mode = s
            .tls
            .clone()
            .unwrap_or_else(|| if s.port == 465 { "tls" } else { "starttls" }.into());
        let params = || {
            let mut builder = TlsParameters::builder(s.host.clone())
                .dangerous_accept_invalid_certs(s.insecure_skip_verify);
            if let Some(pem) = &s.root_ca {
                let ca = Certificate::from_pem(pem.as_bytes())
                    .map_err(|e| format!("rootCA: not a PEM certificate: {e}"))?;
                builder = builder.add_root_certificate(ca);
            }
            builder
                .build_rustls()
                .map_err(|e| format!("TLS settings: {e}"))
        };
        let tls = match mode.as_str() {
            "tls" => Tls::Wrapper(params()?),
            "starttls" => Tls::Required(params()?),
            "none" => Tls::None,
            other => return Err(format!("tls: `{other}` is not one of starttls, tls, none")),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
            .port(s.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)));
        if let (Some(user), Some(password)) = (&s.username, &s.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Self {
            mailer: builder.build(),
            from,
            html: s.html,
            scrubber,
        })
    }

    fn build(&self, m: &OutboxMessage) -> Result<Message, SendError> {
        let to: Mailbox = m.message.recipient.parse().map_err(|e| {
            SendError::permanent(format!(
                "email: recipient `{}` is not an address: {e}",
                m.message.recipient
            ))
        })?;
        let email = section(m, "email");
        let text = message_text(m);
        let subject = email
            .get("subject")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| text.lines().next().unwrap_or("Driftless notification"));
        let body = email
            .get("body")
            .and_then(Value::as_str)
            .filter(|b| !b.is_empty())
            .unwrap_or(text);
        let content_type = if self.html {
            ContentType::TEXT_HTML
        } else {
            ContentType::TEXT_PLAIN
        };
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject.trim())
            .message_id(Some(format!("<{}@driftless.notify>", m.message.dedupe_key)))
            .header(content_type)
            .body(body.to_owned())
            .map_err(|e| SendError::permanent(format!("email: cannot build the message: {e}")))
    }

    async fn deliver(&self, m: &OutboxMessage) -> Result<(), SendError> {
        let message = self.build(m)?;
        self.mailer.send(message).await.map(drop).map_err(|e| {
            let text = self.scrubber.scrub(&format!("smtp: {e}"));
            if e.is_permanent() {
                SendError::permanent(text)
            } else {
                SendError::retryable(text)
            }
        })
    }
}

impl Service for Email {
    fn send<'a>(&'a self, m: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>> {
        self.deliver(m).boxed()
    }
}
