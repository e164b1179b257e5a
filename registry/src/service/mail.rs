//! Outgoing mail over SMTP (`MAIL_SERVER`, `MAIL_PORT`, `MAIL_USE_TLS`,
//! `MAIL_USERNAME`, `MAIL_PASSWORD`, `MAIL_DEFAULT_SENDER`). Mail is only
//! sent after the database change it announces has committed, so a failed
//! send never undoes that change; callers log the failure.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;

/// How long one SMTP command may take before the send is given up, so a
/// stuck mail server cannot hold an API request for long.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail address {0:?}")]
    Address(String),
    #[error("building the message: {0}")]
    Message(String),
    #[error("SMTP: {0}")]
    Smtp(String),
}

/// One plain-text mail.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Sends mail through the configured SMTP server.
#[derive(Clone)]
pub struct Mailer {
    server: String,
    port: u16,
    starttls: bool,
    credentials: Option<(String, String)>,
    sender: String,
}

/// Never shows the SMTP password.
impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("starttls", &self.starttls)
            .field("username", &self.credentials.as_ref().map(|(u, _)| u))
            .field("sender", &self.sender)
            .finish()
    }
}

impl Mailer {
    /// The mailer a config describes; `None` when mailing is off
    /// (`FEATURE_MAILING`, or no `MAIL_SERVER`).
    pub fn from_config(config: &Config) -> Option<Mailer> {
        if !config.mailing() {
            return None;
        }
        let server = config.mail_server.clone()?;
        let host = config
            .server_hostname
            .as_deref()
            .map(|h| h.split(':').next().unwrap_or(h))
            .filter(|h| !h.is_empty())
            .unwrap_or("localhost");
        Some(Mailer {
            server,
            port: config.mail_port,
            starttls: config.mail_use_tls,
            credentials: config
                .mail_username
                .clone()
                .map(|u| (u, config.mail_password.clone().unwrap_or_default())),
            sender: config
                .mail_default_sender
                .clone()
                .unwrap_or_else(|| format!("registry@{host}")),
        })
    }

    /// Sends one mail; returns once the server accepted it.
    pub async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = Message::builder()
            .from(mailbox(&self.sender)?)
            .to(mailbox(&mail.to)?)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| MailError::Message(e.to_string()))?;
        self.transport()?
            .send(message)
            .await
            .map(drop)
            .map_err(|e| MailError::Smtp(e.to_string()))
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
        let builder = if self.starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.server)
                .map_err(|e| MailError::Smtp(e.to_string()))?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.server.as_str())
        };
        let mut builder = builder.port(self.port).timeout(Some(SMTP_TIMEOUT));
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(builder.build())
    }
}

fn mailbox(address: &str) -> Result<Mailbox, MailError> {
    address.parse().map_err(|_| MailError::Address(address.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailing_needs_a_server_and_the_sender_defaults_to_the_hostname() {
        assert!(Mailer::from_config(&Config::default()).is_none());
        let config = Config::parse("MAIL_SERVER: smtp.example.com\nSERVER_HOSTNAME: quay.example.com:8443\n")
            .expect("valid config");
        let mailer = Mailer::from_config(&config).expect("mailing on");
        assert_eq!(mailer.sender, "registry@quay.example.com");
        assert_eq!(mailer.port, 587);
        assert!(!mailer.starttls);
        let off = Config::parse("MAIL_SERVER: smtp.example.com\nFEATURE_MAILING: false\n").expect("valid config");
        assert!(Mailer::from_config(&off).is_none());
    }

    #[test]
    fn the_password_is_not_shown() {
        let config = Config::parse("MAIL_SERVER: smtp.example.com\nMAIL_USERNAME: me\nMAIL_PASSWORD: hunter22\n")
            .expect("valid config");
        let shown = format!("{:?}", Mailer::from_config(&config));
        assert!(shown.contains("me") && !shown.contains("hunter22"), "{shown}");
    }
}
