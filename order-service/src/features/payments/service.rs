//! Webhook rules: the Stripe-style signature, the tolerance window, and
//! applying each event once.

use aws_lc_rs::hmac;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use super::models::WebhookEvent;
use super::repository;

/// The signature header: `t=<unix seconds>,v1=<hex hmac_sha256(secret, "{t}.{body}")>`.
pub const SIGNATURE_HEADER: &str = "payment-signature";

/// Why a webhook is refused (all 400, the detail never shows the secret).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// No or unparsable header.
    #[error("the Payment-Signature header is missing or malformed")]
    Malformed,
    /// Outside the tolerance window.
    #[error("the Payment-Signature timestamp is outside the tolerance window")]
    Stale,
    /// No `v1` signature matches.
    #[error("the Payment-Signature does not match the body")]
    Mismatch,
}

/// The `v1` signature of `body` at `timestamp` (hex).
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret().as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    hex::encode(ctx.sign().as_ref())
}

/// Checks `header` against `body` at time `now` (unix seconds).
pub fn verify(
    secret: &SecretString,
    header: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => {
                if let Ok(bytes) = hex::decode(sig) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(timestamp) > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret().as_bytes());
    let mut message = Vec::with_capacity(body.len() + 12);
    message.extend_from_slice(timestamp.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    // Constant-time comparison inside `verify`.
    if signatures
        .iter()
        .any(|sig| hmac::verify(&key, &message, sig).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Applies a verified event once (a repeated event id is a no-op).
pub async fn apply(
    pool: &PgPool,
    event: &WebhookEvent,
    raw: &serde_json::Value,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let order_id = event.data.order_id;
    let fresh = repository::insert_event(&mut tx, &event.id, &event.kind, order_id, raw).await?;
    if fresh && let Some(order_id) = order_id {
        let state = match event.kind.as_str() {
            "charge.succeeded" => Some("succeeded"),
            "charge.failed" => Some("declined"),
            "charge.refunded" => Some("refunded"),
            _ => None,
        };
        if let Some(state) = state {
            repository::apply_payment_state(
                &mut tx,
                order_id,
                state,
                event.data.provider_ref.as_deref(),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_within_the_window_only() {
        let secret = SecretString::from("whsec_test");
        let body = br#"{"id":"evt_1"}"#;
        let header = format!("t=1000,v1={}", sign(&secret, 1000, body));
        assert_eq!(verify(&secret, Some(&header), body, 1100, 300), Ok(()));
        assert_eq!(
            verify(&secret, Some(&header), body, 1400, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&secret, Some(&header), b"{}", 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&SecretString::from("other"), Some(&header), body, 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secret, Some("v1=00"), body, 1000, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&secret, None, body, 1000, 300),
            Err(SignatureError::Malformed)
        );
    }
}
