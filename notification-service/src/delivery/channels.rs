//! The channels and their provider adapters: email over SMTP (lettre), SMS
//! through a gateway in the style of Twilio's Messages API, push through a
//! gateway in the style of FCM's HTTP API; each has a `log` adapter, the
//! local default, which writes one line (recipient masked, never the body)
//! instead of sending.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::config::{ProviderKind, PushSettings, Settings, SmsSettings, SmtpSettings, SmtpTls};

/// A channel of delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Channel {
    /// Email over SMTP.
    Email,
    /// SMS through the SMS gateway.
    Sms,
    /// Push through the push gateway, one delivery per subscription.
    Push,
}

impl Channel {
    /// Its name in the database and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Push => "push",
        }
    }

    /// Parses a stored channel name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            "push" => Some(Self::Push),
            _ => None,
        }
    }
}

/// One message to hand to a provider.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The delivery's id (also the email's `Message-ID` and the providers'
    /// `Idempotency-Key`).
    pub delivery_id: Uuid,
    /// The channel.
    pub channel: Channel,
    /// Email address, phone number or push token.
    pub target: String,
    /// Subject (email) or title (push).
    pub subject: String,
    /// Plain-text body (email), or the short text (SMS, push).
    pub text: String,
    /// HTML body (email only).
    pub html: Option<String>,
    /// The template's name, for logs.
    pub template: String,
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth retrying later (4xx SMTP reply, 5xx/429 HTTP, network trouble).
    Transient(String),
    /// Will never succeed as is (5xx SMTP reply, invalid recipient, 4xx HTTP).
    Permanent(String),
}

impl SendError {
    /// The reason, for the delivery's `last_error` (never a secret).
    pub fn message(&self) -> &str {
        match self {
            Self::Transient(m) | Self::Permanent(m) => m,
        }
    }
}

/// The configured adapters of every channel.
#[derive(Clone)]
pub struct Channels {
    email: Email,
    sms: Sms,
    push: Push,
}

impl Channels {
    /// The adapters `settings` name. Fails when they are misconfigured (an
    /// invalid `from`, an `http` provider without a base URL).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            email: Email::new(&settings.smtp)?,
            sms: Sms::new(&settings.sms)?,
            push: Push::new(&settings.push)?,
        })
    }

    /// Hands `message` to its channel's provider.
    pub async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        match message.channel {
            Channel::Email => self.email.send(message).await,
            Channel::Sms => self.sms.send(message).await,
            Channel::Push => self.push.send(message).await,
        }
    }
}

/// Masks an address for logs: `a***@example.com`, `+33***89`, `tok***`.
pub fn mask(target: &str) -> String {
    if let Some((local, domain)) = target.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    let chars: Vec<char> = target.chars().collect();
    if chars.len() <= 6 {
        return "***".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}***{tail}")
}

fn log_send(message: &Outgoing, provider: &str) {
    // Never the body: a password reset carries its token there.
    tracing::info!(
        delivery_id = %message.delivery_id,
        channel = message.channel.as_str(),
        provider,
        template = %message.template,
        to = %mask(&message.target),
        subject = %message.subject,
        "notification handed to the log provider (not sent)"
    );
}

#[derive(Clone)]
enum Email {
    Log,
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
}

impl Email {
    fn new(settings: &SmtpSettings) -> anyhow::Result<Self> {
        let from = Mailbox::from_str(&settings.from)
            .map_err(|_| anyhow::anyhow!("smtp.from (APP__SMTP__FROM) is not a valid mailbox"))?;
        if settings.host.trim().is_empty() {
            return Ok(Self::Log);
        }
        let host = settings.host.trim();
        let builder = match settings.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|err| anyhow::anyhow!("smtp.host {host:?}: {err}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|err| anyhow::anyhow!("smtp.host {host:?}: {err}"))?,
        };
        let mut builder = builder
            .port(settings.port)
            .timeout(Some(Duration::from_secs(settings.timeout_secs.max(1))));
        if !settings.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                settings.username.clone(),
                settings.password.expose_secret().to_owned(),
            ));
        }
        Ok(Self::Smtp {
            transport: builder.build(),
            from,
        })
    }

    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let (transport, from) = match self {
            Self::Log => {
                log_send(message, "log");
                return Ok(());
            }
            Self::Smtp { transport, from } => (transport, from),
        };
        let to = Mailbox::from_str(&message.target)
            .map_err(|_| SendError::Permanent("the recipient is not a valid address".into()))?;
        let email = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(message.subject.clone())
            .message_id(Some(format!(
                "<{}@notification-service>",
                message.delivery_id
            )))
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone().unwrap_or_default(),
            ))
            .map_err(|err| SendError::Permanent(format!("the message cannot be built: {err}")))?;
        match transport.send(email).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() => Err(SendError::Permanent(format!("SMTP: {err}"))),
            Err(err) => Err(SendError::Transient(format!("SMTP: {err}"))),
        }
    }
}

fn http_client(timeout_secs: u64) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout_secs.max(1)))
        .connect_timeout(Duration::from_secs(timeout_secs.clamp(1, 5)))
        .build()?)
}

/// Classifies a provider's HTTP answer.
fn http_outcome(provider: &str, status: reqwest::StatusCode) -> Result<(), SendError> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Err(SendError::Transient(format!(
            "{provider} answered {status}"
        )))
    } else {
        Err(SendError::Permanent(format!(
            "{provider} answered {status}"
        )))
    }
}

fn transport_error(provider: &str, err: &reqwest::Error) -> SendError {
    // The error's text could carry the URL; it holds no secret (the tokens
    // travel in headers), but keep it short.
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "is unreachable"
    } else {
        "failed"
    };
    SendError::Transient(format!("{provider} {kind}"))
}

#[derive(Clone)]
enum Sms {
    Log,
    Http {
        client: reqwest::Client,
        url: String,
        account_sid: String,
        auth_token: SecretString,
        from: String,
    },
}

impl Sms {
    fn new(settings: &SmsSettings) -> anyhow::Result<Self> {
        match settings.provider {
            ProviderKind::Log => Ok(Self::Log),
            ProviderKind::Http => {
                if settings.base_url.is_empty() || settings.account_sid.is_empty() {
                    anyhow::bail!(
                        "sms.provider = \"http\" needs sms.base_url and sms.account_sid (APP__SMS__BASE_URL, APP__SMS__ACCOUNT_SID)"
                    );
                }
                Ok(Self::Http {
                    client: http_client(settings.timeout_secs)?,
                    url: format!(
                        "{}/2010-04-01/Accounts/{}/Messages.json",
                        settings.base_url.trim_end_matches('/'),
                        settings.account_sid
                    ),
                    account_sid: settings.account_sid.clone(),
                    auth_token: settings.auth_token.clone(),
                    from: settings.from.clone(),
                })
            }
        }
    }

    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let Self::Http {
            client,
            url,
            account_sid,
            auth_token,
            from,
        } = self
        else {
            log_send(message, "log");
            return Ok(());
        };
        let response = client
            .post(url)
            .basic_auth(account_sid, Some(auth_token.expose_secret()))
            .header("Idempotency-Key", message.delivery_id.to_string())
            .form(&[
                ("To", message.target.as_str()),
                ("From", from.as_str()),
                ("Body", message.text.as_str()),
            ])
            .send()
            .await
            .map_err(|err| transport_error("the SMS gateway", &err))?;
        http_outcome("the SMS gateway", response.status())
    }
}

#[derive(Clone)]
enum Push {
    Log,
    Http {
        client: reqwest::Client,
        url: String,
        server_key: SecretString,
    },
}

/// The push gateway's answer (FCM legacy HTTP style).
#[derive(Debug, Deserialize)]
struct PushResponse {
    #[serde(default)]
    failure: u32,
    #[serde(default)]
    results: Vec<PushResult>,
}

#[derive(Debug, Deserialize)]
struct PushResult {
    error: Option<String>,
}

impl Push {
    fn new(settings: &PushSettings) -> anyhow::Result<Self> {
        match settings.provider {
            ProviderKind::Log => Ok(Self::Log),
            ProviderKind::Http => {
                if settings.base_url.is_empty() {
                    anyhow::bail!(
                        "push.provider = \"http\" needs push.base_url (APP__PUSH__BASE_URL)"
                    );
                }
                Ok(Self::Http {
                    client: http_client(settings.timeout_secs)?,
                    url: format!("{}/fcm/send", settings.base_url.trim_end_matches('/')),
                    server_key: settings.server_key.clone(),
                })
            }
        }
    }

    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let Self::Http {
            client,
            url,
            server_key,
        } = self
        else {
            log_send(message, "log");
            return Ok(());
        };
        let body = serde_json::json!({
            "to": message.target,
            "notification": {"title": message.subject, "body": message.text},
            "data": {"delivery_id": message.delivery_id, "template": message.template},
        });
        let response = client
            .post(url)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("key={}", server_key.expose_secret()),
            )
            .header("Idempotency-Key", message.delivery_id.to_string())
            .json(&body)
            .send()
            .await
            .map_err(|err| transport_error("the push gateway", &err))?;
        http_outcome("the push gateway", response.status())?;
        // FCM answers 200 with per-token failures in the body.
        let answer: PushResponse = response.json().await.unwrap_or(PushResponse {
            failure: 0,
            results: Vec::new(),
        });
        if answer.failure > 0 {
            let error = answer
                .results
                .into_iter()
                .find_map(|r| r.error)
                .unwrap_or_else(|| "unknown".to_owned());
            return Err(match error.as_str() {
                "Unavailable" | "InternalServerError" => {
                    SendError::Transient(format!("the push gateway: {error}"))
                }
                _ => SendError::Permanent(format!("the push gateway: {error}")),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_little() {
        assert_eq!(mask("ada@example.com"), "a***@example.com");
        assert_eq!(mask("+33612345689"), "+33***89");
        assert_eq!(mask("abc"), "***");
    }
}
